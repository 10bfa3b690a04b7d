"""LookupEvents at the documented limit: event rate vs the limit's, several regions at once.

The endpoint (``benchmarks.endpoint``, tests/fake_aws in a process of its own) admits 2
requests per region per sliding second, counted by the time each request *arrives*, answers 50
events a page, and answers each request a set latency after it arrived: 5 ms, 100 ms and
300 ms (``--lookup-latencies``). The limit's event rate is ``events / ((pages − 1) / 2)`` for
the busiest region (its first request at once, then one every half second); torinvest's paced,
concurrent pull should reach ≥ 90 % of it in every run, with no throttled request:

- ``lookup``: :func:`torinvest.sources.lookup.lookup_events` in this process, 4 regions ×
  ``--lookup-pages`` pages (the clock runs from the call to the frame);
- ``cli``: ``torinvest events --lookup … --out FILE.parquet`` end to end, ``--lookup-cli-events``
  events over 4 regions (the clock runs from the process's start to its exit, the file written,
  the page cache on).

Each latency runs ``--lookup-repeat`` times (a fresh endpoint each run). Besides the ratios, the
margin the server saw: the smallest gap between a request and the one two before it in a
region, less the 1-second window (a negative one would be a throttled request).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.__main__ import Figure

TARGET_VS_LIMIT = 0.9
DEFAULT_REGIONS = ("us-west-1", "us-west-2", "eu-north-1", "sa-east-1")
RATE = 2.0
PAGE = 50
LATENCIES = (0.005, 0.1, 0.3)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("lookup")
    group.add_argument("--lookup-pages", type=int, default=30, help="pages per region (in-process)")
    group.add_argument(
        "--lookup-cli-events", type=int, default=10_000, help="events over 4 regions (CLI)"
    )
    group.add_argument("--lookup-repeat", type=int, default=3, help="runs per latency")
    group.add_argument(
        "--lookup-latencies",
        default=",".join(str(x) for x in LATENCIES),
        help="endpoint latencies in seconds, comma-separated",
    )


class Endpoint:
    """``benchmarks.endpoint`` in a child process (fresh state), as a context manager."""

    def __init__(self, regions: Sequence[str], pages: int, latency: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.endpoint",
                "--regions",
                ",".join(regions),
                "--pages",
                str(pages),
                "--latency",
                str(latency),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("benchmarks.endpoint did not start")
        self.info: dict[str, Any] = json.loads(line)

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.info["moto"],
            "AWS_ENDPOINT_URL_CLOUDTRAIL": self.info["cloudtrail"],
        }

    def calls(self) -> list[tuple[str, int, float]]:
        """The LookupEvents requests the endpoint saw (region, status, arrival)."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("log\n")
        self.proc.stdin.flush()
        return [tuple(c) for c in json.loads(self.proc.stdout.readline())]

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()


def server_margin(calls: Sequence[tuple[str, int, float]]) -> float:
    """The smallest gap between a request and the one 2 before it in a region, less 1 s."""
    gaps = []
    for region in {c[0] for c in calls}:
        at = sorted(c[2] for c in calls if c[0] == region)
        gaps += [b - a - 1.0 for a, b in zip(at, at[2:], strict=False)]
    return min(gaps, default=float("inf"))


def run_inprocess(regions: Sequence[str], pages: int, latency: float) -> dict[str, Any]:
    import pandas as pd

    from torinvest.aws import Aws, AwsConfig
    from torinvest.sources import lookup as lk
    from torinvest.sources.lookup import pacer as lk_pacer

    with Endpoint(regions, pages, latency) as endpoint, tempfile.TemporaryDirectory() as tmp:
        saved = {k: os.environ.get(k) for k in endpoint.env()}
        os.environ.update(endpoint.env())
        try:
            lk_pacer._PACERS.clear()  # a fresh pacer per run, as in a fresh process
            started = time.perf_counter()
            result = lk.lookup_events(
                Aws(AwsConfig(max_workers=len(regions) + 1)),
                endpoint.info["key"],
                start=pd.Timestamp(endpoint.info["start"]) - pd.Timedelta(hours=1),
                end=pd.Timestamp(endpoint.info["end"]),
                regions=list(regions),
                follow_derived=False,
                cache_dir=Path(tmp),
            )
            elapsed = time.perf_counter() - started
            margins = [m for p in lk_pacer._PACERS.values() for m in p.margins]
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        calls = endpoint.calls()
    return {
        "events": len(result.frame),
        "seconds": elapsed,
        "throttled": sum(1 for c in calls if c[1] != 200) + len(result.issues),
        "server_margin": server_margin(calls),
        "pacer_margin": statistics.median(margins) if margins else 0.0,
    }


def run_cli(regions: Sequence[str], pages: int, latency: float) -> dict[str, Any]:
    cli = Path(sys.executable).with_name("torinvest")
    with Endpoint(regions, pages, latency) as endpoint, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "events.parquet"
        env = {**os.environ, **endpoint.env(), "TORINVEST_CACHE": str(Path(tmp) / "cache")}
        command = [
            str(cli),
            "events",
            "--lookup",
            "--regions",
            ",".join(regions),
            "--access-key",
            endpoint.info["key"],
            "--start",
            endpoint.info["start"][:10],
            "--end",
            endpoint.info["end"][:19],
            "--out",
            str(out),
        ]
        started = time.perf_counter()
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"torinvest events --lookup failed:\n{proc.stderr}")
        import pyarrow.parquet as pq

        events = pq.read_metadata(out).num_rows
        calls = endpoint.calls()
    return {
        "events": events,
        "seconds": elapsed,
        "throttled": sum(1 for c in calls if c[1] != 200) + proc.stderr.count("issue:"),
        "server_margin": server_margin(calls),
    }


def _figure(
    name: str, runs: list[dict[str, Any]], pages: int, latency: float, extra: str = ""
) -> Figure:
    limit_seconds = (pages - 1) / RATE  # the busiest region's pages at the limit
    # a run with a throttled (or failed) request is a missed run, whatever its speed
    ratios = tuple(0.0 if r["throttled"] else limit_seconds / r["seconds"] for r in runs)
    middle = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    throttled = sum(r["throttled"] for r in runs)
    margin = min(r["server_margin"] for r in runs)
    return Figure(
        f"{name}, {latency * 1000:.0f} ms endpoint",
        middle["events"] / middle["seconds"],
        "ev/s",
        baseline_name="2 req/s limit",
        baseline=middle["events"] / limit_seconds,
        target=TARGET_VS_LIMIT,
        note=(
            f"{middle['events']:,} events in {middle['seconds']:.1f} s (limit {limit_seconds:.1f}"
            f" s); throttled or failed requests over {len(runs)} runs: {throttled}; smallest "
            f"margin the server saw: {margin * 1000:.1f} ms{extra}"
        ),
        runs=ratios,
    )


def run(args: argparse.Namespace) -> list[Figure]:
    regions = list(DEFAULT_REGIONS)
    latencies = [float(x) for x in args.lookup_latencies.split(",") if x]
    cli_pages = max(2, round(args.lookup_cli_events / len(regions) / PAGE))
    figures: list[Figure] = []
    for latency in latencies:
        inproc, cli = [], []
        for n in range(args.lookup_repeat):
            inproc.append(run_inprocess(regions, args.lookup_pages, latency))
            cli.append(run_cli(regions, cli_pages, latency))
            print(
                f"   {latency * 1000:.0f} ms run {n + 1}: in-process "
                f"{inproc[-1]['seconds']:.2f} s, cli {cli[-1]['seconds']:.2f} s",
                flush=True,
            )
        pacer = statistics.median(r["pacer_margin"] for r in inproc)
        figures.append(
            _figure(
                f"lookup {len(regions)} regions x {args.lookup_pages} pages",
                inproc,
                args.lookup_pages,
                latency,
                f"; pacer's median measured margin {pacer * 1000:.1f} ms",
            )
        )
        figures.append(
            _figure(
                f"lookup CLI end to end, {cli_pages * PAGE * len(regions):,} events",
                cli,
                cli_pages,
                latency,
            )
        )
    return figures
