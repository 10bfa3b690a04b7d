"""Loading CloudTrail log files: torinvest against gzip alone and DuckDB, on the same files.

Each variant runs in a fresh Python process (so memory is its own). A warm-up round (the page
cache, the generated data) is run and dropped, then ``--repeat`` rounds (default 3) in which
the variants run in turn and then again in reverse order (A B C C B A); each variant's time in a
round is the mean of its two runs, so that a machine whose speed drifts during the round (a
shared host) weighs on every variant alike. Each figure's ratio is computed within a round
(value and baseline side by side); the table prints the median and the worst round, and a
target passes only when the worst does.
Peak memory is the loading process's peak RSS less that of a process that only imported the
same modules; worker processes' peaks are reported beside it.

Variants:

- ``gzip``: every file inflated with Python's gzip module, one process;
- ``gzipN``: the same in as many processes as the loader uses (its default: one per core),
  the files handed out in small chunks — the physical floor of a loader that reads everything;
- ``duckdb``: DuckDB ``read_json_objects`` + ``json_transform`` to the frame's fields →
  Arrow → pandas, DuckDB's own threads (its fastest formulation found; plain ``read_json`` of
  these files is about 10x slower);
- ``full``: :func:`torinvest.sources.logs.load_logs` into the events frame (dedupe, sort,
  categoricals), no window (what issue #16's targets measure);
- ``window``: the same given the data set's days as its window, as an investigation is: the
  files are then compared with the trail's digest files (the days' digests read, each log
  file's SHA-256 checked against the digest's ``hashValue``), as on a real trail with log file
  validation — its ratio to ``full`` is what that check costs;
- ``key``: the same, filtered to the target access key (about 2 % of the events).

The same full load, DuckDB and gzipN are also run on many small files (``--small-files`` files
of a few records each, as an account with little activity writes them: a fixed cost per file
matters there).

Targets: full ≥ 1.5× DuckDB's rate and ≥ 0.5× gzipN's (also on the small files); full's peak
memory ≤ 3× the frame's ``memory_usage(deep=True)``; key ≥ 0.5× the gzip rate. ``window``
has no target: its ratio to ``full`` says what the digest comparison costs.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.__main__ import Figure, peak_rss_mb, run_child
from benchmarks.gen import DEFAULT_EVENTS, DEFAULT_FILES, DEFAULT_SEED, Manifest, generate, window

VARIANTS = ("gzip", "gzipN", "duckdb", "full", "window", "key")
SMALL_VARIANTS = ("gzipN", "duckdb", "full", "window")
LOG_GLOB = "AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"
TARGET_FULL_VS_DUCKDB = 1.5
TARGET_FULL_VS_GZIP_N = 0.5
TARGET_PEAK_VS_FRAME = 3.0
TARGET_KEY_VS_GZIP = 0.5
#: The small-files data set: few records per file (the seed keeps its cache apart).
SMALL_EVENTS = 40_000
SMALL_FILES = 2_000
SMALL_SEED = 2_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logs")
    group.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="events to generate")
    group.add_argument("--files", type=int, default=DEFAULT_FILES, help="log files to generate")
    group.add_argument("--seed", type=int, default=DEFAULT_SEED)
    group.add_argument("--repeat", type=int, default=3, help="measured rounds (after a warm-up)")
    group.add_argument(
        "--small-files", type=int, default=SMALL_FILES, help="files of the small-files set"
    )


# --------------------------------------------------------------------------------------------
# variants (run in a child process)
# --------------------------------------------------------------------------------------------
def _imports() -> None:
    import duckdb  # noqa: F401
    import orjson  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    import torinvest.sources.logs  # noqa: F401


def _files(root: Path) -> list[Path]:
    return sorted(root.glob(LOG_GLOB))


def _inflate(path: str) -> int:
    import gzip

    return len(gzip.decompress(Path(path).read_bytes()))


def variant_gzip(root: Path, m: Manifest) -> dict[str, Any]:
    files = [str(f) for f in _files(root)]
    started = time.perf_counter()
    size = sum(map(_inflate, files))
    return {"seconds": time.perf_counter() - started, "rows": m.events, "bytes": size}


def variant_gzipN(root: Path, m: Manifest) -> dict[str, Any]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from torinvest.sources.logs import default_workers

    files = [str(f) for f in _files(root)]
    workers = default_workers()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        list(pool.map(int, range(workers)))  # the workers are started before the clock
        started = time.perf_counter()
        chunk = max(1, len(files) // (workers * 16))
        size = sum(pool.map(_inflate, files, chunksize=chunk))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": m.events, "bytes": size, "processes": workers}


DUCKDB_FIELDS = {
    "eventTime": "VARCHAR",
    "eventID": "VARCHAR",
    "eventName": "VARCHAR",
    "eventSource": "VARCHAR",
    "awsRegion": "VARCHAR",
    "sourceIPAddress": "VARCHAR",
    "userAgent": "VARCHAR",
    "errorCode": "VARCHAR",
    "errorMessage": "VARCHAR",
    "readOnly": "BOOLEAN",
    "eventType": "VARCHAR",
    "recipientAccountId": "VARCHAR",
    "userIdentity": {
        "type": "VARCHAR",
        "principalId": "VARCHAR",
        "arn": "VARCHAR",
        "accountId": "VARCHAR",
        "accessKeyId": "VARCHAR",
        "userName": "VARCHAR",
        "sessionContext": {
            "sessionIssuer": {"arn": "VARCHAR"},
            "attributes": {"mfaAuthenticated": "VARCHAR"},
        },
    },
    "requestParameters": "JSON",
    "responseElements": "JSON",
}


def duckdb_query(glob: str) -> str:
    structure = json.dumps({"Records": [DUCKDB_FIELDS]})
    return f"""
    SELECT r.eventTime::TIMESTAMPTZ AS event_time, r.eventID AS event_id,
      r.eventName AS event_name, r.eventSource AS event_source, r.awsRegion AS aws_region,
      r.sourceIPAddress AS source_ip, r.userAgent AS user_agent, r.errorCode AS error_code,
      r.errorMessage AS error_message, r.readOnly AS read_only, r.eventType AS event_type,
      r.userIdentity.accessKeyId AS access_key_id, r.userIdentity.principalId AS principal_id,
      r.userIdentity.type AS user_type, r.userIdentity.userName AS user_name,
      r.userIdentity.arn AS arn, r.userIdentity.accountId AS account_id,
      r.recipientAccountId AS recipient_account_id,
      r.userIdentity.sessionContext.sessionIssuer.arn AS session_issuer_arn,
      r.userIdentity.sessionContext.attributes.mfaAuthenticated AS mfa_authenticated,
      r.requestParameters AS request_parameters, r.responseElements AS response_elements
    FROM (SELECT unnest(json_transform(json, '{structure}').Records) AS r
          FROM read_json_objects('{glob}', maximum_object_size=1073741824))
    """


def variant_duckdb(root: Path, m: Manifest) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order=false")
    started = time.perf_counter()
    result = con.sql(duckdb_query(str(root / LOG_GLOB))).arrow()
    table = result.read_all() if hasattr(result, "read_all") else result
    frame = table.to_pandas()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": len(frame),
        "frame_mb": frame.memory_usage(deep=True).sum() / 1e6,
    }


def _load(root: Path, m: Manifest, keys: str | None, windowed: bool = False) -> dict[str, Any]:
    from torinvest.sources.logs import load_logs

    start, end = window(m) if windowed else (None, None)
    # the trail's regions named (as an analyst who knows them would): offline, a copy read for
    # every region is judged by all the partition's default regions, and this one logs two
    regions = list(m.regions) if windowed else None
    started = time.perf_counter()
    result = load_logs(
        root / "AWSLogs", access_keys=keys, start=start, end=end, regions=regions, progress=False
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": len(result.frame),
        "frame_mb": result.frame.memory_usage(deep=True).sum() / 1e6,
        "files_read": result.files_read,
        "issues": len(result.issues),
    }


def variant_full(root: Path, m: Manifest) -> dict[str, Any]:
    return _load(root, m, None)


def variant_window(root: Path, m: Manifest) -> dict[str, Any]:
    out = _load(root, m, None, windowed=True)
    if out["issues"]:  # the data is whole: an issue means another path was measured
        raise SystemExit(f"the windowed load of {root} gave {out['issues']} issue(s)")
    return out


def variant_key(root: Path, m: Manifest) -> dict[str, Any]:
    return _load(root, m, m.target_key)


def child(variant: str, manifest_path: Path) -> None:
    m = Manifest(**json.loads(manifest_path.read_text()))
    _imports()
    out: dict[str, Any] = {}
    if variant != "imports":
        out = globals()[f"variant_{variant}"](Path(m.root), m)
    out["rss_mb"] = peak_rss_mb()
    out["workers_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(out))


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------
def _child(variant: str, manifest: Manifest) -> dict[str, Any]:
    return run_child("benchmarks.bench_logs", variant, manifest.root)


def measure(
    sets: Sequence[tuple[Manifest, Sequence[str]]], repeat: int
) -> list[list[dict[str, dict[str, Any]]]]:
    """For each data set, ``repeat`` rounds of its variants, each run in a fresh process: in
    each round every variant of every set runs once, in turn (after one warm-up round that is
    dropped). Returns, per set, the rounds (variant → that run's result)."""
    for manifest, variants in sets:  # warm-up: the page cache, first-run costs
        for v in variants:
            _child(v, manifest)
    rounds: list[list[dict[str, dict[str, Any]]]] = [[] for _ in sets]
    for n in range(repeat):
        for i, (manifest, variants) in enumerate(sets):
            there = [(v, _child(v, manifest)) for v in variants]
            back = [(v, _child(v, manifest)) for v in reversed(variants)]
            runs = {v: _paired(r, dict(back)[v]) for v, r in there}
            rounds[i].append(runs)
            shown = {v: round(r.get("seconds", 0), 2) for v, r in runs.items()}
            print(f"   round {n + 1} {Path(manifest.root).name}: seconds {shown}", flush=True)
    return rounds


def _paired(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One variant's result in a round from its two runs (the variants run in turn, then in
    reverse order: a machine that slows down or speeds up during the round weighs on every
    variant alike): the mean of the two times, the higher of the two peaks of memory."""
    out = dict(first)
    if "seconds" in first:
        out["seconds"] = (first["seconds"] + second["seconds"]) / 2
    for k in ("rss_mb", "workers_rss_mb"):
        if k in first:
            out[k] = max(first[k], second[k])
    return out


def _rates(runs: dict[str, dict[str, Any]], m: Manifest) -> dict[str, float]:
    """Events per second of each variant of one round (key: events scanned)."""
    return {v: m.events / r["seconds"] for v, r in runs.items()}


def run(args: argparse.Namespace) -> list[Figure]:
    m = generate(events=args.events, files=args.files, seed=args.seed)
    small = generate(events=SMALL_EVENTS, files=args.small_files, seed=SMALL_SEED)
    for d in (m, small):
        print(
            f"   data: {d.events:,} events in {d.files:,} files, {d.bytes_gz / 1e6:.0f} MB gzip "
            f"({d.bytes_json / 1e6:.0f} MB JSON), target key {d.target_key}: "
            f"{d.target_events:,} events; {d.root}",
            flush=True,
        )
    base_rss = _child("imports", m)["rss_mb"]
    big_rounds, small_rounds = measure([(m, VARIANTS), (small, SMALL_VARIANTS)], args.repeat)
    rates = [_rates(r, m) for r in big_rounds]
    small_rates = [_rates(r, small) for r in small_rounds]
    workers = big_rounds[0]["gzipN"].get("processes", 0)

    def ratios(rs: list[dict[str, float]], value: str, base: str) -> tuple[float, ...]:
        return tuple(r[value] / r[base] for r in rs)

    def mid(rs: list[dict[str, float]], name: str) -> float:
        return sorted(r[name] for r in rs)[(len(rs) - 1) // 2]

    peaks = tuple((r["full"]["rss_mb"] - base_rss) / r["full"]["frame_mb"] for r in big_rounds)
    middle = sorted(big_rounds, key=lambda r: r["full"]["seconds"])[(len(big_rounds) - 1) // 2]
    return [
        Figure("logs: gzip inflate, 1 process", mid(rates, "gzip"), "ev/s"),
        Figure(f"logs: gzip inflate, {workers} processes", mid(rates, "gzipN"), "ev/s"),
        Figure("logs: DuckDB read_json_objects -> pandas", mid(rates, "duckdb"), "ev/s"),
        Figure(
            "logs: full load (events frame)",
            mid(rates, "full"),
            "ev/s",
            "DuckDB",
            mid(rates, "duckdb"),
            TARGET_FULL_VS_DUCKDB,
            runs=ratios(rates, "full", "duckdb"),
        ),
        Figure(
            f"logs: full load vs gzip in {workers} processes",
            mid(rates, "full"),
            "ev/s",
            f"gzip x{workers}",
            mid(rates, "gzipN"),
            TARGET_FULL_VS_GZIP_N,
            runs=ratios(rates, "full", "gzipN"),
        ),
        Figure(
            "logs: full load with the window (digests compared, SHA-256 checked)",
            mid(rates, "window"),
            "ev/s",
            "full load",
            mid(rates, "full"),
            note="what an investigation's load pays for a trail with log file validation",
            runs=ratios(rates, "window", "full"),
        ),
        Figure(
            "logs: full load, peak memory",
            middle["full"]["rss_mb"] - base_rss,
            "MB",
            "frame",
            middle["full"]["frame_mb"],
            TARGET_PEAK_VS_FRAME,
            higher_is_better=False,
            note=(
                f"loading process {middle['full']['rss_mb']:.0f} MB - imports {base_rss:.0f} MB; "
                f"largest worker {middle['full']['workers_rss_mb']:.0f} MB; "
                f"DuckDB process {middle['duckdb']['rss_mb'] - base_rss:.0f} MB over imports"
            ),
            runs=peaks,
        ),
        Figure(
            "logs: key-filtered load (events scanned)",
            mid(rates, "key"),
            "ev/s",
            "gzip",
            mid(rates, "gzip"),
            TARGET_KEY_VS_GZIP,
            note=f"{middle['key']['rows']:,} rows for the target key",
            runs=ratios(rates, "key", "gzip"),
        ),
        Figure(
            f"logs: {small.files:,} small files, full load",
            mid(small_rates, "full"),
            "ev/s",
            "DuckDB",
            mid(small_rates, "duckdb"),
            TARGET_FULL_VS_DUCKDB,
            note=f"{small.events // small.files} records a file",
            runs=ratios(small_rates, "full", "duckdb"),
        ),
        Figure(
            f"logs: {small.files:,} small files, with the window (digests compared)",
            mid(small_rates, "window"),
            "ev/s",
            "full load",
            mid(small_rates, "full"),
            runs=ratios(small_rates, "window", "full"),
        ),
        Figure(
            f"logs: {small.files:,} small files vs gzip in {workers} processes",
            mid(small_rates, "full"),
            "ev/s",
            f"gzip x{workers}",
            mid(small_rates, "gzipN"),
            TARGET_FULL_VS_GZIP_N,
            runs=ratios(small_rates, "full", "gzipN"),
        ),
    ]


if __name__ == "__main__":
    child(sys.argv[1], Path(sys.argv[2]) / "manifest.json")
