"""Parsers: bytes of one list → observations, and the problems that did not stop the file
(TorDNSEL/CollecTor, plain IP lists, interval CSVs).
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable
from datetime import date, datetime

import numpy as np
import pandas as pd
import stem.descriptor

from torinvest.tor.records import ExitListError, _frame, _observed_span, _us, normalize_ip

TORDNSEL_TYPE = "tordnsel 1.0"
# Patterns start with a literal newline (no ``^``) so that the regex engine can jump between
# candidates: 10x faster on a month of hourly lists. Run them on b"\n" + content.
_EXIT_ADDRESS_RE = re.compile(
    rb"\nExitAddress[ \t]+(\S+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[ \t]*(?=\r?\n|\r?$)"
)
_EXIT_ADDRESS_LINE_RE = re.compile(rb"\nExitAddress(?=[ \t\r\n]|$)")
_EXIT_NODE_RE = re.compile(rb"\nExitNode(?=[ \t\r\n]|$)")
# --------------------------------------------------------------------------------------------
# parsers: bytes → observations (and problems that did not stop the file)
# --------------------------------------------------------------------------------------------
#: Line numbers an issue names (the count says how many there are in all).
_LINE_EXAMPLES = 5
_TORDNSEL_TIME = rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
#: A well-formed TorDNSEL line (ExitAddress lines are checked further: address and time).
_TORDNSEL_LINE_RE = re.compile(
    rb"(?:@type \S.*|Downloaded " + _TORDNSEL_TIME + rb"|ExitNode [0-9A-Fa-f]{40}"
    rb"|(?:Published|LastStatus) "
    + _TORDNSEL_TIME
    + rb"|ExitAddress (\S+) ("
    + _TORDNSEL_TIME
    + rb")|#.*)?[ \t]*\r?"
)
_TORDNSEL_KEYWORDS = (
    b"\nExitNode ",
    b"\nExitAddress ",
    b"\nPublished ",
    b"\nLastStatus ",
    b"\n@type ",
    b"\nDownloaded ",
)


def skipped_lines_problem(
    count: int,
    total: int,
    why: str,
    lines: Iterable[int | str],
    first: str | None = None,
    *,
    unit: str = "lines",
) -> str:
    """The one problem a list with skipped lines reports: how many of how many, why, the first
    few line numbers and the first such line (``lines`` may be ``member:line`` in archives)."""
    shown = [str(n) for n in list(lines)[:_LINE_EXAMPLES]]
    more = "…" if count > len(shown) else ""
    where = f"line{'s' if count > 1 else ''} {', '.join(shown)}{more}"
    text = f"{count:,} of {total:,} {unit} skipped ({why}): {where}"
    return text + (f"; first: {first[:60]!r}" if first is not None else "")


def _line_count(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


@functools.lru_cache(maxsize=1 << 16)
def _exit_time_ok(text: bytes) -> bool:
    try:
        datetime.strptime(text.decode("ascii"), "%Y-%m-%d %H:%M:%S")
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _pair_ok(pair: tuple[bytes, bytes]) -> bool:
    return normalize_ip(pair[0].decode("ascii", "replace")) is not None and _exit_time_ok(pair[1])


def _tordnsel_bad_lines(data: bytes) -> tuple[list[int], str | None]:
    """Line numbers (1-based) of the lines a TorDNSEL parse skips, and the first such line:
    lines that are not TorDNSEL, ExitAddress lines before any ExitNode, and ExitAddress lines
    with an unreadable address or time."""
    bad: list[int] = []
    first: str | None = None
    in_node = False
    for number, line in enumerate(data.split(b"\n"), start=1):
        m = _TORDNSEL_LINE_RE.fullmatch(line)
        ok = m is not None
        if ok and line.startswith(b"ExitNode"):
            in_node = True
        elif ok and m is not None and m.group(1) is not None:
            ok = in_node and _pair_ok((m.group(1), m.group(2)))
        if not ok:
            bad.append(number)
            first = first if first is not None else line.decode("utf-8", "replace").strip()
    if data.endswith(b"\n") and bad and bad[-1] > _line_count(data):
        bad.pop()
    return bad, first


def _tordnsel_looks_clean(data: bytes, exit_lines: int, kept: int) -> bool:
    """Whether every line of a TorDNSEL list starts with a keyword and every ``ExitAddress``
    line (all ``exit_lines`` of them after the first ExitNode) was ``kept``: a test at C speed
    (byte counts) that spares clean lists of a month's archive the line-by-line scan."""
    text = b"\n" + data
    lines = text.count(b"\n") - (1 if text.endswith(b"\n") else 0)
    keyword_lines = sum(text.count(k) for k in _TORDNSEL_KEYWORDS)
    return kept == exit_lines == text.count(b"\nExitAddress") and keyword_lines == lines


def _tordnsel_problems(data: bytes, bad: list[int], first: str | None) -> list[str]:
    if not bad:
        return []
    why = "not a TorDNSEL line, or an unreadable address or time"
    return [skipped_lines_problem(len(bad), _line_count(data), why, bad, first)]


def parse_tordnsel(data: bytes, *, list_name: str) -> tuple[pd.DataFrame, list[str]]:
    """TorDNSEL / CollecTor exit list → one point observation per ``ExitAddress`` line.

    Parsed with ``stem`` (``descriptor_type='tordnsel 1.0'``); the ``@type`` header is optional.
    A line stem cannot read makes the line parser (:func:`_exit_address_pairs`, which keeps
    what stem keeps) read the file instead. Every line skipped — not a TorDNSEL line, an
    ``ExitAddress`` before any ``ExitNode``, an unreadable address or time — is counted in
    one problem with its line numbers. Raises :class:`ExitListError` when nothing in it is an
    exit address.
    """
    bad, first = _tordnsel_bad_lines(data)
    try:
        descriptors = list(
            stem.descriptor.parse_file(
                io.BytesIO(data), descriptor_type=TORDNSEL_TYPE, validate=False
            )
        )
    except (ValueError, TypeError):
        pairs, _ = _exit_address_pairs(data)
        frame, _ = _pairs_frame([p for p in pairs if _pair_ok(p)], list_name)
    else:
        ips: list[str] = []
        times: list[datetime] = []
        for desc in descriptors:
            for address, when in desc.exit_addresses:
                norm = normalize_ip(address)
                if norm is not None:
                    ips.append(norm)
                    times.append(when)
        t = np.array(times, dtype="datetime64[us]").astype("int64")
        frame = _frame(ips, t, t, list_name)
    if not len(frame):
        problem = "not a Tor exit list: no readable ExitAddress line"
        if bad:
            problem += f" (first bad line {bad[0]}: {(first or '')[:40]!r})"
        raise ExitListError(list_name, problem)
    return frame, _tordnsel_problems(data, bad, first)


def _exit_address_pairs(data: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
    """(address, time) of every well-formed ``ExitAddress`` line after the first ``ExitNode``, and
    how many ``ExitAddress`` lines there are.

    The line-level equivalent of stem's parser (the same lines kept; the tests check it against
    stem on every bundled list), used for archives: stem takes ~45 ms per hourly list, ~30 s for
    a month of them.
    """
    text = b"\n" + data
    start = _EXIT_NODE_RE.search(text)
    if start is None:
        return [], 0
    body = text[start.start() :]
    return _EXIT_ADDRESS_RE.findall(body), len(_EXIT_ADDRESS_LINE_RE.findall(body))


def _pairs_frame(pairs: Iterable[tuple[bytes, bytes]], list_name: str) -> tuple[pd.DataFrame, int]:
    """Observations from (address, time) byte pairs, oldest first, and how many were unreadable."""
    pairs = list(pairs)
    addresses = np.array([a for a, _ in pairs], dtype=object)
    times = np.array([t for _, t in pairs], dtype=object)
    a_codes, a_uniques = pd.factorize(addresses)
    ips = np.array([normalize_ip(a.decode("ascii", "replace")) for a in a_uniques] + [None])
    ips = ips[a_codes]
    t_codes, t_uniques = pd.factorize(times)
    parsed = pd.to_datetime(
        pd.Series([t.decode("ascii") for t in t_uniques], dtype=object),
        format="%Y-%m-%d %H:%M:%S",
        utc=True,
        errors="coerce",
    )
    t_us, t_ok = _us(parsed)
    t = t_us[t_codes]
    ok = pd.notna(ips) & t_ok[t_codes]
    frame = _frame(ips[ok], t[ok], t[ok], list_name)
    frame = frame.sort_values(["first_seen", "ip"], kind="stable").reset_index(drop=True)
    return frame, int((~ok).sum())


def parse_plain_list(
    data: bytes, *, observed: date | datetime | str, list_name: str
) -> tuple[pd.DataFrame, list[str]]:
    """A list of addresses, one a line (``#`` comments skipped), all observed at ``observed``.

    ``observed`` is a date (the list's UTC day: observations span that day) or a time (a point).
    A line that is not an address, wherever it is, is skipped and counted (one problem with the
    first line numbers). Raises :class:`ExitListError` when no line is an address.
    """
    first, last = _observed_span(observed, list_name)
    ips: list[str] = []
    bad: list[int] = []
    first_bad: str | None = None
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        norm = normalize_ip(text.split()[0])
        if norm is None:
            bad.append(number)
            first_bad = first_bad if first_bad is not None else text
            continue
        ips.append(norm)
    if not ips:
        if bad:
            raise ExitListError(
                list_name,
                f"not a Tor exit list: none of its {len(bad):,} lines is an IP address "
                f"(first: {(first_bad or '')[:40]!r})",
            )
        raise ExitListError(list_name, "no address in the list (empty or only comments)")
    problems = []
    if bad:
        total = len(ips) + len(bad)
        problems.append(skipped_lines_problem(len(bad), total, "not an IP address", bad, first_bad))
    n = len(ips)
    return (
        _frame(ips, np.full(n, first, "int64"), np.full(n, last, "int64"), list_name),
        problems,
    )


_INTERVAL_NEEDS = "ip, first_seen_utc, last_seen_utc"


def _interval_header(row: list[str]) -> tuple[int, int, int] | None:
    """Column positions of ip, first seen and last seen in a header row, or None."""
    cols = {c.strip().lower(): i for i, c in enumerate(row)}
    ip = cols.get("ip")
    first = cols.get("first_seen_utc", cols.get("first_seen"))
    last = cols.get("last_seen_utc", cols.get("last_seen"))
    if ip is None or first is None or last is None:
        return None
    return ip, first, last


def parse_intervals(data: bytes, *, list_name: str) -> tuple[pd.DataFrame, list[str]]:
    """CSV ``ip,first_seen_utc,last_seen_utc[,n_snapshots]``: each row an observation throughout.

    ``first_seen``/``last_seen`` are accepted as column names too. Lines before the header,
    rows with too few cells, an unreadable address or time, or ``first > last`` are skipped and
    counted in one problem with their line numbers.
    """
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: tuple[int, int, int] | None = None
    before: list[tuple[int, str]] = []
    ips_raw: list[str] = []
    firsts: list[str] = []
    lasts: list[str] = []
    numbers: list[int] = []
    short: list[tuple[int, str]] = []
    try:
        for row in reader:
            number = reader.line_num
            if not row or not "".join(row).strip():
                continue
            if header is None:
                header = _interval_header(row)
                if header is None:
                    before.append((number, ",".join(row)))
                continue
            if len(row) <= max(header):
                short.append((number, ",".join(row)))
                continue
            ips_raw.append(row[header[0]])
            firsts.append(row[header[1]])
            lasts.append(row[header[2]])
            numbers.append(number)
    except csv.Error as e:
        raise ExitListError(list_name, f"not a readable CSV: {e}") from None
    if header is None:
        raise ExitListError(
            list_name, f"not a Tor exit list: an interval file needs the columns {_INTERVAL_NEEDS}"
        )
    codes, uniques = pd.factorize(pd.Series(ips_raw, dtype=object))
    normalized = np.array([normalize_ip(u) for u in uniques] + [None], dtype=object)
    ips = normalized[codes]  # code -1 (missing) picks the trailing None
    first, ok_first = _us(pd.Series(firsts, dtype=object).replace("", None))
    last, ok_last = _us(pd.Series(lasts, dtype=object).replace("", None))
    ok = pd.notna(ips) & ok_first & ok_last
    ok &= np.where(ok, first <= last, False)
    rejected = [(numbers[i], f"{ips_raw[i]},{firsts[i]},{lasts[i]}") for i in np.flatnonzero(~ok)]
    bad = sorted([*before, *short, *rejected])
    if not ok.any():
        problem = "not a Tor exit list: no row with a readable address and times"
        if bad:
            problem += f" ({len(bad):,} bad row(s), first at line {bad[0][0]}: {bad[0][1][:40]!r})"
        raise ExitListError(list_name, problem)
    problems = []
    if bad:
        total = len(numbers) + len(before) + len(short)
        why = "bad address or times"
        if before or short:
            why = "not a row of ip, first and last seen, or a bad address or time"
        problems.append(
            skipped_lines_problem(len(bad), total, why, [n for n, _ in bad], bad[0][1], unit="rows")
        )
    return _frame(ips[ok], first[ok], last[ok], list_name), problems


# --------------------------------------------------------------------------------------------
# a list cut short
# --------------------------------------------------------------------------------------------
def cut_short(data: bytes, fmt: str) -> str | None:
    """Why one list (decompressed bytes of format ``tordnsel``, ``plain`` or ``interval``) is
    cut short — its end is missing —, or None when nothing shows it.

    Every list the kit reads ends with a newline, so a last line without one that is not a
    whole line of its format (a TorDNSEL line, an IP address, an interval row) was cut: a
    download or a copy that stopped early. A TorDNSEL list is also cut when its last entry
    (``ExitNode …``) has no ``ExitAddress`` line. A cut that falls exactly at the end of a line
    cannot be seen (and a cut list names fewer exits than were there: it must not rule Tor out).
    """
    if not data.endswith((b"\n", b"\r")):
        last = data[data.rfind(b"\n") + 1 :]
        if not _whole_last_line(data, last, fmt):
            text = last.decode("utf-8", "replace").strip()
            return f"its last line ({text[:60]!r}) is incomplete and has no newline"
    if fmt == "tordnsel":
        text = b"\n" + data
        node = text.rfind(b"\nExitNode")
        if node >= 0 and not _EXIT_ADDRESS_LINE_RE.search(text, node + 1):
            return "its last entry (ExitNode …) has no ExitAddress line"
    return None


def _whole_last_line(data: bytes, last: bytes, fmt: str) -> bool:
    """Whether ``last`` (the last line of ``data``, no newline after it) is a whole line."""
    if fmt == "tordnsel":
        m = _TORDNSEL_LINE_RE.fullmatch(last)
        return m is not None and (m.group(1) is None or _pair_ok((m.group(1), m.group(2))))
    if fmt == "plain":
        text = last.decode("utf-8", "replace").split("#", 1)[0].strip()
        return not text or normalize_ip(text.split()[0]) is not None
    if fmt == "interval":
        for line in io.BytesIO(data[: len(data) - len(last)]):  # lazily: the header is near
            row = next(csv.reader([line.decode("utf-8", "replace").rstrip("\r\n")]), [])
            if _interval_header(row) is not None:
                try:
                    _, problems = parse_intervals(line + last, list_name="")
                except ExitListError:
                    return False
                return not problems
        return True  # no header before it: the parser says what is wrong
    return True
