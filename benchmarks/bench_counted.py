"""Too many events to load: the activity counted in the engine against every row loaded.

Two data sets (generated once, cached in ``.bench-data``):

- *heavy key*: 500,000 events of which ~60 % are the target key's, called from 12 IPs with 3
  user agents (a service key's repetitive activity: what an investigation over millions of
  events looks like); the investigation is of that key;
- *every caller*: the 400,000 events of ``bench_logs``, every caller — each call from a random
  one of 3,000 IPs and 400 user agents, so that the counts are nearly as many as the rows (the
  worst case for counting; reported, no target).

Each variant runs in a fresh process (peak RSS less that of a process that only imported the
same modules), best of ``--counted-repeat`` runs, the variants taking turns:

- ``rows``: what an investigation does under the row limit — :func:`torinvest.sources.sql.
  load_sql` with :class:`~torinvest.sources.sql.DuckDBEngine` (every row), then
  :func:`torinvest.analysis.per_ip` and the five charts of :mod:`torinvest.charts`;
- ``counted``: over the limit — ``load_sql(max_rows=…)`` (span — the count —, rollup and
  sensitive calls queries), and the same five charts from the counts frames.

Both must give the same per-IP calls and failed calls. Target (heavy key): the counted
investigation's peak memory ≤ 0.5× that of the rows' (measured 0.34–0.39×: the rows cost the
frame's ~2.8 KB per event; counting costs DuckDB a few hundred bytes per matching event while
it drops copies, plus the counts, bounded by IPs × time buckets × event names). Times are reported beside (counting
reads the files once per query: three scans where the rows take one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.__main__ import Figure, peak_rss_mb, run_child
from benchmarks.gen import DEFAULT_EVENTS, DEFAULT_FILES, DEFAULT_SEED, Manifest, generate

#: The row limit of the counted variant (far below the data sets' events).
COUNTED_LIMIT = 50_000
TARGET_PEAK_SHARE = 0.5
VARIANTS = ("imports", "rows", "counted")
#: The heavy-key data set (see the module's docstring).
HEAVY = {
    "events": 500_000,
    "files": 200,
    "seed": 11,
    "target_share": 0.6,
    "target_ips": 12,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("counted")
    group.add_argument("--counted-repeat", type=int, default=2, help="runs per variant")


# --------------------------------------------------------------------------------------------
# variants (run in a child process)
# --------------------------------------------------------------------------------------------
def _imports() -> None:
    import plotly.graph_objects  # noqa: F401

    import torinvest.analysis
    import torinvest.charts
    import torinvest.sources.sql  # noqa: F401


def _charts(by_time: Any, by_agent: Any, by_region: Any) -> int:
    """The five figures; their JSON size (they are built, not shown)."""
    from torinvest import charts

    figures = [
        charts.timeline(by_time),
        charts.calls_per_ip(by_time),
        charts.event_mix(by_time),
        charts.user_agents(by_agent),
        charts.regions(by_region),
    ]
    return sum(len(f.to_json()) for f in figures)


def _per_ip_signature(table: Any) -> list[tuple[str, int, int]]:
    return sorted(
        (str(r.source_ip), int(r.events), int(r.failed)) for r in table.itertuples(index=False)
    )


def variant_rows(root: Path, key: str | None) -> dict[str, Any]:
    from torinvest.analysis import per_ip
    from torinvest.sources.sql import DuckDBEngine, load_sql

    with DuckDBEngine(root) as engine:
        frame = load_sql(engine, access_keys=key).frame
    table = per_ip(frame)
    return {
        "rows": len(frame),
        "per_ip": _per_ip_signature(table),
        "chart_bytes": _charts(frame, frame, frame),
    }


def variant_counted(root: Path, key: str | None) -> dict[str, Any]:
    from torinvest.sources.sql import DuckDBEngine, load_sql

    with DuckDBEngine(root) as engine:
        result = load_sql(engine, access_keys=key, max_rows=COUNTED_LIMIT)
    agg = result.aggregates
    if agg is None:
        raise RuntimeError(f"the data set has fewer than {COUNTED_LIMIT:,} events")
    return {
        "rows": len(result.frame),
        "counted": agg.total,
        "per_ip": _per_ip_signature(agg.per_ip),
        "chart_bytes": _charts(agg.by_time, agg.by_agent, agg.by_region),
        "queries": [q.kind for q in result.queries],
        "count_rows": len(agg.by_time) + len(agg.by_agent) + len(agg.by_region),
    }


def child(variant: str, root: Path, key: str | None) -> None:
    _imports()
    out: dict[str, Any] = {}
    if variant != "imports":
        started = time.perf_counter()
        out = globals()[f"variant_{variant}"](root, key)
        out["seconds"] = time.perf_counter() - started
    out["rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------
def _child(variant: str, root: Path, key: str | None) -> dict[str, Any]:
    return run_child("benchmarks.bench_counted", variant, str(root), key or "")


def measure(root: Path, key: str | None, repeat: int) -> dict[str, dict[str, Any]]:
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for i in range(repeat):
        for v in VARIANTS:
            if v != "imports" or i == 0:
                runs[v].append(_child(v, root, key))
    best: dict[str, dict[str, Any]] = {}
    for v, rs in runs.items():
        b = dict(min(rs, key=lambda r: r.get("seconds", 0)))
        b["rss_mb"] = max(r["rss_mb"] for r in rs)
        b["all_seconds"] = [round(r.get("seconds", 0), 2) for r in rs]
        shown = {k: x for k, x in b.items() if k != "per_ip"}
        print(f"   {v:8s} {json.dumps(shown)}", flush=True)
        best[v] = b
    return best


def _figures(label: str, r: dict[str, dict[str, Any]], target: float | None) -> list[Figure]:
    rows, counted = r["rows"], r["counted"]
    if rows["per_ip"] != counted["per_ip"] or counted["counted"] != rows["rows"]:
        raise RuntimeError(f"{label}: the counted per-IP table is not the rows' one")
    base = r["imports"]["rss_mb"]
    return [
        Figure(
            f"counted ({label}): peak memory",
            counted["rss_mb"] - base,
            "MB",
            "every row loaded",
            rows["rss_mb"] - base,
            target,
            higher_is_better=False,
            note=(
                f"{counted['counted']:,} events counted in {counted['count_rows']:,} count rows, "
                f"{counted['rows']:,} sensitive rows loaded; per-IP tables equal; processes "
                f"{counted['rss_mb']:.0f} / {rows['rss_mb']:.0f} MB - imports {base:.0f} MB"
            ),
        ),
        Figure(
            f"counted ({label}): time",
            counted["seconds"],
            "s",
            "every row loaded",
            rows["seconds"],
            higher_is_better=False,
            note=f"queries: {', '.join(counted['queries'])} (each reads the files)",
        ),
    ]


def run(args: argparse.Namespace) -> list[Figure]:
    heavy: Manifest = generate(**HEAVY)
    print(
        f"   heavy key: {heavy.events:,} events, {heavy.target_events:,} of the target key "
        f"from {HEAVY['target_ips']} IPs; limit {COUNTED_LIMIT:,}",
        flush=True,
    )
    r_heavy = measure(Path(heavy.root) / "AWSLogs", heavy.target_key, args.counted_repeat)
    every: Manifest = generate(
        events=getattr(args, "events", DEFAULT_EVENTS),
        files=getattr(args, "files", DEFAULT_FILES),
        seed=getattr(args, "seed", DEFAULT_SEED),
    )
    print(f"   every caller: {every.events:,} events in {every.files} files", flush=True)
    r_every = measure(Path(every.root) / "AWSLogs", None, args.counted_repeat)
    return _figures("heavy key", r_heavy, TARGET_PEAK_SHARE) + _figures(
        "every caller, worst case", r_every, None
    )


if __name__ == "__main__":
    child(sys.argv[1], Path(sys.argv[2]), sys.argv[3] or None)
