"""The sensitive-actions catalogue: which calls matter (event name and source), their category,
MITRE technique and a note. One loader for every reader (the analysis, the SQL engines, the
remediation plans): the shipped ``torinvest/data/sensitive_actions.csv`` or an analyst's own,
checked on load.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from torinvest.errors import InputError

#: Categories of the sensitive-actions catalogue.
CATEGORIES: tuple[str, ...] = (
    "persistence",
    "privilege-escalation",
    "credential-access",
    "defense-evasion",
    "exfiltration",
    "discovery",
    "impact",
)
CATALOGUE_COLUMNS: tuple[str, ...] = (
    "event_name",
    "event_source",
    "category",
    "mitre_technique",
    "note",
)
CATALOGUE_FILE = "sensitive_actions.csv"
#: Calls that are not sensitive but that a reading of only the sensitive calls (counted in the
#: engine) loads beside them, (event name, event source): they end a gap the key made in the
#: logging — a trail's logging started, a deleted trail created again (torinvest.impairment).
GAP_ENDING_CALLS: tuple[tuple[str, str], ...] = (
    ("StartLogging", "cloudtrail.amazonaws.com"),
    ("CreateTrail", "cloudtrail.amazonaws.com"),
)
_MITRE_RE = r"^T\d{4}(\.\d{3})? \S.*$"


def load_catalogue(path: str | Path | None = None) -> pd.DataFrame:
    """The sensitive-actions catalogue: columns event_name, event_source, category,
    mitre_technique, note (all string); one row per (event_name, event_source).

    Without ``path``, the catalogue shipped in ``torinvest/data/sensitive_actions.csv``.
    Raises InputError when a catalogue is malformed (missing column or value, unknown category,
    technique not written "T1234[.567] Name", duplicate call).
    """
    if path is None:
        return shipped_catalogue().copy()
    return _read_catalogue(Path(path).expanduser())


@lru_cache(maxsize=1)
def shipped_catalogue() -> pd.DataFrame:
    """The shipped catalogue, read once and shared: read it, never change it (the analysis uses
    it on every call; :func:`load_catalogue` gives a copy to change)."""
    ref = resources.files("torinvest") / "data" / CATALOGUE_FILE
    with resources.as_file(ref) as p:
        return _read_catalogue(p)


def _read_catalogue(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"catalogue {path} does not exist", hint="pass a CSV file")
    cat = pd.read_csv(path, dtype="string", keep_default_na=False).replace("", pd.NA)
    missing = [c for c in CATALOGUE_COLUMNS if c not in cat.columns]
    if missing:
        raise InputError(
            f"catalogue {path} lacks column(s) {', '.join(missing)}",
            hint=f"columns: {', '.join(CATALOGUE_COLUMNS)}",
        )
    cat = cat[list(CATALOGUE_COLUMNS)].apply(lambda s: s.str.strip())
    problems = []
    blank = cat[list(CATALOGUE_COLUMNS[:4])].isna().any(axis=1)
    if blank.any():
        problems.append(f"empty values on line(s) {_lines(blank)}")
    unknown = ~cat["category"].isin(CATEGORIES) & cat["category"].notna()
    if unknown.any():
        problems.append(f"unknown category on line(s) {_lines(unknown)}")
    bad = ~cat["mitre_technique"].str.match(_MITRE_RE).fillna(True)
    if bad.any():
        problems.append(f"technique not 'T1234[.567] Name' on line(s) {_lines(bad)}")
    dup = cat.duplicated(["event_name", "event_source"], keep=False)
    if dup.any():
        problems.append(f"duplicate (event_name, event_source) on line(s) {_lines(dup)}")
    if problems:
        raise InputError(
            f"catalogue {path}: {'; '.join(problems)}",
            hint=f"categories: {', '.join(CATEGORIES)}",
        )
    return cat.reset_index(drop=True)


def _lines(mask: pd.Series) -> str:
    return ", ".join(str(i + 2) for i in np.flatnonzero(mask.to_numpy(dtype=bool))[:10])


def with_gap_ending_calls(catalogue: pd.DataFrame) -> pd.DataFrame:
    """``catalogue`` and the calls of :data:`GAP_ENDING_CALLS` it lacks (no category: they are
    loaded, never counted as sensitive): the calls a reading of the sensitive calls loads."""
    have = set(zip(catalogue["event_name"], catalogue["event_source"], strict=True))
    extra = [c for c in GAP_ENDING_CALLS if c not in have]
    if not extra:
        return catalogue
    rows = pd.DataFrame(
        {
            "event_name": [n for n, _ in extra],
            "event_source": [s for _, s in extra],
            **{c: [pd.NA] * len(extra) for c in CATALOGUE_COLUMNS[2:]},
        },
        dtype="string",
    )
    return pd.concat([catalogue, rows], ignore_index=True)
