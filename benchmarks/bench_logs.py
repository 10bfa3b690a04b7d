"""Loading CloudTrail log files: torinvest against gzip alone and DuckDB, on the same files.

Each variant runs in a fresh Python process (so memory is its own) ``--repeat`` times; the best
time counts. Peak memory is the loading process's peak RSS less that of a process that only
imported the same modules; worker processes' peaks are reported beside it.

Variants:

- ``gzip``: every file inflated with Python's gzip module, one process (the physical floor of
  a loader that reads everything, per core);
- ``duckdb``: DuckDB ``read_json_objects`` + ``json_transform`` to the frame's fields →
  Arrow → pandas, DuckDB's own threads (its fastest formulation found; plain ``read_json`` of
  these files is about 10x slower);
- ``full``: :func:`torinvest.sources.logs.load_logs` into the events frame (dedupe, sort,
  categoricals);
- ``key``: the same, filtered to the target access key (about 2 % of the events).

Targets: full ≥ 1.5× DuckDB's rate; full's peak memory ≤ 3× the frame's
``memory_usage(deep=True)``; key ≥ 0.5× the gzip rate.
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

from benchmarks.__main__ import Figure, run_child
from benchmarks.gen import DEFAULT_EVENTS, DEFAULT_FILES, DEFAULT_SEED, Manifest, generate

VARIANTS = ("imports", "gzip", "duckdb", "full", "key")
LOG_GLOB = "AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"
TARGET_FULL_VS_DUCKDB = 1.5
TARGET_PEAK_VS_FRAME = 3.0
TARGET_KEY_VS_GZIP = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logs")
    group.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="events to generate")
    group.add_argument("--files", type=int, default=DEFAULT_FILES, help="log files to generate")
    group.add_argument("--seed", type=int, default=DEFAULT_SEED)
    group.add_argument("--repeat", type=int, default=3, help="runs per variant (best counts)")


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


def variant_gzip(root: Path, m: Manifest) -> dict[str, Any]:
    import gzip

    files = _files(root)
    started = time.perf_counter()
    size = sum(len(gzip.decompress(f.read_bytes())) for f in files)
    return {"seconds": time.perf_counter() - started, "rows": m.events, "bytes": size}


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


def _load(root: Path, keys: str | None) -> dict[str, Any]:
    from torinvest.sources.logs import load_logs

    started = time.perf_counter()
    result = load_logs(root / "AWSLogs", access_keys=keys, progress=False)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": len(result.frame),
        "frame_mb": result.frame.memory_usage(deep=True).sum() / 1e6,
        "files_read": result.files_read,
        "issues": len(result.issues),
    }


def variant_full(root: Path, m: Manifest) -> dict[str, Any]:
    return _load(root, None)


def variant_key(root: Path, m: Manifest) -> dict[str, Any]:
    return _load(root, m.target_key)


def child(variant: str, manifest_path: Path) -> None:
    m = Manifest(**json.loads(manifest_path.read_text()))
    _imports()
    out: dict[str, Any] = {}
    if variant != "imports":
        out = globals()[f"variant_{variant}"](Path(m.root), m)
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["workers_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(out))


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------
def _child(variant: str, manifest: Manifest) -> dict[str, Any]:
    return run_child("benchmarks.bench_logs", variant, manifest.root)


def measure(variants: Sequence[str], manifest: Manifest, repeat: int) -> dict[str, dict[str, Any]]:
    """The best of ``repeat`` runs of each variant, each run in a fresh process; the variants
    take turns, so that a slow spell of the machine does not fall on one of them only."""
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for _ in range(repeat):
        for v in variants:
            runs[v].append(_child(v, manifest))
    best: dict[str, dict[str, Any]] = {}
    for v, rs in runs.items():
        b = dict(min(rs, key=lambda r: r.get("seconds", 0)))
        b["rss_mb"] = max(r["rss_mb"] for r in rs)
        b["workers_rss_mb"] = max(r["workers_rss_mb"] for r in rs)
        b["all_seconds"] = [round(r.get("seconds", 0), 2) for r in rs]
        print(f"   {v:8s} " + json.dumps({k: _round(x) for k, x in b.items()}), flush=True)
        best[v] = b
    return best


def _round(x: Any) -> Any:
    return round(x, 3) if isinstance(x, float) else x


def run(args: argparse.Namespace) -> list[Figure]:
    m = generate(events=args.events, files=args.files, seed=args.seed)
    print(
        f"   data: {m.events:,} events in {m.files} files, {m.bytes_gz / 1e6:.0f} MB gzip "
        f"({m.bytes_json / 1e6:.0f} MB JSON), target key {m.target_key}: "
        f"{m.target_events:,} events; {m.root}",
        flush=True,
    )
    r = measure(["imports"], m, 1) | measure(VARIANTS[1:], m, args.repeat)
    rate = {v: r[v]["rows"] / r[v]["seconds"] for v in ("duckdb", "full")}
    rate["gzip"] = m.events / r["gzip"]["seconds"]
    rate["key"] = m.events / r["key"]["seconds"]  # events scanned per second
    base_rss = r["imports"]["rss_mb"]
    full_peak = r["full"]["rss_mb"] - base_rss
    return [
        Figure("logs: gzip inflate, 1 process", rate["gzip"], "ev/s"),
        Figure("logs: DuckDB read_json_objects -> pandas", rate["duckdb"], "ev/s"),
        Figure(
            "logs: full load (events frame)",
            rate["full"],
            "ev/s",
            "DuckDB",
            rate["duckdb"],
            TARGET_FULL_VS_DUCKDB,
        ),
        Figure(
            "logs: full load, peak memory",
            full_peak,
            "MB",
            "frame",
            r["full"]["frame_mb"],
            TARGET_PEAK_VS_FRAME,
            higher_is_better=False,
            note=(
                f"loading process {r['full']['rss_mb']:.0f} MB - imports {base_rss:.0f} MB; "
                f"largest worker {r['full']['workers_rss_mb']:.0f} MB; "
                f"DuckDB process {r['duckdb']['rss_mb'] - base_rss:.0f} MB over imports"
            ),
        ),
        Figure(
            "logs: key-filtered load (events scanned)",
            rate["key"],
            "ev/s",
            "gzip",
            rate["gzip"],
            TARGET_KEY_VS_GZIP,
            note=f"{r['key']['rows']:,} rows for the target key; full load vs gzip: "
            f"{rate['full'] / rate['gzip']:.2f}x",
        ),
    ]


if __name__ == "__main__":
    child(sys.argv[1], Path(sys.argv[2]) / "manifest.json")
