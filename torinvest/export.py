"""Writing frames to files an analyst or a ticket system opens: parquet, CSV, JSON lines.

CSV cells are neutralized against formula injection (text starting with ``=``, ``+``, ``-``,
``@``, tab or CR gets a leading ``'``): CloudTrail text such as ``userAgent`` and
``requestParameters`` is attacker-written and spreadsheets run formulas.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from torinvest.errors import InputError
from torinvest.safety import csv_safe

FORMATS = (".parquet", ".csv", ".jsonl")


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy fit for CSV: times in ISO 8601 UTC, every text cell formula-safe, no raw dicts."""
    out = pd.DataFrame(index=frame.index)
    for name, col in frame.items():
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            out[name] = col.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif col.dtype == "object" or isinstance(col.dtype, pd.CategoricalDtype | pd.StringDtype):
            out[name] = col.astype("object").map(
                lambda v: None if v is None or v is pd.NA else csv_safe(str(v))
            )
        else:
            out[name] = col
    return out


def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` by the file's suffix (.parquet, .csv, .jsonl), atomically."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"cannot write {p}: unknown format {suffix or '(none)'}",
            hint=f"name the output file with one of {', '.join(FORMATS)}",
        )
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    if suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif suffix == ".csv":
        csv_frame(frame).to_csv(tmp, index=False)
    else:
        csv_ready = frame.copy()
        for name, col in csv_ready.items():
            if isinstance(col.dtype, pd.DatetimeTZDtype):
                csv_ready[name] = col.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        csv_ready.to_json(tmp, orient="records", lines=True, force_ascii=False)
    os.replace(tmp, p)
    return p
