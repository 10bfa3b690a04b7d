"""``python -m benchmarks.endpoint``: the local AWS endpoints of the LookupEvents benchmark, in a
process of their own (so that serving does not take the measured client's CPU or GIL).

Starts tests/fake_aws (LookupEvents at 2 requests per sliding second per region, counted by
arrival, each answered ``--latency`` seconds after it arrived) and moto (STS for the account),
stores ``--pages`` pages of records of one key in each of ``--regions``, and prints one JSON line:
``{"cloudtrail": URL, "moto": URL, "key": KEY, "start": ISO, "end": ISO}``. Then each line read
on stdin is a command: ``log`` prints the LookupEvents requests seen so far as a JSON line
(``[[region, status, arrival], …]``, arrivals on the monotonic clock) and forgets them; end of
input stops both endpoints.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

KEY = "AKIAEXAMPLEBENCH0001"
PAGE = 50


def records(region: str, n: int, start: datetime) -> list[dict[str, Any]]:
    """``n`` records of :data:`KEY` in ``region``, one a second from ``start``."""
    return [
        {
            "eventVersion": "1.08",
            "eventID": f"{region}-{i:06d}",
            "eventTime": (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventName": "ListBuckets",
            "eventSource": "s3.amazonaws.com",
            "awsRegion": region,
            "sourceIPAddress": "185.220.101.34",
            "userAgent": "aws-cli/2.13.0",
            "readOnly": True,
            "eventType": "AwsApiCall",
            "requestParameters": {"Host": f"bench-{i % 7}.s3.amazonaws.com"},
            "userIdentity": {
                "type": "IAMUser",
                "accessKeyId": KEY,
                "userName": "bench",
                "accountId": "123456789012",
                "principalId": "AIDAEXAMPLEBENCH0001",
                "arn": "arn:aws:iam::123456789012:user/bench",
            },
        }
        for i in range(n)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.endpoint", description=__doc__)
    parser.add_argument("--regions", required=True, help="comma-separated")
    parser.add_argument("--pages", type=int, required=True, help="pages per region")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds")
    parser.add_argument("--rate", type=float, default=2.0, help="requests per second per region")
    args = parser.parse_args(argv)

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr

    from tests.fake_aws import FakeAws

    # recent events: the CLI asks LookupEvents with the real clock (90 days at most)
    start = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        with FakeAws() as fake:
            fake.set_lookup_rate(args.rate)
            fake.set_lookup_latency(args.latency)
            for region in args.regions.split(","):
                fake.cloudtrail(region).add_records(records(region, args.pages * PAGE, start))
            host, port = moto.get_host_and_port()
            end = start + timedelta(hours=12)
            print(
                json.dumps(
                    {
                        "cloudtrail": fake.url,
                        "moto": f"http://{host}:{port}",
                        "key": KEY,
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                    }
                ),
                flush=True,
            )
            for line in sys.stdin:
                if line.strip() == "log":
                    calls = [[c.region, c.status, c.at] for c in fake.calls("LookupEvents")]
                    fake.clear_requests()
                    print(json.dumps(calls), flush=True)
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
