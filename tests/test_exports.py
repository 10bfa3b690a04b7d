"""The packages made of modules export what they say (as httpx's test_exported_members).

Every name in a package's ``__all__`` resolves, and the names callers and notebooks used before
the packages were split (``torinvest.analysis`` and ``torinvest.sources.sql`` were one module
each; ``torinvest.sources.athena`` held the Athena engine) are still there.
"""

from __future__ import annotations

import importlib

import pytest

#: The public names of analysis.py, sql.py (those callers import) and athena.py before the split.
BEFORE_THE_SPLIT: dict[str, tuple[str, ...]] = {
    "torinvest.analysis": (
        "TOP_EVENT_NAMES", "MAX_LIST_ITEMS", "DETAIL_ITEMS", "DETAIL_TEXT_CHARS", "CATEGORIES",
        "CATALOGUE_COLUMNS", "CATALOGUE_FILE", "RECON_PREFIXES", "RECON_WINDOW",
        "RECON_MIN_CALLS", "RECON_MIN_DISTINCT_CALLS", "RECON_MIN_SERVICES", "RECON_MIN_REGIONS",
        "RECON_MIN_DENIED", "DENIED_PATTERN", "ABSENT_PATTERN", "CONCURRENT_WINDOW", "WEIGHTS",
        "SENSITIVE_WEIGHTS", "FAILED_ONLY_FACTOR", "MAX_SCORE", "SCORE_BANDS", "TOP_REASONS",
        "NOT_A_VERDICT", "PER_IP_COLUMNS", "BASELINE_COLUMNS", "BASELINE_KINDS",
        "SENSITIVE_COLUMNS", "SENSITIVE_TARGET_COLUMNS", "tor_column", "codes_and_labels",
        "label_rank", "window_of", "GeoLookup", "GeoInput", "GeoIP", "empty_per_ip", "per_ip",
        "ip_tor_status", "per_ip_counted", "Baseline", "baseline", "load_catalogue",
        "sensitive_events", "Signal", "signals", "TriageScore", "triage_score",
        "summary_source_ips", "summary_sensitive_events",
    ),
    "torinvest.sources.sql": (
        "DEFAULT_MAX_ROWS", "Aggregates", "DuckDBEngine", "aggregate_sql", "events_query",
        "iter_queries", "load_sql", "make_engine", "make_scope", "minted_keys_sql", "per_ip_sql",
        "print_sql", "sensitive_sql", "span_query", "timeline_sql", "user_filter", "Scope",
        "Query", "SqlResult", "Engine", "ENGINES",
    ),
    "torinvest.sources.athena": (
        "AthenaEngine", "DEFAULT_TABLE", "INPUT_FORMAT", "SERDE", "Polling", "athena_cost_usd",
        "athena_ddl",
    ),
}  # fmt: skip


@pytest.mark.parametrize("package", ["torinvest.analysis", "torinvest.sources.sql"])
def test_every_name_in_all_resolves(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("package", list(BEFORE_THE_SPLIT))
def test_the_names_used_before_the_split_are_still_there(package: str) -> None:
    module = importlib.import_module(package)
    assert [name for name in BEFORE_THE_SPLIT[package] if not hasattr(module, name)] == []
    if hasattr(module, "__all__"):
        assert set(BEFORE_THE_SPLIT[package]) <= set(module.__all__)
