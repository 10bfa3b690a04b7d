"""Files: findings exports in files and folders (JSON, JSON lines, gzip), each bad file a
data issue naming it (:func:`read_findings`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

import orjson
import pandas as pd

from torinvest.errors import DataIssue, NoFindingsError
from torinvest.findings.checks import FINDING_FILE_SUFFIXES
from torinvest.findings.records import Finding, FindingsResult
from torinvest.findings.shapes import extract_findings, findings_cut
from torinvest.inflate import DAMAGED, DEFAULT_LIMIT, TooLargeError, inflate, json_utf8
from torinvest.jsonread import JsonRepairs
from torinvest.jsonread import loads as read_json
from torinvest.sniff import CLI_OUTPUT_DO, cut_or_damaged, not_json, read_head, sniff

#: The most bytes one findings file may inflate to (a compressed export).
MAX_FINDINGS_BYTES = DEFAULT_LIMIT


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def finding_files(path: str | Path, issues: list[DataIssue] | None = None) -> list[Path]:
    """The findings files at ``path``: the file itself, or every findings file below a folder
    (:func:`torinvest.paths.walk_files`: symbolic links followed). A path below it that cannot
    be looked at (a link to a missing target or that loops, a folder that cannot be listed, a
    named pipe…) is appended to ``issues``; without that list, it raises like a folder with no
    findings file would, naming it."""
    from torinvest.paths import walk_files

    p = Path(path)
    try:
        walk = walk_files(
            p, wanted=lambda rel: rel.rpartition("/")[2].lower().endswith(FINDING_FILE_SUFFIXES)
        )
    except OSError as e:
        raise NoFindingsError(
            f"{p}: {'no such file or folder' if not p.exists() else e.strerror or e}",
            hint="check the path of the case folder or export",
        ) from None
    odd, unread = _by_content(walk.passed)
    walk.issues += unread
    files = sorted([*(Path(f.path) for f in walk.files), *odd])
    if not files and walk.issues:
        first = walk.issues[0]
        raise NoFindingsError(
            f"{p}: no findings file could be read ({first.source}: {first.problem})",
            hint="fix or remove that path, or export the findings again",
        )
    if not files:
        raise NoFindingsError(
            f"{p}: no findings files (*.json, *.jsonl, *.json.gz) in this folder",
            hint="export findings with `aws guardduty get-findings` or from the console into it",
        )
    if walk.issues and issues is None:
        first = walk.issues[0]
        raise NoFindingsError(f"{first.source}: {first.problem}", hint="fix or remove that path")
    if issues is not None:
        issues += walk.issues
    return files


def _by_content(passed: list[tuple[str, str]]) -> tuple[list[Path], list[DataIssue]]:
    """The files of a findings folder not named like findings files (``passed`` by the walk)
    that hold findings JSON, plain or compressed (:func:`torinvest.sniff.sniff`: read as
    findings files), and one issue per archive or zstd file (it may hold findings and is not
    read). Other files (notes, images…) say nothing."""
    taken: list[Path] = []
    issues: list[DataIssue] = []
    for path, rel in passed[:MAX_SNIFFED]:
        if rel.rpartition("/")[2].startswith("."):
            continue
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue  # a pipe or device is never opened
            found = sniff(read_head(path))
        except OSError:
            continue
        if found is None:
            continue
        if found.kind == "findings":
            taken.append(Path(path))
        elif found.kind == "findings-text":
            issues.append(
                DataIssue(
                    path,
                    f"{found.what}: not read, so the findings in it were not read; {CLI_OUTPUT_DO}",
                    unread=True,
                )
            )
        elif found.kind in ("archive", "compressed"):
            issues.append(
                DataIssue(
                    path,
                    f"{found.what}: not read (torinvest does not open it), so the findings in "
                    "it, if any, were not read; extract or decompress it into the folder (a "
                    "*.json, *.jsonl or *.json.gz file) and re-run",
                    unread=True,
                )
            )
    return taken, issues


#: At most this many files not named like findings files are looked at in one folder.
MAX_SNIFFED = 2000


def read_findings_file(
    path: Path, rejected: dict[str, DataIssue] | None = None
) -> tuple[list[Finding], list[DataIssue]]:
    """All findings in one file, and the problems met. Never raises for bad content.

    ``rejected`` (when given) gets the ID → issue of each finding read but left out."""
    name = str(path)
    try:
        data = path.read_bytes()
        data = inflate(data, MAX_FINDINGS_BYTES)  # gzip/xz/bzip2 by their magic bytes
        data = json_utf8(data)  # a BOM, UTF-16/32 (PowerShell's `>`)
    except TooLargeError as e:
        problem = f"{e} (a decompression bomb?): not read; decompress it yourself if it is real"
        return [], [DataIssue(name, problem)]
    except (*DAMAGED, OSError) as e:
        return [], [DataIssue(name, f"cannot read the file: {e}")]
    if not data.strip():
        return [], [DataIssue(name, "the file is empty")]
    try:
        doc, repairs = read_json(data)
    except orjson.JSONDecodeError as whole_error:
        lines = [ln for ln in data.splitlines() if ln.strip()]
        if len(lines) < 2 or not _is_json(lines[0]):
            # One document (pretty-printed or not) that does not parse: one issue for the file.
            return [], [_json_issue(name, whole_error, data)]
        return _read_json_lines(name, lines, rejected)
    found, issues = extract_findings(doc, name, rejected)
    return found, [*issues, *_repaired(name, repairs, found)]


def _repaired(name: str, repairs: JsonRepairs, found: list[Finding]) -> list[DataIssue]:
    """The issue of a findings text :func:`torinvest.jsonread.loads` repaired (lone surrogate
    escapes, NaN or Infinity), naming the findings that hold what was put in."""
    if not repairs:
        return []
    values = [f.original if f.original is not None else f.data for f in found]
    names = [f"finding {f.id or '(no id)'}" for f in found]
    return [DataIssue(name, repairs.issue_text(values, names))]


def _is_json(line: bytes) -> bool:
    try:
        read_json(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _json_issue(name: str, e: orjson.JSONDecodeError, data: bytes) -> DataIssue:
    what = not_json(data)
    if what is not None:
        do = CLI_OUTPUT_DO if "AWS CLI" in what else "export or download the findings again"
        return DataIssue(name, f"{what}: not read, so the findings in it were not read; {do}")
    return DataIssue(
        name,
        f"invalid JSON (line {e.lineno}, column {e.colno}: {e.msg}); {cut_or_damaged(e, data)}",
    )


def _read_json_lines(
    name: str, lines: list[bytes], rejected: dict[str, DataIssue] | None = None
) -> tuple[list[Finding], list[DataIssue]]:
    findings: list[Finding] = []
    issues: list[DataIssue] = []
    #: the last line's cut, if it is a cut page: pages saved one a line (each but the last with
    #: its NextToken) are whole when the last one has none
    cut: DataIssue | None = None
    for lineno, line in enumerate(lines, start=1):
        where = f"{name}:{lineno}"
        cut = None
        try:
            doc, repairs = read_json(line)
        except orjson.JSONDecodeError as e:
            issues.append(DataIssue(where, f"invalid JSON: {e.msg}", unread=True))
            continue
        f, i = extract_findings(doc, where, rejected, last_page=False)
        findings.extend(f)
        issues.extend([*i, *_repaired(where, repairs, f)])
        said = findings_cut(doc)
        cut = DataIssue(where, said, unread=True) if said else None
    return findings, [*issues, *([cut] if cut is not None else [])]


def read_findings(paths: str | Path | Iterable[str | Path]) -> FindingsResult:
    """Read findings from files and folders (every export shape), deduplicated on finding ID.

    Raises :class:`NoFindingsError` when there is no findings file at all; bad files become
    data issues, and a file from which no finding could be read is in ``failed`` (when every file
    failed, :meth:`FindingsResult.require_looked` raises). When the same finding appears twice,
    the most recently updated copy wins.
    """
    roots = [paths] if isinstance(paths, str | Path) else list(paths)
    result = FindingsResult()
    for root in roots:
        for f in finding_files(root, result.issues):
            found, issues = read_findings_file(f, result.rejected)
            result.sources.append(str(f))
            result.findings.extend(found)
            result.issues.extend(issues)
            if not found and issues:
                result.failed.append(str(f))
    result.findings = _dedupe(result.findings, result.issues)
    for f in result.findings:
        result.rejected.pop(f.id, None)  # a good copy elsewhere wins
    return result


#: What no update of a finding changes: copies of one finding ID that differ in these are not
#: one finding's versions (a hand-edited or mixed-up export), and which is right is unknown.
IDENTITY = (
    ("type", ("type",)),
    ("account", ("accountId",)),
    ("region", ("region",)),
    ("access key", ("resource", "accessKeyDetails", "accessKeyId")),
    ("user name", ("resource", "accessKeyDetails", "userName")),
    ("principal", ("resource", "accessKeyDetails", "principalId")),
)


def updated_at(f: Finding) -> pd.Timestamp | None:
    """A finding's ``updatedAt`` as a UTC time (any offset: ``…+09:00`` is compared in UTC,
    never as text); None when it is missing or not a time."""
    raw = f.data.get("updatedAt")
    if not isinstance(raw, str) or not raw.strip():
        return None
    ts = pd.to_datetime(raw.strip(), utc=True, format="ISO8601", errors="coerce")
    return None if pd.isna(ts) else ts


def _dedupe(findings: Iterable[Finding], issues: list[DataIssue] | None = None) -> list[Finding]:
    """One copy per finding ID: the one updated last (``updatedAt`` compared as UTC times; a
    copy whose ``updatedAt`` is not a time never wins over one whose is, and is named in
    ``issues``). Copies that disagree on what a finding's updates never change
    (:data:`IDENTITY`) are named in ``issues``, with the copy kept."""
    best: dict[str, tuple[Finding, pd.Timestamp | None]] = {}
    copies: dict[str, list[Finding]] = {}
    for f in findings:
        copies.setdefault(f.id, []).append(f)
        when = updated_at(f)
        prev = best.get(f.id)
        if prev is None or (when is not None and (prev[1] is None or when > prev[1])):
            best[f.id] = (f, when)
    if issues is not None:
        for fid, found in copies.items():
            if len(found) > 1:
                issues += _untimed(fid, found, best[fid][0])
                issues += _disagreement(fid, found, best[fid][0])
    return [f for f, _ in best.values()]


def _untimed(fid: str, copies: list[Finding], kept: Finding) -> list[DataIssue]:
    """One issue per copy of ``fid`` whose ``updatedAt`` is not a time (so it cannot be told
    whether it is the newest): it is not used unless no copy has a time."""
    out = []
    for f in copies:
        if updated_at(f) is None:
            used = "used, as no copy has one" if f is kept else f"not used ({kept.origin} is)"
            out.append(
                DataIssue(
                    f"finding {fid} in {f.origin}",
                    f"{len(copies)} copies of this finding, and this one has no usable updatedAt, "
                    f"so it cannot be told whether it is the newest: {used}. Re-export the "
                    "finding",
                )
            )
    return out


def _identity(f: Finding, path: tuple[str, ...]) -> str | None:
    value: object = f.data
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return None if value is None or value == "" else str(value)


def _disagreement(fid: str, copies: list[Finding], kept: Finding) -> list[DataIssue]:
    """One issue when the copies of ``fid`` differ in :data:`IDENTITY` (none when they agree)."""
    differs = []
    for name, path in IDENTITY:
        values = {_identity(f, path) for f in copies} - {None}  # a copy that does not say
        if len(values) > 1:  # does not contradict
            shown = ", ".join(f"{_identity(f, path) or '(none)'} in {f.origin}" for f in copies)
            differs.append(f"{name} ({shown})")
    if not differs:
        return []
    tie = sum(updated_at(f) == updated_at(kept) for f in copies) > 1
    which = (
        f"the first copy read, {kept.origin}, is used: they were updated at the same time, so "
        "which is right cannot be told"
        if tie
        else f"the copy updated last, {kept.origin}, is used"
    )
    return [
        DataIssue(
            f"finding {fid}",
            f"{len(copies)} copies disagree on what a finding's updates never change: "
            f"{'; '.join(differs)}; {which}. Check the finding in GuardDuty and remove the "
            "wrong copy",
        )
    ]
