"""Writing frames to files an analyst or a ticket system opens: parquet, CSV, JSON lines.

One convention for every CSV and JSON-lines file torinvest writes (``events --out``,
``investigate``'s ``events.csv`` and ``per_ip.csv``):

- a missing value is an empty cell in CSV, ``null`` in JSON;
- a time is ISO 8601 UTC with ``Z`` (``2023-07-10T11:42:18Z``; a fraction only when the time
  has one);
- a boolean is ``true`` / ``false``;
- in CSV a cell holding several values (a list: ``per_ip.csv``'s user agents, event names,
  regions, keys; a count map) is one JSON array (``["aws-cli/2.13", "Boto3/1.28 | x"]``) or
  object (``{"GetCallerIdentity": 3}``), written as :func:`torinvest.safety.json_inert` writes
  JSON: each item is exactly as written and no item can pass for two (an item holding `` | ``
  or ``","`` is still one item; ``json.loads`` of the cell gives the items back); ``[]`` is an
  empty list, an empty cell a missing value. In JSON they stay arrays and objects.

CSV files are RFC 4180 (``\\r\\n`` between rows, so a cell holding a line break or a carriage
return is always quoted and stays one cell in any reader) and every text cell is neutralized
against formula injection (:func:`torinvest.safety.csv_safe`): CloudTrail text such as
``userAgent`` and ``requestParameters`` is attacker-written and spreadsheets run formulas; the
guard is one leading ``'``, also put before a value that already starts with ``'``, so a cell
that starts with ``'`` is always the value after it (:func:`torinvest.safety.csv_unguard`). A
CSV file is read by eye (a spreadsheet, ``cat``, ``column``): its cells show control, bidi and
zero-width characters escaped (``\\x1b``, ``\\r``, ``\\u202e``), as the report does
(:func:`torinvest.safety.csv_escape`; newlines and tabs kept), so that an ESC sequence cannot
erase rows from a terminal and a bidi override cannot reorder a cell; a backslash that would
read as the start of such an escape is doubled (the four characters ``\\x1b`` are written
``\\\\x1b``), so the escaping is undone exactly: a text cell's value is
:func:`torinvest.safety.csv_value` of it (the guard, then the escapes). A list cell's items are
``json.loads`` of that value. Parquet and JSON lines keep every value exactly.

JSON lines keep every value, with the characters that could act on a terminal or hide or
reorder text (C1 controls, bidi overrides, zero-width characters, line separators) written as
``\\uXXXX`` escapes (:func:`torinvest.safety.json_inert`): ``cat`` or ``jq -c`` shows them
inert, a JSON reader gets the same text back.

Files are written to a new temporary file beside the target (a random name, created
exclusively: never through a link planted there), synced to the disk and renamed into place,
then the folder synced (:func:`torinvest.paths.atomic_file`): a failed write, a crash or a power
cut never leaves half a file under the target's name. A target that cannot be written (a folder
without write permission, a path under a file, a read-only or full disk) is an
:class:`~torinvest.errors.InputError` naming it, checked before any work by
:func:`check_output`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from torinvest.errors import InputError
from torinvest.paths import atomic_file
from torinvest.safety import csv_escape, csv_safe, json_inert
from torinvest.schema import iso_utc

FORMATS = (".parquet", ".csv", ".jsonl")

#: What is added to an export's name for the file that says what its reading was
#: (:func:`write_reading`): ``events.csv`` → ``events.csv.reading.json``.
READING_SUFFIX = ".reading.json"


def iso_times(col: pd.Series) -> pd.Series:
    """A time column as ISO 8601 UTC text with ``Z`` (naive times are UTC; None where missing)."""
    utc = col.dt.tz_convert("UTC") if col.dt.tz is not None else col.dt.tz_localize("UTC")
    text = utc.dt.strftime("%Y-%m-%dT%H:%M:%S")
    micro = utc.dt.microsecond.fillna(0).astype("int64")
    fraction = ("." + micro.astype(str).str.zfill(6)).where(micro != 0, "")
    return (text + fraction + "Z").astype("object").where(col.notna(), None)


def _items_text(value: Any) -> Any:
    """A list or a count map as its one CSV cell: JSON (items as text, counts as numbers), the
    characters :func:`json_inert` escapes written as escapes; any other value as it is."""
    if isinstance(value, Mapping):
        items: Any = {str(k): _item(v) for k, v in value.items()}
    elif isinstance(value, list | tuple | np.ndarray):
        items = [_item(v) for v in value]
    else:
        return value
    return json_inert(json.dumps(items, ensure_ascii=False, allow_nan=False))


def _item(value: Any) -> Any:
    """One item of a list or count map, as JSON has it: a missing item null, a whole number a
    number, anything else its text (a float NaN is missing; infinity is its text)."""
    if _missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return str(value)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value


def _bool_text(value: Any) -> str | None:
    return None if _missing(value) else ("true" if bool(value) else "false")


def _csv_text(value: Any) -> Any:
    if _missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return _bool_text(value)
    if isinstance(value, datetime):
        return iso_utc(value)
    return csv_safe(csv_escape(_items_text(value)))


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy fit for CSV (the convention above): times ISO 8601 UTC with ``Z``, booleans
    ``true``/``false``, missing values None (empty cells), lists joined, every text cell
    formula-safe."""
    out = pd.DataFrame(index=frame.index)
    for name, col in frame.items():
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            out[name] = iso_times(col)
        elif pd.api.types.is_bool_dtype(col.dtype):
            out[name] = col.astype("object").map(_bool_text)
        elif col.dtype == "object" or isinstance(col.dtype, pd.CategoricalDtype | pd.StringDtype):
            out[name] = col.astype("object").map(_csv_text)
        else:
            out[name] = col
    return out


def json_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy fit for JSON lines (the convention above): times ISO 8601 UTC with ``Z``, missing
    values null; booleans, numbers, lists and objects as JSON has them."""
    out = frame.copy()
    for name, col in out.items():
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            out[name] = iso_times(col)
    return out


def _unwritable(path: Path, error: OSError, *, what: str = "") -> InputError:
    reason = error.strerror or os.strerror(error.errno or errno.EIO) or type(error).__name__
    return InputError(
        f"cannot write {what}{path}: {reason}",
        hint="choose another --out: a folder you can write to, on a disk with space",
    )


def not_a_folder(path: Path) -> Path | None:
    """The first ancestor of ``path`` that exists and is not a folder (``out.csv/x.csv``), if
    any: nothing can be created under it."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            return None if parent.is_dir() else parent
    return None


def check_output(path: str | Path) -> Path:
    """Check, before any work, that ``path`` can be written: a known format, not a folder, its
    folder created if needed and writable (a probe file is created and removed there)."""
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"cannot write {p}: unknown format {suffix or '(none)'}",
            hint=f"name the output file with one of {', '.join(FORMATS)}",
        )
    if p.is_dir():
        raise InputError(f"cannot write {p}: it is a folder", hint="name a file, e.g. out.csv")
    blocker = not_a_folder(p)
    if blocker is not None:
        raise InputError(
            f"cannot write {p}: {blocker} is a file, not a folder",
            hint="choose another --out: a folder you can write to, on a disk with space",
        )
    probe = p.with_name(f".{p.name}.probe-{os.getpid()}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except OSError as e:
        raise _unwritable(p, e) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return p


def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` by the file's suffix (.parquet, .csv, .jsonl), atomically (a temporary
    file renamed into place). :class:`InputError` naming the file when it cannot be written."""
    p = check_output(path)
    suffix = p.suffix.lower()
    try:
        with atomic_file(p, text=suffix != ".parquet") as fh:
            if suffix == ".parquet":
                frame.to_parquet(fh, index=False)
            elif suffix == ".csv":
                csv_frame(frame).to_csv(fh, index=False, lineterminator="\r\n")
            elif len(frame):  # no record, no line (pandas writes one empty line for none)
                fh.write(
                    json_inert(
                        json_frame(frame).to_json(orient="records", lines=True, force_ascii=False)
                    )
                )
    except OSError as e:
        raise _unwritable(p, e) from None
    return p


def reading_path(path: str | Path) -> Path:
    """The reading file beside the export ``path`` (:data:`READING_SUFFIX`)."""
    p = Path(path).expanduser()
    return p.with_name(p.name + READING_SUFFIX)


def write_reading(path: str | Path, reading: Mapping[str, Any]) -> Path:
    """Write, beside the export ``path``, what its reading was (``reading``: its state —
    complete, incomplete, no events —, the data issues that say what is not in the export, the
    notes): a CSV, JSON-lines or parquet file holds the rows read and nothing else, so the file
    beside it is what says a partial reading is partial once the terminal is gone. Written
    after the export, with every run that writes one (never left from an earlier run beside a
    new export), atomically; JSON as :func:`torinvest.safety.json_inert` writes it."""
    p = reading_path(path)
    try:
        with atomic_file(p, text=True) as fh:
            fh.write(json_inert(json.dumps(dict(reading), ensure_ascii=False, indent=1)) + "\n")
    except OSError as e:
        raise _unwritable(p, e) from None
    return p
