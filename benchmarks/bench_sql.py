"""The SQL engines: DuckDB against the file loader on the same files, and what the date partition
saves.

On the generated log files of ``bench_logs`` (``.bench-data``, ``--events``/``--files``/``--seed``):

- ``load``: :func:`torinvest.sources.sql.load_sql` with :class:`~torinvest.sources.sql.DuckDBEngine`
  against :func:`torinvest.sources.logs.load_logs`, every event and then the target key's; the
  rows must be the same (count and event IDs), the figure is the time ratio;
- ``per IP``: :func:`~torinvest.sources.sql.per_ip_sql` (GROUP BY in DuckDB, nothing loaded)
  against ``load_logs`` + :func:`torinvest.analysis.per_ip` for the target key.

On a second data set spread over ``--sql-days`` days (generated once, cached beside the first):

- ``scan``: the compressed bytes a 1-day-window query reads (the day ±1, as the date partition
  predicate of the Athena queries and the DuckDB engine's file list select them) against a scan of
  every day; Athena bills these bytes (10 MB minimum). The 1-day DuckDB query's time against a
  full scan's is reported beside it.

Each variant runs ``--sql-repeat`` times, taking turns; the best time counts.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.__main__ import Figure
from benchmarks.gen import (
    DEFAULT_EVENTS,
    DEFAULT_FILES,
    DEFAULT_SEED,
    START,
    Manifest,
    generate,
)

#: The multi-day data set for the scan figure. The cache is named by events, files and seed
#: only, so the seed encodes the days too.
SCAN_EVENTS = 60_000
SCAN_FILES = 140
SCAN_SEED = 1400
DEFAULT_SCAN_DAYS = 14
#: The 1-day window reads the day ±1 (3 days): it must read at most this share of a full scan.
TARGET_SCAN_SHARE = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sql")
    group.add_argument("--sql-repeat", type=int, default=3, help="runs per SQL variant")
    group.add_argument(
        "--sql-days", type=int, default=DEFAULT_SCAN_DAYS, help="days of the scan data set"
    )


def _best(fn: Callable[[], dict[str, Any]], runs: list[dict[str, Any]]) -> None:
    started = time.perf_counter()
    out = fn()
    out["seconds"] = time.perf_counter() - started
    runs.append(out)


def _signature(frame: pd.DataFrame) -> tuple[int, int]:
    """Rows and an order-free checksum of their event IDs."""
    ids = frame["event_id"].astype("string")
    return len(frame), int(pd.util.hash_pandas_object(ids, index=False).sum())


def _file_loader(root: Path, key: str | None) -> dict[str, Any]:
    from torinvest.sources.logs import load_logs

    frame = load_logs(root, access_keys=key, progress=False).frame
    return {"signature": _signature(frame)}


def _duckdb(root: Path, key: str | None) -> dict[str, Any]:
    from torinvest.sources.sql import DuckDBEngine, load_sql

    with DuckDBEngine(root) as engine:
        frame = load_sql(engine, access_keys=key).frame
    return {"signature": _signature(frame)}


def _per_ip_loaded(root: Path, key: str) -> dict[str, Any]:
    from torinvest.analysis import per_ip
    from torinvest.sources.logs import load_logs

    table = per_ip(load_logs(root, access_keys=key, progress=False).frame)
    return {"ips": len(table), "events": int(table["events"].sum())}


def _per_ip_engine(root: Path, key: str) -> dict[str, Any]:
    from torinvest.sources.sql import DuckDBEngine, per_ip_sql

    with DuckDBEngine(root) as engine:
        table = per_ip_sql(engine, access_keys=key).frame
    return {"ips": len(table), "events": int(table["events"].sum())}


def _counts(run: dict[str, Any]) -> tuple[int, int]:
    return run["ips"], run["events"]


def measure(
    variants: dict[str, Callable[[], dict[str, Any]]], repeat: int
) -> dict[str, dict[str, Any]]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, fn in variants.items():
            _best(fn, runs[name])
    best = {}
    for name, rs in runs.items():
        b = dict(min(rs, key=lambda r: r["seconds"]))
        b["all_seconds"] = [round(r["seconds"], 2) for r in rs]
        print(f"   {name:18s} {b}", flush=True)
        best[name] = b
    return best


def _scan(m: Manifest, repeat: int) -> dict[str, Any]:
    """Bytes (and DuckDB time) of a 1-day window query against a scan of every day."""
    from torinvest.sources.sql import DuckDBEngine, load_sql, make_scope

    root = Path(m.root) / "AWSLogs"
    day = pd.Timestamp(START) + pd.Timedelta(days=m.days // 2)
    window = {"start": day, "end": day + timedelta(days=1) - timedelta(microseconds=1)}
    with DuckDBEngine(root) as engine:
        all_files = engine.files(make_scope())
        day_files = engine.files(make_scope(**window))
        timed = measure(
            {
                "scan: every day": lambda: {"rows": len(load_sql(engine).frame)},
                "scan: 1-day window": lambda: {"rows": len(load_sql(engine, **window).frame)},
            },
            repeat,
        )
    return {
        "all_bytes": sum(all_files.sizes),
        "day_bytes": sum(day_files.sizes),
        "all_files": len(all_files.paths),
        "day_files": len(day_files.paths),
        "timed": timed,
    }


def run(args: argparse.Namespace) -> list[Figure]:
    m = generate(
        events=getattr(args, "events", DEFAULT_EVENTS),
        files=getattr(args, "files", DEFAULT_FILES),
        seed=getattr(args, "seed", DEFAULT_SEED),
    )
    root, key, repeat = Path(m.root) / "AWSLogs", m.target_key, args.sql_repeat
    print(f"   data: {m.events:,} events in {m.files} files; {m.root}", flush=True)
    r = measure(
        {
            "files: every event": lambda: _file_loader(root, None),
            "duckdb: every event": lambda: _duckdb(root, None),
            "files: key": lambda: _file_loader(root, key),
            "duckdb: key": lambda: _duckdb(root, key),
            "files+per_ip: key": lambda: _per_ip_loaded(root, key),
            "per_ip_sql: key": lambda: _per_ip_engine(root, key),
        },
        repeat,
    )
    for a, b in (("every event", "every event"), ("key", "key")):
        if r[f"files: {a}"]["signature"] != r[f"duckdb: {b}"]["signature"]:
            raise RuntimeError(f"duckdb and the file loader disagree ({a})")
    if _counts(r["files+per_ip: key"]) != _counts(r["per_ip_sql: key"]):
        raise RuntimeError("per_ip_sql and per_ip disagree")

    scan_set = generate(events=SCAN_EVENTS, files=SCAN_FILES, seed=SCAN_SEED, days=args.sql_days)
    print(f"   scan data: {scan_set.events:,} events over {scan_set.days} days", flush=True)
    s = _scan(scan_set, repeat)
    rows = r["files: every event"]["signature"][0]
    key_rows = r["files: key"]["signature"][0]
    return [
        Figure(
            "sql: DuckDB engine, every event",
            r["duckdb: every event"]["seconds"],
            "s",
            "file loader",
            r["files: every event"]["seconds"],
            higher_is_better=False,
            note=f"same {rows:,} rows (event ID checksum); ratio = DuckDB time / loader time",
        ),
        Figure(
            "sql: DuckDB engine, target key",
            r["duckdb: key"]["seconds"],
            "s",
            "file loader",
            r["files: key"]["seconds"],
            higher_is_better=False,
            note=f"same {key_rows:,} rows; every file holds the key, so neither skips a file",
        ),
        Figure(
            "sql: per-IP summary in DuckDB (per_ip_sql)",
            r["per_ip_sql: key"]["seconds"],
            "s",
            "load_logs + per_ip",
            r["files+per_ip: key"]["seconds"],
            higher_is_better=False,
            note=f"same {r['per_ip_sql: key']['ips']:,} IPs and counts",
        ),
        Figure(
            "sql: bytes read, 1-day window (date partition)",
            s["day_bytes"] / 1e6,
            "MB",
            "every day",
            s["all_bytes"] / 1e6,
            TARGET_SCAN_SHARE,
            higher_is_better=False,
            note=f"{s['day_files']} of {s['all_files']} files (the day ±1 of {args.sql_days}); "
            f"DuckDB time {s['timed']['scan: 1-day window']['seconds']:.2f} s vs "
            f"{s['timed']['scan: every day']['seconds']:.2f} s for every day",
        ),
    ]
