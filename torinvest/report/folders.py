"""A report folder: the files it holds, checked writable before a run, marked incomplete when
a run begins and complete by its manifest (written last, every file with its SHA-256).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd

from torinvest import __version__
from torinvest.errors import EXIT_BUSY, InputError, ReportError
from torinvest.paths import held_lock, write_atomic
from torinvest.safety import term_safe

#: The report files besides report.ipynb/html and summary.json.
EVENTS_CSV = "events.csv"
PER_IP_CSV = "per_ip.csv"
INDEX_JSON = "index.json"
INDEX_HTML = "index.html"
#: Written last, listing every file of a report folder with its SHA-256: a folder is complete
#: only when it is there and every file matches (see :func:`folder_state`).
MANIFEST = "manifest.json"
#: Every file of a complete report folder besides the manifest.
REPORT_FILES: tuple[str, ...] = (
    "report.ipynb",
    "report.html",
    "summary.json",
    EVENTS_CSV,
    PER_IP_CSV,
)
#: Held (``flock``, exclusive) by the run writing the folder: a second run into the same folder
#: is refused (:func:`hold`), never interleaved.
LOCK_FILE = ".report.lock"
#: What summary.json of a run that did not finish (a failing cell, a wrong summary, Ctrl-C) is
#: renamed to: kept for a look, never read as a result (nothing reads this name).
FAILED_SUMMARY = "summary.failed.json"
#: The previous run's report pair, renamed so when a run begins: a run stopped before its own
#: pair is written leaves no report.html that passes for its result. Removed when a run completes.
PREVIOUS_REPORT: dict[str, str] = {
    "report.html": "report.previous.html",
    "report.ipynb": "report.previous.ipynb",
}
#: The findings the run fetched from GuardDuty, that the notebook read (AWS sources only:
#: :mod:`torinvest.findings.fetched`); listed in the manifest when there.
FETCHED_FINDINGS = "findings.json"


def check_folder(path: Path) -> None:
    """The report folder ``path`` exists (created if needed) and can be written, or
    :class:`InputError` naming it (a path under a file, no permission, a read-only disk)."""
    from torinvest.export import not_a_folder

    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path} is a file", hint="name a folder for the report")
    blocker = not_a_folder(path)
    if blocker is not None:
        raise InputError(
            f"cannot create the report folder {path}: {blocker} is a file, not a folder",
            hint="choose another --out",
        )
    probe = path / f".write-probe-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as e:
        raise InputError(
            f"cannot write the report folder {path}: {e.strerror or e}",
            hint="choose another --out: a folder you can write to, on a disk with space",
        ) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def report_of(path: Path) -> str | None:
    """The finding whose report ``path`` holds, by its manifest, else its ``summary.json`` (or
    the failed run's): None when it holds none (or none can be read)."""
    for name, read in (
        (MANIFEST, lambda d: d.get("finding_id")),
        ("summary.json", lambda d: (d.get("finding") or {}).get("id")),
        (FAILED_SUMMARY, lambda d: (d.get("finding") or {}).get("id")),
    ):
        try:
            doc = orjson.loads((path / name).read_bytes())
            found = read(doc) if isinstance(doc, dict) else None
        except (OSError, orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(found, str) and found:
            return found
    return None


def check_same_finding(path: Path, finding_id: str) -> None:
    """Refuse (:class:`InputError`) to run ``finding_id``'s report into a folder that holds
    another finding's: the run would replace that report (and its CSVs) without a word."""
    other = report_of(path)
    if other is not None and other != finding_id:
        raise InputError(
            f"--out {path} holds the report of finding {term_safe(other)}: a report of "
            f"{finding_id} there would replace it",
            hint="choose another --out (one folder per finding), or remove that folder first",
        )


class FolderBusyError(ReportError):
    """Another run holds the report folder's lock (:data:`LOCK_FILE`)."""

    exit_status = EXIT_BUSY


@contextlib.contextmanager
def hold(folder: Path, *, reentrant: bool = False) -> Iterator[None]:
    """Hold ``folder``'s lock for a whole run: raise :class:`FolderBusyError` naming the folder
    when another run (another process) holds it. Closing the descriptor releases it, so a run
    that is killed never leaves the folder locked. ``reentrant``: the run and the post inside
    this block take it again (``investigate --post``)."""
    with held_lock(
        folder / LOCK_FILE,
        reentrant=reentrant,
        cannot=lambda e: ReportError(
            f"cannot lock the report folder {folder}: {e.strerror or e}",
            hint="choose another --out: a folder you can write to",
        ),
        busy=lambda: FolderBusyError(
            f"another torinvest run is writing the report folder {folder} (it holds "
            f"{folder / LOCK_FILE}): this run did nothing",
            hint="wait for it to finish, or choose another --out",
        ),
    ):
        yield


def begin(folder: Path) -> None:
    """Mark ``folder`` incomplete before a run writes anything: its manifest and the previous
    run's summary go (a stale summary must not pass for this run's), and so do temporary files
    a killed run left. The previous report.html and report.ipynb are renamed
    (:data:`PREVIOUS_REPORT`): kept for a look, never taken for this run's. A pair kept so
    already stays when the report there now is of a run that did not complete (failed or
    stopped: no manifest): runs that fail again and again never replace the last report kept
    with their own."""
    completed = (folder / MANIFEST).is_file()  # the report there is a run's that completed
    (folder / MANIFEST).unlink(missing_ok=True)
    for name in ("summary.json", FAILED_SUMMARY, EVENTS_CSV, PER_IP_CSV, FETCHED_FINDINGS):
        (folder / name).unlink(missing_ok=True)
    for name, previous in PREVIOUS_REPORT.items():
        if not (folder / name).is_file():
            continue
        if completed or not (folder / previous).is_file():
            os.replace(folder / name, folder / previous)
        else:  # a run that did not complete: the report kept from before it stays
            (folder / name).unlink()
    for leftover in (*folder.glob(".*.tmp"), *folder.glob(".*.partial.*")):
        leftover.unlink(missing_ok=True)


def set_aside_summary(folder: Path) -> None:
    """summary.json of a run that did not finish renamed :data:`FAILED_SUMMARY`: no reader
    (a post, the index's reading, a ticket system) takes it for a result."""
    with contextlib.suppress(OSError):
        os.replace(folder / "summary.json", folder / FAILED_SUMMARY)


def finish(folder: Path) -> None:
    """A completed folder: the previous run's pair and failed summary go (the manifest is
    written)."""
    for name in (*PREVIOUS_REPORT.values(), FAILED_SUMMARY):
        (folder / name).unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, finding_id: str) -> Path:
    """The manifest of a finished report folder, written last: every report file with its
    size and SHA-256 (and the fetched findings, when the run kept them). A file missing here is
    an error (the run is not complete)."""
    entries = {}
    fetched = (FETCHED_FINDINGS,) if (folder / FETCHED_FINDINGS).is_file() else ()
    for name in (*REPORT_FILES, *fetched):
        path = folder / name
        entries[name] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    doc = {
        "torinvest_version": __version__,
        "finding_id": finding_id,
        "completed_at": pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z"),
        "files": entries,
    }
    path = folder / MANIFEST
    _write_bytes(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return path


@dataclass(frozen=True, slots=True)
class FolderState:
    """Whether a report folder is ``complete``, ``incomplete`` (``why``) or ``missing``, and
    which of its report files exist (``present``)."""

    state: str
    why: str = ""
    present: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.state == "complete"


def folder_state(folder: str | Path, finding_id: str | None = None) -> FolderState:
    """Read a report folder: complete when its manifest is there, names ``finding_id`` (if
    given), and every file it lists is there with the same SHA-256."""
    p = Path(folder)
    present = tuple(n for n in REPORT_FILES if (p / n).is_file())
    if not p.is_dir():
        return FolderState("missing", "no report folder", present)
    try:
        doc = orjson.loads((p / MANIFEST).read_bytes())
    except FileNotFoundError:
        why = "no manifest: the run did not finish" if present else "no report yet"
        return FolderState("incomplete" if present else "missing", why, present)
    except (OSError, orjson.JSONDecodeError) as e:
        return FolderState("incomplete", f"unreadable manifest: {e}", present)
    listed = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(listed, dict) or set(listed) - {FETCHED_FINDINGS} != set(REPORT_FILES):
        return FolderState("incomplete", "the manifest does not list the report files", present)
    if finding_id is not None and doc.get("finding_id") != finding_id:
        return FolderState("incomplete", "the manifest is of another finding", present)
    for name, meta in listed.items():
        path = p / name
        if not path.is_file():
            return FolderState("incomplete", f"{name} is missing", present)
        if not isinstance(meta, dict) or meta.get("sha256") != _sha256(path):
            return FolderState("incomplete", f"{name} changed after the run", present)
    return FolderState("complete", "", present)


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def _write_bytes(path: Path, data: bytes) -> None:
    """``data`` into ``path`` through a temporary name (never half a file under the name).
    Raises OSError (:func:`run_report` and :func:`write_index` name the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def _write_text(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))
