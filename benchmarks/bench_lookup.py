"""LookupEvents at the documented limit: event rate vs the limit's, several regions at once.

The local endpoint of ``tests/fake_aws`` enforces 2 requests per second per region (sliding
one-second window) and answers 50 events a page. The limit's event rate is therefore
``2 × 50 × regions`` events per second; torinvest's paced, concurrent pull should reach ≥ 90 % of
it with no throttled page.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.__main__ import Figure

TARGET_VS_LIMIT = 0.9
DEFAULT_REGIONS = ("us-west-1", "us-west-2", "eu-north-1", "sa-east-1")
RATE = 2.0
PAGE = 50
KEY = "AKIAEXAMPLEBENCH0001"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("lookup")
    group.add_argument("--lookup-pages", type=int, default=20, help="pages per region")


def _records(region: str, n: int) -> list[dict]:
    start = pd.Timestamp("2023-07-10T00:00:00Z")
    return [
        {
            "eventVersion": "1.08",
            "eventID": f"{region}-{i:06d}",
            "eventTime": (start + pd.Timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventName": "ListBuckets",
            "eventSource": "s3.amazonaws.com",
            "awsRegion": region,
            "sourceIPAddress": "185.220.101.34",
            "userAgent": "aws-cli/2.13.0",
            "readOnly": True,
            "eventType": "AwsApiCall",
            "userIdentity": {
                "type": "IAMUser",
                "accessKeyId": KEY,
                "userName": "bench",
                "accountId": "123456789012",
            },
        }
        for i in range(n)
    ]


def run(args: argparse.Namespace) -> list[Figure]:
    from moto.server import ThreadedMotoServer

    from tests.fake_aws import FakeAws
    from torinvest.aws import Aws, AwsConfig
    from torinvest.sources import lookup as lk

    regions = list(DEFAULT_REGIONS)
    pages = args.lookup_pages
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    saved = {
        k: os.environ.get(k) for k in [*env, "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDTRAIL"]
    }
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        with FakeAws() as fake, tempfile.TemporaryDirectory() as tmp:
            host, port = moto.get_host_and_port()
            os.environ.update(env)
            os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
            os.environ["AWS_ENDPOINT_URL_CLOUDTRAIL"] = fake.url
            fake.set_lookup_rate(RATE)
            for r in regions:
                fake.cloudtrail(r).add_records(_records(r, pages * PAGE))
            started = time.perf_counter()
            result = lk.lookup_events(
                Aws(AwsConfig(max_workers=len(regions) + 1)),
                KEY,
                start=pd.Timestamp("2023-07-09T00:00:00Z"),
                end=pd.Timestamp("2023-07-11T00:00:00Z"),
                regions=regions,
                follow_derived=False,
                cache_dir=Path(tmp),
                now=pd.Timestamp("2023-07-12T00:00:00Z"),
            )
            elapsed = time.perf_counter() - started
            failed = [c for c in fake.calls("LookupEvents") if c.status != 200]
    finally:
        moto.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    events = len(result.frame)
    # The limit allows RATE pages per second per region; us-east-1 (always searched) adds one
    # empty page, so the limit's time is set by the busiest region's pages.
    limit_seconds = (pages - 1) / RATE
    limit_rate = events / limit_seconds if limit_seconds else float("inf")
    return [
        Figure(
            f"lookup {len(regions)} regions × {pages} pages",
            events / elapsed,
            "ev/s",
            baseline_name="2 req/s limit",
            baseline=limit_rate,
            target=TARGET_VS_LIMIT,
            note=f"{events} events in {elapsed:.1f} s; throttled or failed pages: {len(failed)}; "
            f"issues: {len(result.issues)}",
        ),
        Figure(
            "lookup failed pages",
            float(len(failed) + len(result.issues)),
            "pages",
            baseline_name="zero",
            baseline=None,
        ),
    ]
