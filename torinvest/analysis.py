"""What the key did, made readable: per-IP table, baseline, sensitive actions, signals, score.

Every function here is pure: it takes the events frame (:data:`torinvest.schema.EVENTS_COLUMNS`)
and returns a frame or plain objects; nothing reads AWS. The Tor status of each row is an input:
a nullable boolean column ``tor`` (True = a listed exit near that time, False = the loaded lists
cover that time and do not list the IP, NA = no list covers it), as
:func:`torinvest.tor.tor_status` computes it. Without that column every row's status is NA.

The work is grouped on integer codes of the categorical columns: a million events take a few
seconds (per_ip about one, signals two or three). An empty events frame gives empty results.

Texts in :class:`Signal` details can contain attacker-written values (user agents, event names
from files): render them through :func:`torinvest.safety.html_text` in HTML or Markdown.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from torinvest.errors import InputError
from torinvest.safety import term_safe
from torinvest.schema import iso_utc, utc_timestamp
from torinvest.sources.records import DerivedKey
from torinvest.targets import Target, call_targets, targets_text

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------------------------
#: How many event names (with counts) :func:`per_ip` keeps per IP.
TOP_EVENT_NAMES = 5
#: At most this many regions/user agents/keys per IP in :func:`per_ip` (the most frequent).
MAX_LIST_ITEMS = 50
#: How many IPs, keys or calls a signal's detail names before "…".
DETAIL_ITEMS = 5
#: How many characters of a user agent a signal's detail shows.
DETAIL_TEXT_CHARS = 60

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
_MITRE_RE = r"^T\d{4}(\.\d{3})? \S.*$"

#: Recon: calls whose name starts with one of these read something.
RECON_PREFIXES: tuple[str, ...] = ("List", "Describe", "Get", "Head", "Search", "Lookup", "Scan")
#: Recon burst: at least this many read calls, of at least that many distinct names, from one
#: IP within :data:`RECON_WINDOW` (two grids of windows, offset by half a window).
RECON_WINDOW = pd.Timedelta(minutes=5)
RECON_MIN_CALLS = 10
RECON_MIN_DISTINCT_CALLS = 5
#: Recon breadth: this many services, or this many regions, touched from one IP in one window.
RECON_MIN_SERVICES = 5
RECON_MIN_REGIONS = 3
#: Recon by denial: this many AccessDenied/UnauthorizedOperation errors from one IP.
RECON_MIN_DENIED = 3
#: Error codes that mean "not allowed" (regular expression, case-insensitive).
DENIED_PATTERN = (
    r"AccessDenied|UnauthorizedOperation|Unauthorized|Forbidden|NotAuthorized|AuthorizationError"
)
#: Error codes that say a resource is absent, not that the caller failed (not "failed" for
#: :func:`signals`' failed-then-succeeded pattern).
ABSENT_PATTERN = r"NoSuch|NotFound|NotExist"
#: Use of one key from two IPs within this time counts as "at once".
CONCURRENT_WINDOW = pd.Timedelta(minutes=10)

#: Weight of each signal (sensitive actions: :data:`SENSITIVE_WEIGHTS`). Weight 0 = information.
WEIGHTS: Mapping[str, int] = {
    "tor_use": 20,
    "tor_after_finding": 15,
    "tor_and_non_tor": 10,
    "tor_unknown": 0,
    "derived_key_in_use": 20,
    "derived_key_unused": 0,
    "recon_burst": 10,
    "recon_breadth": 10,
    "recon_denied": 10,
    "new_source_ip": 10,
    "new_user_agent": 5,
    "new_asn": 5,
    "no_baseline": 0,
    "concurrent_ips": 10,
    "failed_then_succeeded": 5,
    "counted_in_engine": 0,
}
#: Weight of the ``sensitive:<category>`` signal when at least one such call succeeded.
SENSITIVE_WEIGHTS: Mapping[str, int] = {
    "persistence": 25,
    "privilege-escalation": 25,
    "credential-access": 20,
    "defense-evasion": 30,
    "exfiltration": 25,
    "discovery": 5,
    "impact": 20,
}
#: A sensitive category whose calls all failed weighs this fraction of its weight.
FAILED_ONLY_FACTOR = 0.5
#: The triage score is the sum of the weights, capped here.
MAX_SCORE = 100
#: Score bands, highest first: (lowest score of the band, name).
SCORE_BANDS: tuple[tuple[int, str], ...] = ((60, "high"), (30, "medium"), (0, "low"))
#: How many signals :func:`triage_score` names as its reasons.
TOP_REASONS = 5
NOT_A_VERDICT = (
    "A triage aid, not a verdict: it orders what to read first. Decide from the events, "
    "the signals' details and what the key's owner says."
)

_EPOCH = pd.Timestamp(0, tz="UTC")
_UTC = "datetime64[us, UTC]"
_NEEDED: tuple[str, ...] = (
    "event_time",
    "event_name",
    "event_source",
    "aws_region",
    "source_ip",
    "user_agent",
    "error_code",
    "access_key_id",
)

PER_IP_COLUMNS: tuple[str, ...] = (
    "source_ip",
    "events",
    "failed",
    "first_seen",
    "last_seen",
    "regions",
    "user_agents",
    "event_names",
    "access_keys",
    "derived",
    "tor",
    "tor_events",
    "country",
    "asn",
    "asn_org",
    "geo_source",
    "new",
)
BASELINE_COLUMNS: tuple[str, ...] = (
    "kind",
    "value",
    "events_before",
    "events_during",
    "first_seen",
    "last_seen",
    "new",
)
BASELINE_KINDS: tuple[str, ...] = ("source_ip", "user_agent", "asn")
SENSITIVE_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_id",
    "event_name",
    "event_source",
    "aws_region",
    "source_ip",
    "access_key_id",
    "user_name",
    "user_agent",
    "error_code",
    "failed",
    "tor",
    "derived",
    "category",
    "mitre_technique",
    "note",
)
#: Columns :func:`sensitive_events` adds with ``targets=True``: what each call acted on, as one
#: line (string, NA when nothing is named) and as :class:`torinvest.targets.Target` tuples.
SENSITIVE_TARGET_COLUMNS: tuple[str, ...] = ("target", "targets")


# --------------------------------------------------------------------------------------------
# small helpers over the events frame
# --------------------------------------------------------------------------------------------
def _require(events: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in events.columns]
    if missing:
        raise InputError(
            f"the events frame lacks column(s) {', '.join(missing)}",
            hint="pass the frame a torinvest source returned (torinvest.schema.EVENTS_COLUMNS)",
        )


def tor_column(events: pd.DataFrame) -> pd.Series:
    """The ``tor`` column as nullable boolean; all NA when the frame has none."""
    if "tor" not in events.columns:
        return pd.Series(pd.NA, index=events.index, dtype="boolean")
    return events["tor"].astype("boolean")


def codes_and_labels(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for NA) and the labels (object array of str) of a column."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.int64, copy=False)
        labels = s.cat.categories
    else:
        codes, labels = pd.factorize(s, use_na_sentinel=True)
        codes = codes.astype(np.int64, copy=False)
    return codes, np.asarray([str(v) for v in labels], dtype=object)


def label_rank(labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Each label's position in name order (by code point, as SQL engines sort text): ties
    between counts broken by it pick the same values however the labels were coded."""
    rank = np.empty(len(labels), dtype=np.int64)
    rank[np.argsort(np.asarray(labels, dtype=object).astype(str), kind="stable")] = np.arange(
        len(labels)
    )
    return rank


def _label_test(labels: np.ndarray, pattern: str) -> np.ndarray:
    if not len(labels):
        return np.zeros(0, dtype=bool)
    return (
        pd.Series(labels, dtype="string")
        .str.contains(pattern, case=False, regex=True)
        .to_numpy(dtype=bool, na_value=False)
    )


def _mask(codes: np.ndarray, label_hits: np.ndarray) -> np.ndarray:
    """Per-row mask from a per-label mask (code -1, NA, is False)."""
    return np.append(label_hits, False)[codes]


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (by sorting: numpy's hash-based ``unique`` is slow on big arrays)."""
    ordered = np.sort(values)
    if not len(ordered):
        return ordered
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


def _bools(s: pd.Series) -> np.ndarray:
    """A nullable boolean column as plain bool (NA is False)."""
    return s.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _is_ip_label(labels: np.ndarray) -> np.ndarray:
    """Which labels are IP addresses (not ``AWS Internal`` or a service name)."""
    out = np.zeros(len(labels), dtype=bool)
    for i, v in enumerate(labels):
        try:
            ipaddress.ip_address(v)
        except ValueError:
            continue
        out[i] = True
    return out


def _seconds(times: pd.Series) -> np.ndarray:
    """Event times as float seconds since the epoch (NaN for NaT)."""
    return ((times - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype=float, na_value=np.nan)


def _hm(t: Any) -> str:
    ts = utc_timestamp(t)
    return "?" if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S")


def _listing(items: Sequence[str], limit: int = DETAIL_ITEMS, total: int | None = None) -> str:
    """The first ``limit`` items, then how many more (``total`` when items were cut already)."""
    total = len(items) if total is None else total
    shown = ", ".join(items[:limit])
    return shown + (f", … (+{total - min(limit, len(items))})" if total > limit else "")


def _na(v: Any) -> Any:
    """None for a missing value; numpy scalars as Python ones (JSON-ready)."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _short(value: Any, limit: int = DETAIL_TEXT_CHARS) -> str:
    """Attacker text for a detail line: control characters escaped, the middle cut out."""
    text = term_safe(value)
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def window_of(findings: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The finding window of a findings frame: (earliest first_seen, latest last_seen), or None."""
    if findings is None or findings.empty:
        return None
    start, end = (
        utc_timestamp(findings["first_seen"].min()),
        utc_timestamp(findings["last_seen"].max()),
    )
    if start is None or end is None:
        return None
    return start, end


# --------------------------------------------------------------------------------------------
# geo: from the findings, or a MaxMind database
# --------------------------------------------------------------------------------------------
GeoLookup = Callable[[str], Mapping[str, Any] | None]
GeoInput = str | Path | Sequence[str | Path] | GeoLookup


class GeoIP:
    """Country and ASN of an IP from MaxMind databases (GeoLite2/GeoIP2 City, Country, ASN, ISP).

    Needs the optional ``geoip2`` package. Calling the object with an IP returns a dict with
    ``country``, ``asn`` and ``asn_org`` (the keys that the databases answer), or None.
    """

    def __init__(self, paths: str | Path | Sequence[str | Path]) -> None:
        try:
            import geoip2.database
            import geoip2.errors
        except ImportError as e:
            raise InputError(
                "a MaxMind database was given but the geoip2 package is not installed",
                hint="pip install geoip2 (optional), or leave geoip unset: the findings' "
                "remoteIpDetails still give country and ASN for the Tor IPs",
            ) from e
        self._not_found: type[Exception] = geoip2.errors.AddressNotFoundError
        items = [paths] if isinstance(paths, str | Path) else list(paths)
        self._readers: list[Any] = []
        for p in items:
            path = Path(p).expanduser()
            if not path.is_file():
                self.close()
                raise InputError(
                    f"MaxMind database {path} does not exist",
                    hint="pass the path of a .mmdb file (GeoLite2-Country, -City or -ASN)",
                )
            self._readers.append(geoip2.database.Reader(str(path)))

    def __call__(self, ip: str) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for reader in self._readers:
            kind = str(reader.metadata().database_type)
            try:
                if "ASN" in kind or "ISP" in kind:
                    rec = reader.asn(ip) if "ASN" in kind else reader.isp(ip)
                    number = rec.autonomous_system_number
                    out["asn"] = None if number is None else str(number)
                    out["asn_org"] = rec.autonomous_system_organization
                elif "City" in kind:
                    out["country"] = reader.city(ip).country.name
                elif "Country" in kind:
                    out["country"] = reader.country(ip).country.name
            except (self._not_found, ValueError):
                continue
        return out or None

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._readers = []

    def __enter__(self) -> GeoIP:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _findings_geo(findings: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["source_ip", "country", "asn", "asn_org"]
    if findings is None or findings.empty or "tor_ip" not in findings.columns:
        return pd.DataFrame({c: pd.Series([], dtype="string") for c in cols})
    geo = findings[["tor_ip", "country", "asn", "asn_org"]].rename(columns={"tor_ip": "source_ip"})
    geo = geo.astype("string").dropna(subset=["source_ip"])
    return geo.drop_duplicates("source_ip").reset_index(drop=True)


def _add_geo(table: pd.DataFrame, findings: pd.DataFrame | None, geoip: GeoInput | None) -> None:
    """Fill country/asn/asn_org/geo_source in place: the findings first, then ``geoip``."""
    geo = _findings_geo(findings).set_index("source_ip")
    for col in ("country", "asn", "asn_org"):
        table[col] = table["source_ip"].map(geo[col]).astype("string")
    known = table[["country", "asn", "asn_org"]].notna().any(axis=1)
    table["geo_source"] = pd.Series(
        np.where(known, "guardduty", None), index=table.index, dtype="string"
    )
    if geoip is None:
        return
    source = nullcontext(geoip) if callable(geoip) else GeoIP(geoip)
    with source as lookup:
        for i in table.index[~known]:
            ip = table.at[i, "source_ip"]
            if ip is pd.NA or not _is_ip_label(np.array([ip], dtype=object))[0]:
                continue
            found = {k: v for k, v in (lookup(str(ip)) or {}).items() if _na(v) is not None}
            for col in ("country", "asn", "asn_org"):
                if col in found:
                    table.at[i, col] = str(found[col])
                    table.at[i, "geo_source"] = "geoip"


# --------------------------------------------------------------------------------------------
# per IP
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Pairs:
    """The distinct (ip code, value code) pairs of two columns, with their counts."""

    ip: np.ndarray
    value: np.ndarray
    n: np.ndarray
    labels: np.ndarray
    rank: np.ndarray  # rank of each value code in alphabetical order of the labels

    @classmethod
    def of(cls, ip: np.ndarray, values: pd.Series) -> _Pairs:
        vcodes, labels = codes_and_labels(values)
        keep = vcodes >= 0
        width = np.int64(len(labels) + 1)
        combined = (ip[keep] + 1) * width + vcodes[keep]
        uniq, n = np.unique(combined, return_counts=True)
        rank = np.empty(len(labels), dtype=np.int64)
        rank[np.argsort(labels.astype(str), kind="stable")] = np.arange(len(labels))
        return cls(uniq // width - 1, uniq % width, n, labels, rank)

    def lists(self, *, limit: int) -> dict[int, list[str]]:
        """ip code → its ``limit`` most frequent values, sorted by value."""
        order = np.lexsort((self.rank[self.value], -self.n, self.ip))
        ip, value = self.ip[order], self.value[order]
        keep = _group_position(ip) < limit
        ip, value = ip[keep], value[keep]
        again = np.lexsort((self.rank[value], ip))
        ip, value = ip[again], value[again]
        bounds = np.flatnonzero(np.diff(ip)) + 1
        return {
            int(group_ip[0]): self.labels[codes].tolist()
            for group_ip, codes in zip(np.split(ip, bounds), np.split(value, bounds), strict=True)
            if len(group_ip)
        }

    def counts(self, limit: int) -> dict[int, dict[str, int]]:
        """ip code → {value: count} of its ``limit`` most frequent values, most first."""
        order = np.lexsort((self.rank[self.value], -self.n, self.ip))
        ip, value, n = self.ip[order], self.value[order], self.n[order]
        keep = _group_position(ip) < limit
        out: dict[int, dict[str, int]] = {}
        for i, v, c in zip(
            ip[keep].tolist(), self.labels[value[keep]], n[keep].tolist(), strict=True
        ):
            out.setdefault(i, {})[v] = c
        return out


def _group_position(sorted_keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal keys (keys sorted)."""
    if not len(sorted_keys):
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
    sizes = np.diff(np.r_[starts, len(sorted_keys)])
    return np.arange(len(sorted_keys)) - np.repeat(starts, sizes)


def _tor_status(tor_true: pd.Series, tor_false: pd.Series, events: pd.Series) -> pd.Series:
    """Any True → True; all rows covered and False → False; else NA."""
    status = pd.Series(pd.NA, index=events.index, dtype="boolean")
    status[tor_false == events] = False
    status[tor_true > 0] = True
    return status


def empty_per_ip() -> pd.DataFrame:
    """A per-IP frame without rows: the columns and dtypes of :func:`per_ip`."""
    dtypes = {
        "source_ip": "string",
        "events": "Int64",
        "failed": "Int64",
        "first_seen": _UTC,
        "last_seen": _UTC,
        "regions": object,
        "user_agents": object,
        "event_names": object,
        "access_keys": object,
        "derived": "boolean",
        "tor": "boolean",
        "tor_events": "Int64",
        "country": "string",
        "asn": "string",
        "asn_org": "string",
        "geo_source": "string",
        "new": "boolean",
    }
    return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in PER_IP_COLUMNS})


def per_ip(
    events: pd.DataFrame,
    *,
    findings: pd.DataFrame | None = None,
    geoip: GeoInput | None = None,
    window_start: Any = None,
    top: int = TOP_EVENT_NAMES,
) -> pd.DataFrame:
    """One row per source IP (``sourceIPAddress`` values that are not IPs, such as service
    names, are rows too; a missing one is an NA row), ordered by first activity.

    ======================= =================== ================================================
    column                  dtype               meaning
    ======================= =================== ================================================
    source_ip               string              the source IP
    events, failed          Int64               calls, and calls with an error code
    first_seen, last_seen   datetime64[us, UTC] first and last call
    regions                 object (list)       regions called, sorted
    user_agents             object (list)       user agents, sorted (attacker-written)
                                                (lists keep the :data:`MAX_LIST_ITEMS` most
                                                frequent values)
    event_names             object (dict)       the ``top`` event names → count, most first
    access_keys             object (list)       access keys used, sorted
    derived                 boolean             a key minted by the suspect key was used
                                                (NA when the frame has no ``derived`` column)
    tor                     boolean             True if any call is ``tor`` True; False if
                                                every call is ``tor`` False; else NA
    tor_events              Int64               calls with ``tor`` True
    country, asn, asn_org   string              from the findings' remoteIpDetails for their
                                                Tor IP, else from ``geoip``
    geo_source              string              guardduty, geoip or NA
    new                     boolean             first seen at/after ``window_start`` and never
                                                before (see :func:`baseline`); NA without a
                                                window start or without earlier activity
    ======================= =================== ================================================

    ``findings`` is a findings frame (:func:`torinvest.findings.read_findings` …``.frame()``);
    without ``window_start`` its earliest ``first_seen`` is the window start. ``geoip`` is the
    path of one or more MaxMind databases (needs the optional ``geoip2`` package; InputError
    if it is missing) or a callable ``ip -> {"country", "asn", "asn_org"}``.
    """
    _require(events, _NEEDED)
    if window_start is None and findings is not None:
        window = window_of(findings)
        window_start = window[0] if window else None
    if events.empty:
        return empty_per_ip()
    ip, labels = codes_and_labels(events["source_ip"])
    tor = tor_column(events)
    frame = pd.DataFrame(
        {
            "ip": ip,
            "failed": events["error_code"].notna().to_numpy(),
            "tor_true": _bools(tor),
            "tor_false": _bools(~tor),
            "derived": _bools(events["derived"]) if "derived" in events.columns else False,
            "time": events["event_time"].array,
        }
    )
    g = frame.groupby("ip", sort=False).agg(
        events=("failed", "size"),
        failed=("failed", "sum"),
        tor_true=("tor_true", "sum"),
        tor_false=("tor_false", "sum"),
        derived=("derived", "any"),
        first_seen=("time", "min"),
        last_seen=("time", "max"),
    )
    table = pd.DataFrame(index=g.index)
    table["source_ip"] = pd.array([None if c < 0 else labels[c] for c in g.index], dtype="string")
    table["events"] = g["events"].astype("Int64")
    table["failed"] = g["failed"].astype("Int64")
    table["first_seen"] = g["first_seen"].astype(_UTC)
    table["last_seen"] = g["last_seen"].astype(_UTC)
    for col, source in (
        ("regions", "aws_region"),
        ("user_agents", "user_agent"),
        ("access_keys", "access_key_id"),
    ):
        lists = _Pairs.of(ip, events[source]).lists(limit=MAX_LIST_ITEMS)
        table[col] = [lists.get(c, []) for c in g.index]
    names = _Pairs.of(ip, events["event_name"]).counts(top)
    table["event_names"] = [names.get(c, {}) for c in g.index]
    table["derived"] = (
        g["derived"].astype("boolean")
        if "derived" in events.columns
        else pd.Series(pd.NA, index=g.index, dtype="boolean")
    )
    table["tor"] = _tor_status(g["tor_true"], g["tor_false"], g["events"])
    table["tor_events"] = g["tor_true"].astype("Int64")
    _add_geo(table, findings, geoip)
    table["new"] = pd.Series(pd.NA, index=table.index, dtype="boolean")
    if window_start is not None:
        base = baseline(events, window_start)
        table["new"] = table["source_ip"].map(base.flags("source_ip")).astype("boolean")
    log.debug("per_ip: %d events from %d source IPs", len(events), len(table))
    table = table.sort_values(["first_seen", "source_ip"], na_position="last", kind="stable")
    return table[list(PER_IP_COLUMNS)].reset_index(drop=True)


def ip_tor_status(counts: pd.DataFrame) -> pd.Series:
    """Per source IP of an events or counts frame with a ``tor`` column: True if any row is
    True, False if every row is False, else NA (``boolean``, indexed by IP; no NA IP)."""
    tor = tor_column(counts)
    frame = pd.DataFrame(
        {"ip": counts["source_ip"].astype("string").array, "t": _bools(tor), "f": _bools(~tor)}
    ).dropna(subset=["ip"])
    g = frame.groupby("ip", sort=True)[["t", "f"]].agg(["any", "all"])
    status = pd.Series(pd.NA, index=g.index, dtype="boolean")
    status[g[("f", "all")].to_numpy()] = False
    status[g[("t", "any")].to_numpy()] = True
    return status


def per_ip_counted(
    table: pd.DataFrame,
    counts: pd.DataFrame,
    *,
    findings: pd.DataFrame | None = None,
    geoip: GeoInput | None = None,
    window_start: Any = None,
) -> pd.DataFrame:
    """The per-IP frame an engine computed (:class:`torinvest.sources.sql.Aggregates`
    ``per_ip``: the columns of :func:`per_ip`, tor and geo NA) completed from the by-time counts
    frame with its ``tor`` column: ``tor`` (as :func:`per_ip`: any bucket True → True, every one
    False → False, else NA), ``tor_events`` (calls in buckets with ``tor`` True), geo from the
    findings/``geoip``, and ``new`` (first seen at/after ``window_start``, when anything precedes
    it; NA otherwise, as :func:`baseline` says)."""
    if window_start is None and findings is not None:
        window = window_of(findings)
        window_start = window[0] if window else None
    out = table.copy()
    if out.empty:
        return empty_per_ip()
    status = ip_tor_status(counts)
    out["tor"] = out["source_ip"].map(status).astype("boolean")
    tor_true = _bools(tor_column(counts))
    calls = counts["calls"].fillna(0).to_numpy(dtype=np.int64)
    per_ip_tor = (
        pd.Series(np.where(tor_true, calls, 0), index=counts["source_ip"].astype("string").array)
        .groupby(level=0)
        .sum()
    )
    out["tor_events"] = out["source_ip"].map(per_ip_tor).fillna(0).astype("Int64")
    _add_geo(out, findings, geoip)
    start = utc_timestamp(window_start)
    out["new"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    if start is not None and (out["first_seen"] < start).fillna(False).any():
        out["new"] = (out["first_seen"] >= start).astype("boolean")
    return out[list(PER_IP_COLUMNS)]


# --------------------------------------------------------------------------------------------
# baseline
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Baseline:
    """What the key used before the finding window, against what it used since.

    ``frame`` columns: kind (source_ip, user_agent, asn), value, events_before, events_during
    (Int64; "during" is at or after ``window_start``), first_seen, last_seen (UTC), new (boolean:
    seen during and never before; NA when there is no activity before the window at all).
    ``history_start`` is the earliest event before the window (None: no history); ``note`` says
    why "new" cannot be told, when it cannot.
    """

    window_start: pd.Timestamp
    frame: pd.DataFrame
    history_start: pd.Timestamp | None
    note: str | None = None

    @property
    def has_history(self) -> bool:
        return self.history_start is not None

    def flags(self, kind: str) -> pd.Series:
        """value → new (boolean) for one kind."""
        rows = self.frame[self.frame["kind"] == kind]
        return pd.Series(rows["new"].to_numpy(), index=rows["value"].to_numpy(), dtype="boolean")

    def new_values(self, kind: str) -> list[str]:
        """Values of one kind that are new, in order of first appearance."""
        rows = self.frame[(self.frame["kind"] == kind) & self.frame["new"].fillna(False)]
        return rows.sort_values("first_seen")["value"].astype(str).tolist()


def _empty_baseline() -> pd.DataFrame:
    dtypes = {
        "kind": "string",
        "value": "string",
        "events_before": "Int64",
        "events_during": "Int64",
        "first_seen": _UTC,
        "last_seen": _UTC,
        "new": "boolean",
    }
    return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in BASELINE_COLUMNS})


def _recode(
    codes: np.ndarray, labels: np.ndarray, mapping: Mapping[str, Any] | pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Codes/labels of ``mapping[label]`` (missing or NA → -1)."""
    lookup = mapping if isinstance(mapping, pd.Series) else pd.Series(dict(mapping), dtype=object)
    lookup = lookup[~lookup.index.duplicated()]
    mapped = pd.Series(labels, dtype=object).map(lookup)
    new_codes, new_labels = pd.factorize(mapped, use_na_sentinel=True)
    per_row = np.append(new_codes, -1)[codes]
    return per_row, np.asarray([str(v) for v in new_labels], dtype=object)


def _kind_rows(
    kind: str, codes: np.ndarray, labels: np.ndarray, before: np.ndarray, times: Any
) -> pd.DataFrame:
    keep = codes >= 0
    if not keep.any():
        return _empty_baseline()
    df = pd.DataFrame({"v": codes[keep], "before": before[keep], "time": times[keep]})
    g = df.groupby("v", sort=False).agg(
        n=("before", "size"),
        events_before=("before", "sum"),
        first_seen=("time", "min"),
        last_seen=("time", "max"),
    )
    return pd.DataFrame(
        {
            "kind": kind,
            "value": labels[g.index.to_numpy()],
            "events_before": g["events_before"].to_numpy(),
            "events_during": (g["n"] - g["events_before"]).to_numpy(),
            "first_seen": g["first_seen"].array,
            "last_seen": g["last_seen"].array,
        }
    )


def baseline(
    events: pd.DataFrame,
    window_start: Any,
    *,
    ip_asn: Mapping[str, Any] | pd.Series | None = None,
) -> Baseline:
    """Source IPs, user agents and ASNs seen before ``window_start`` against at/after it.

    A value is new when it shows at or after the window start and never before (as Amazon
    Detective's "newly observed"). When nothing at all precedes the window, "new" cannot be
    told: every flag is NA and ``note`` says so. ``ip_asn`` maps IP → ASN (for example
    ``per_ip(...).set_index("source_ip")["asn"]``); without it there are no ASN rows.
    """
    _require(events, ("event_time", "source_ip", "user_agent"))
    start = utc_timestamp(window_start)
    if start is None:
        raise InputError("baseline needs a window start", hint="pass the finding's first_seen")
    valid = events["event_time"].notna().to_numpy()
    before = (events["event_time"] < start).fillna(False).to_numpy(dtype=bool) & valid
    times = events["event_time"].array
    history = utc_timestamp(events["event_time"][before].min()) if before.any() else None
    ip, ip_labels = codes_and_labels(events["source_ip"])
    ip = np.where(valid, ip, -1)
    parts = [_kind_rows("source_ip", ip, ip_labels, before, times)]
    ua, ua_labels = codes_and_labels(events["user_agent"])
    parts.append(_kind_rows("user_agent", np.where(valid, ua, -1), ua_labels, before, times))
    if ip_asn is not None and len(ip_asn):
        asn, asn_labels = _recode(ip, ip_labels, ip_asn)
        parts.append(_kind_rows("asn", asn, asn_labels, before, times))
    parts = [p for p in parts if len(p)]
    frame = pd.concat(parts, ignore_index=True) if parts else _empty_baseline()
    note = None
    if history is None:
        frame["new"] = pd.Series(pd.NA, index=frame.index, dtype="boolean")
        note = (
            f"no activity before the window start {iso_utc(start)}: cannot tell new from usual "
            "sources (load more history before the finding)"
        )
    else:
        frame["new"] = ((frame["events_before"] == 0) & (frame["events_during"] > 0)).astype(
            "boolean"
        )
    frame = frame.astype(
        {
            "kind": "string",
            "value": "string",
            "events_before": "Int64",
            "events_during": "Int64",
            "first_seen": _UTC,
            "last_seen": _UTC,
        }
    )
    frame = frame.sort_values(["kind", "first_seen", "value"], kind="stable")
    return Baseline(start, frame.reset_index(drop=True), history, note)


# --------------------------------------------------------------------------------------------
# sensitive actions
# --------------------------------------------------------------------------------------------
def load_catalogue(path: str | Path | None = None) -> pd.DataFrame:
    """The sensitive-actions catalogue: columns event_name, event_source, category,
    mitre_technique, note (all string); one row per (event_name, event_source).

    Without ``path``, the catalogue shipped in ``torinvest/data/sensitive_actions.csv``.
    Raises InputError when a catalogue is malformed (missing column or value, unknown category,
    technique not written "T1234[.567] Name", duplicate call).
    """
    if path is None:
        return _shipped_catalogue().copy()
    return _read_catalogue(Path(path).expanduser())


@lru_cache(maxsize=1)
def _shipped_catalogue() -> pd.DataFrame:
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


def _empty_sensitive(targets: bool = False) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype="string") for c in SENSITIVE_COLUMNS})
    out = out.astype(
        {"event_time": _UTC, "failed": "boolean", "tor": "boolean", "derived": "boolean"}
    )
    if targets:
        out["target"] = pd.Series([], dtype="string")
        out["targets"] = pd.Series([], dtype="object")
    return out


def _targets_of(rows: pd.DataFrame) -> list[tuple[Target, ...]]:
    """:func:`torinvest.targets.call_targets` of each row (request/response JSON text)."""
    na = [None] * len(rows)
    names = rows["event_name"].astype("object").tolist()
    sources = rows["event_source"].astype("object").tolist()
    requests = (
        rows["request_parameters"].astype("object").tolist()
        if "request_parameters" in rows.columns
        else na
    )
    responses = (
        rows["response_elements"].astype("object").tolist()
        if "response_elements" in rows.columns
        else na
    )
    return [call_targets(*args) for args in zip(names, sources, requests, responses, strict=True)]


def sensitive_events(
    events: pd.DataFrame, *, catalogue: pd.DataFrame | None = None, targets: bool = False
) -> pd.DataFrame:
    """The calls in the sensitive-actions catalogue, oldest first.

    Columns: event_time (UTC), event_id, event_name, event_source, aws_region, source_ip,
    access_key_id, user_name, user_agent, error_code (string), failed (boolean: an error code),
    tor (boolean, NA when unknown), derived (boolean: by a key minted by the suspect key; NA when
    the frame has no ``derived`` column), category, mitre_technique, note (string). With
    ``targets``, also :data:`SENSITIVE_TARGET_COLUMNS`: ``target`` (string: what the call acted
    on, e.g. ``user svc-backup-sync, new key AKIA…``; NA when nothing is named) and ``targets``
    (tuples of :class:`torinvest.targets.Target`), from ``request_parameters`` and
    ``response_elements``.
    """
    _require(events, _NEEDED)
    cat = _shipped_catalogue() if catalogue is None else catalogue
    if events.empty or cat.empty:
        return _empty_sensitive(targets)
    hit = events["event_name"].isin(cat["event_name"]).to_numpy(dtype=bool)
    if not hit.any():
        return _empty_sensitive(targets)
    rows = events.loc[hit]
    na_text = pd.Series(pd.NA, index=rows.index, dtype="string")
    sub = pd.DataFrame({"event_time": rows["event_time"]})
    for c in SENSITIVE_COLUMNS[1:10]:
        sub[c] = rows[c].astype("string") if c in rows.columns else na_text
    sub["failed"] = rows["error_code"].notna().astype("boolean")
    sub["tor"] = tor_column(events).loc[hit]
    sub["derived"] = (
        rows["derived"].astype("boolean")
        if "derived" in rows.columns
        else pd.Series(pd.NA, index=rows.index, dtype="boolean")
    )
    columns = list(SENSITIVE_COLUMNS)
    if targets:
        found = _targets_of(rows)
        sub["target"] = pd.Series(
            [targets_text(t) for t in found], index=rows.index, dtype="string"
        )
        sub["targets"] = pd.Series(found, index=rows.index, dtype="object")
        columns += SENSITIVE_TARGET_COLUMNS
    merged = sub.merge(cat.astype("string"), on=["event_name", "event_source"], how="inner")
    merged = merged.sort_values(["event_time", "event_id"], kind="stable", na_position="last")
    return merged[columns].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# signals
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Signal:
    """One observation that bears on the verdict: a name, a one-line reason, a weight (0 = info).

    ``detail`` can quote attacker-written text: escape it before putting it in HTML/Markdown.
    """

    name: str
    detail: str
    weight: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "detail": self.detail, "weight": self.weight}


@dataclass(frozen=True, slots=True)
class _Rows:
    """Per-row arrays the signals share (built once)."""

    ip: np.ndarray
    ip_labels: np.ndarray
    ip_is_ip: np.ndarray
    key: np.ndarray
    key_labels: np.ndarray
    name: np.ndarray
    name_labels: np.ndarray
    secs: np.ndarray
    times: pd.Series
    failed: np.ndarray
    tor_true: np.ndarray
    tor_false: np.ndarray
    tor_ips: frozenset[int]
    weight: np.ndarray  # the calls each row stands for (1, or ``calls`` of a counts frame)

    @classmethod
    def of(cls, events: pd.DataFrame) -> _Rows:
        """Rows of the events frame, or of a counts frame (``calls``/``failed`` columns)."""
        counted = "calls" in events.columns
        ip, ip_labels = codes_and_labels(events["source_ip"])
        key, key_labels = codes_and_labels(events["access_key_id"])
        name, name_labels = codes_and_labels(events["event_name"])
        tor = tor_column(events)
        tor_true = _bools(tor)
        return cls(
            ip=ip,
            ip_labels=ip_labels,
            ip_is_ip=np.append(_is_ip_label(ip_labels), False),
            key=key,
            key_labels=key_labels,
            name=name,
            name_labels=name_labels,
            secs=_seconds(events["event_time"]),
            times=events["event_time"].reset_index(drop=True),
            failed=(
                events["failed"].fillna(0).to_numpy(dtype=np.int64) > 0
                if counted
                else events["error_code"].notna().to_numpy()
            ),
            tor_true=tor_true,
            tor_false=_bools(~tor),
            tor_ips=frozenset(_distinct(ip[tor_true]).tolist()),
            weight=(
                events["calls"].fillna(0).to_numpy(dtype=np.int64)
                if counted
                else np.ones(len(events), dtype=np.int64)
            ),
        )

    def calls(self, mask: np.ndarray) -> int:
        """The calls the rows in ``mask`` stand for."""
        return int(self.weight[mask].sum())

    def ip_label(self, code: int) -> str:
        label = "(no IP)" if code < 0 else str(self.ip_labels[code])
        return f"{label} (Tor)" if code in self.tor_ips else label

    def ips(self, mask: np.ndarray, *, counts: bool = False, limit: int = DETAIL_ITEMS) -> str:
        """The IPs of the rows in ``mask``, most calls first (``counts``: 'IP ×n'), listed."""
        codes, inverse = np.unique(self.ip[mask], return_inverse=True)
        n = np.bincount(inverse.ravel(), weights=self.weight[mask], minlength=len(codes))
        n = n.astype(np.int64)
        order = np.lexsort((codes, -n))[:limit]
        shown = [self.ip_label(int(codes[i])) + (f" ×{int(n[i])}" if counts else "") for i in order]
        return _listing(shown, limit, total=len(codes))

    def n_ips(self, mask: np.ndarray) -> int:
        return len(_distinct(self.ip[mask]))


def signals(
    events: pd.DataFrame,
    *,
    finding_window: tuple[Any, Any] | None = None,
    derived_keys: Iterable[str | DerivedKey] = (),
    ip_asn: Mapping[str, Any] | pd.Series | None = None,
    catalogue: pd.DataFrame | None = None,
    counts: pd.DataFrame | None = None,
    per_ip_table: pd.DataFrame | None = None,
) -> list[Signal]:
    """Observations that bear on the verdict, heaviest first (weights: :data:`WEIGHTS`,
    :data:`SENSITIVE_WEIGHTS`; thresholds are the ``RECON_*``/``CONCURRENT_*`` constants).

    ``finding_window`` is (first_seen, last_seen) of the finding(s) (:func:`window_of`): it
    enables Tor-after-finding and the new IP/user agent/ASN signals. ``derived_keys`` are keys
    minted by the suspect key (also read from the ``derived`` column). Signals:

    - ``tor_use``, ``tor_after_finding``, ``tor_and_non_tor``, ``tor_unknown`` (info);
    - ``derived_key_in_use`` (and ``derived_key_unused``, info);
    - ``recon_burst``, ``recon_breadth``, ``recon_denied``;
    - ``sensitive:<category>``, one per catalogue category present, naming the calls;
    - ``new_source_ip``, ``new_user_agent``, ``new_asn`` (``no_baseline``, info, when nothing
      precedes the window);
    - ``concurrent_ips`` (one key, several IPs within :data:`CONCURRENT_WINDOW`);
    - ``failed_then_succeeded``.

    ``counts``: when the activity was counted in a SQL engine (too many rows to load; see
    :class:`torinvest.sources.sql.Aggregates`), its by-time counts frame with a ``tor`` column,
    and ``events`` holds only the sensitive calls. The Tor and derived-key signals are then
    computed from the counts (at the counts' time-bucket resolution), ``new_source_ip`` from
    ``per_ip_table`` (its ``new`` column, see :func:`per_ip_counted`), and the recon,
    concurrency and retry signals from the sensitive calls only (what they find holds; what
    they miss may be in the calls not loaded); ``counted_in_engine`` (info) says so.
    """
    _require(events, _NEEDED)
    window = None
    if finding_window is not None:
        start, end = (utc_timestamp(t) for t in finding_window)
        window = (start, end) if start is not None and end is not None else None
    if counts is not None:
        return _counted_signals(
            events, counts, per_ip_table, window, derived_keys, catalogue=catalogue
        )
    if events.empty:
        return []
    rows = _Rows.of(events)
    found: list[Signal] = []
    found += _tor_signals(rows, events, window)
    found += _derived_signals(rows, events, derived_keys)
    found += _recon_signals(rows, events, catalogue)
    found += _sensitive_signals(sensitive_events(events, catalogue=catalogue))
    if window is not None:
        found += _baseline_signals(rows, events, window[0], ip_asn)
    found += _concurrency_signals(rows)
    found += _retry_signals(rows, events)
    log.debug("signals over %d events: %s", len(events), ", ".join(s.name for s in found))
    return sorted(found, key=lambda s: (-s.weight, s.name))


def _counted_signals(
    events: pd.DataFrame,
    counts: pd.DataFrame,
    per_ip_table: pd.DataFrame | None,
    window: tuple[pd.Timestamp, pd.Timestamp] | None,
    derived_keys: Iterable[str | DerivedKey],
    *,
    catalogue: pd.DataFrame | None,
) -> list[Signal]:
    """:func:`signals` for an activity counted in an engine (see its ``counts``)."""
    _require(counts, ("event_time", "source_ip", "event_name", "access_key_id", "calls"))
    found: list[Signal] = []
    if len(counts):
        counted = _Rows.of(counts)
        found += _tor_signals(counted, counts, window)
        found += _derived_signals(counted, counts, derived_keys)
    if len(events):
        rows = _Rows.of(events)
        found += _recon_signals(rows, events, catalogue)
        found += _sensitive_signals(sensitive_events(events, catalogue=catalogue))
        found += _concurrency_signals(rows)
        found += _retry_signals(rows, events)
    if window is not None and per_ip_table is not None:
        found += _new_ip_signal(per_ip_table, window[0])
    total = int(counts["calls"].sum()) if len(counts) else 0
    bucket = counts.attrs.get("bucket_name", "time bucket")
    found.append(
        Signal(
            "counted_in_engine",
            f"{total:,} calls were counted in the SQL engine, not loaded: Tor and derived-key "
            f"signals are computed per {bucket} (a Tor status per IP and {bucket}; times are "
            f"the {bucket}'s start); recon, concurrency and retry signals read only the "
            f"{len(events):,} sensitive calls loaded as rows; new user agents and ASNs are "
            "not computed",
            WEIGHTS["counted_in_engine"],
        )
    )
    log.debug("counted signals: %s", ", ".join(s.name for s in found))
    return sorted(found, key=lambda s: (-s.weight, s.name))


def _new_ip_signal(table: pd.DataFrame, window_start: pd.Timestamp) -> list[Signal]:
    """``new_source_ip`` (or ``no_baseline``) from a per-IP frame's ``new`` and first_seen."""
    before = table["first_seen"] < window_start
    if not before.fillna(False).any():
        note = (
            f"no activity before the window start {iso_utc(window_start)}: cannot tell new from "
            "usual sources (load more history before the finding)"
        )
        return [Signal("no_baseline", note, WEIGHTS["no_baseline"])]
    new = table[table["new"].fillna(False).astype(bool)].sort_values("first_seen")
    if new.empty:
        return []
    history = table.loc[before.fillna(False), "first_seen"].min()
    ips = [
        f"{ip} (Tor)" if tor is not pd.NA and bool(tor) else str(ip)
        for ip, tor in zip(new["source_ip"], new["tor"], strict=True)
    ]
    return [
        Signal(
            "new_source_ip",
            f"{len(ips)} IP(s) not seen before {_hm(window_start)} "
            f"(history from {_hm(history)}): {_listing(ips)}",
            WEIGHTS["new_source_ip"],
        )
    ]


def _tor_signals(
    rows: _Rows, events: pd.DataFrame, window: tuple[pd.Timestamp, pd.Timestamp] | None
) -> list[Signal]:
    out: list[Signal] = []
    if rows.tor_true.any():
        out.append(
            Signal(
                "tor_use",
                f"{rows.calls(rows.tor_true)} calls from {rows.n_ips(rows.tor_true)} Tor exit(s): "
                f"{rows.ips(rows.tor_true, counts=True)}",
                WEIGHTS["tor_use"],
            )
        )
    if window is not None:
        late = rows.tor_true & (rows.secs > (window[1] - _EPOCH) / pd.Timedelta(seconds=1))
        if late.any():
            keys = sorted({str(rows.key_labels[k]) for k in _distinct(rows.key[late]) if k >= 0})
            last = rows.times[late].max()
            out.append(
                Signal(
                    "tor_after_finding",
                    f"{rows.calls(late)} calls from Tor after the finding's last activity "
                    f"({_hm(window[1])}), the last at {_hm(last)}, with key(s) {_listing(keys)}: "
                    "still in use from Tor",
                    WEIGHTS["tor_after_finding"],
                )
            )
    out += _tor_mixed(rows)
    unknown = ~(rows.tor_true | rows.tor_false) & rows.ip_is_ip[rows.ip]
    if unknown.any():
        why = (
            "no Tor status was computed (no exit lists applied)"
            if "tor" not in events.columns
            else "no loaded exit list covers their time"
        )
        out.append(
            Signal(
                "tor_unknown",
                f"Tor status unknown for {rows.calls(unknown)} calls from {rows.n_ips(unknown)} "
                f"IP(s) ({why}): {rows.ips(unknown, counts=True)}",
                WEIGHTS["tor_unknown"],
            )
        )
    return out


def _tor_mixed(rows: _Rows) -> list[Signal]:
    on_ip = rows.ip_is_ip[rows.ip] & (rows.key >= 0)
    frame = pd.DataFrame(
        {"key": rows.key[on_ip], "t": rows.tor_true[on_ip], "f": rows.tor_false[on_ip]}
    )
    g = frame.groupby("key", sort=False)[["t", "f"]].any()
    mixed = g.index[g["t"] & g["f"]].sort_values()
    parts = []
    for k in mixed[:DETAIL_ITEMS]:
        in_key = rows.key == k
        tor_ips = sorted(
            {str(rows.ip_labels[i]) for i in _distinct(rows.ip[in_key & rows.tor_true])}
        )
        other = sorted(
            {str(rows.ip_labels[i]) for i in _distinct(rows.ip[in_key & rows.tor_false])}
        )
        parts.append(
            f"{rows.key_labels[k]} from Tor ({_listing(tor_ips, 3)}) and not Tor "
            f"({_listing(other, 3)})"
        )
    if not parts:
        return []
    more = f"; … (+{len(mixed) - len(parts)} keys)" if len(mixed) > len(parts) else ""
    return [Signal("tor_and_non_tor", "; ".join(parts) + more, WEIGHTS["tor_and_non_tor"])]


def _derived_signals(
    rows: _Rows, events: pd.DataFrame, derived_keys: Iterable[str | DerivedKey]
) -> list[Signal]:
    minted: dict[str, DerivedKey | None] = {}
    for d in derived_keys:
        if isinstance(d, DerivedKey):
            minted[d.access_key_id] = d
        else:
            minted.setdefault(str(d), None)
    if "derived" in events.columns:
        flagged = _bools(events["derived"]) & (rows.key >= 0)
        for k in _distinct(rows.key[flagged]):
            minted.setdefault(str(rows.key_labels[k]), None)
    if not minted:
        return []
    code_of = {str(label): i for i, label in enumerate(rows.key_labels)}
    used, unused = [], []
    for akid, d in list(minted.items())[:DETAIL_ITEMS]:
        origin = (
            f" (minted by {d.minted_by} via {d.event_name} at {_hm(d.event_time)})" if d else ""
        )
        code = code_of.get(akid)
        mask = rows.key == code if code is not None else np.zeros(len(rows.key), dtype=bool)
        if mask.any():
            used.append(f"{akid}{origin}: {rows.calls(mask)} calls from {rows.ips(mask, limit=3)}")
        else:
            unused.append(f"{akid}{origin}")
    more = f"; … (+{len(minted) - DETAIL_ITEMS} keys)" if len(minted) > DETAIL_ITEMS else ""
    out = []
    if used:
        detail = "; ".join(used) + more
        out.append(Signal("derived_key_in_use", detail, WEIGHTS["derived_key_in_use"]))
    if unused:
        out.append(
            Signal(
                "derived_key_unused",
                f"minted but no call found in the loaded data: {_listing(unused)} "
                "(it may have been used in regions or days not loaded)",
                WEIGHTS["derived_key_unused"],
            )
        )
    return out


def _recon_mask(rows: _Rows, catalogue: pd.DataFrame | None) -> np.ndarray:
    """Read calls that are not themselves sensitive (except discovery ones)."""
    cat = _shipped_catalogue() if catalogue is None else catalogue
    not_recon = set(cat.loc[cat["category"] != "discovery", "event_name"].astype(str))
    pattern = "^(?:" + "|".join(RECON_PREFIXES) + ")"
    is_read = _label_test(rows.name_labels, pattern)
    if len(rows.name_labels):
        is_read &= ~np.isin(rows.name_labels, list(not_recon))
    return _mask(rows.name, is_read)


def _recon_windows(rows: _Rows, events: pd.DataFrame, recon: np.ndarray) -> pd.DataFrame:
    """Per (ip, window) on two grids offset by half a window: columns ip, start (epoch seconds),
    reads, distinct_reads, services, regions."""
    width = RECON_WINDOW / pd.Timedelta(seconds=1)
    ok = ~np.isnan(rows.secs)
    if not ok.any():
        return pd.DataFrame(
            {
                c: np.zeros(0)
                for c in ("ip", "start", "reads", "distinct_reads", "services", "regions")
            }
        )
    secs, ip = rows.secs[ok], rows.ip[ok]
    first = np.floor(secs.min() / width) - 1
    grids = [np.floor((secs + off) / width).astype(np.int64) - int(first) for off in (0, width / 2)]
    n_bins = int(max(g.max() for g in grids)) + 1
    window_key = np.concatenate([((ip + 1) * n_bins + g) * 2 + k for k, g in enumerate(grids)])
    keys, window = np.unique(window_key, return_inverse=True)
    n = len(keys)
    twice = np.concatenate([recon[ok], recon[ok]])
    out = pd.DataFrame(
        {
            "ip": keys // 2 // n_bins - 1,
            "start": ((keys // 2 % n_bins) + first) * width - (keys % 2) * (width / 2),
            "reads": np.bincount(window, weights=twice, minlength=n).astype(np.int64),
        }
    )
    svc, _ = codes_and_labels(events["event_source"])
    region, _ = codes_and_labels(events["aws_region"])
    for name, codes, only in (
        ("distinct_reads", rows.name, twice),
        ("services", svc, None),
        ("regions", region, None),
    ):
        values = np.concatenate([codes[ok], codes[ok]])
        keep = values >= 0 if only is None else (values >= 0) & only
        width_v = np.int64(values.max() + 2) if len(values) else np.int64(1)
        pairs = _distinct(window[keep].astype(np.int64) * width_v + values[keep])
        out[name] = np.bincount(pairs // width_v, minlength=n)
    return out


def _recon_signals(
    rows: _Rows, events: pd.DataFrame, catalogue: pd.DataFrame | None
) -> list[Signal]:
    recon = _recon_mask(rows, catalogue)
    windows = _recon_windows(rows, events, recon)
    minutes = int(RECON_WINDOW / pd.Timedelta(minutes=1))
    out: list[Signal] = []
    burst = windows[
        (windows["reads"] >= RECON_MIN_CALLS)
        & (windows["distinct_reads"] >= RECON_MIN_DISTINCT_CALLS)
    ]
    if len(burst):
        best = burst.sort_values(["reads", "start"], ascending=[False, True]).drop_duplicates("ip")
        items = [
            f"{rows.ip_label(int(r.ip))}: {int(r.reads)} calls ({int(r.distinct_reads)} kinds) "
            f"from {_hm(_EPOCH + pd.Timedelta(seconds=r.start))}"
            for r in best.head(DETAIL_ITEMS).itertuples()
        ]
        out.append(
            Signal(
                "recon_burst",
                f"bursts of List/Describe/Get calls within {minutes} min: "
                f"{_listing(items, total=len(best))}",
                WEIGHTS["recon_burst"],
            )
        )
    broad = windows[
        (windows["services"] >= RECON_MIN_SERVICES) | (windows["regions"] >= RECON_MIN_REGIONS)
    ]
    if len(broad):
        best = broad.sort_values(
            ["regions", "services", "start"], ascending=[False, False, True]
        ).drop_duplicates("ip")
        items = [
            f"{rows.ip_label(int(r.ip))}: {int(r.services)} services, {int(r.regions)} regions "
            f"from {_hm(_EPOCH + pd.Timedelta(seconds=r.start))}"
            for r in best.head(DETAIL_ITEMS).itertuples()
        ]
        out.append(
            Signal(
                "recon_breadth",
                f"many services or regions within {minutes} min: "
                f"{_listing(items, total=len(best))}",
                WEIGHTS["recon_breadth"],
            )
        )
    out += _denied_signal(rows, events)
    return out


def _denied_signal(rows: _Rows, events: pd.DataFrame) -> list[Signal]:
    codes, labels = codes_and_labels(events["error_code"])
    denied = _mask(codes, _label_test(labels, DENIED_PATTERN))
    if not denied.any():
        return []
    ip_codes, counts = np.unique(rows.ip[denied], return_counts=True)
    many = counts >= RECON_MIN_DENIED
    if not many.any():
        return []
    ranked = sorted(zip(ip_codes[many], counts[many], strict=True), key=lambda x: (-x[1], x[0]))
    items = []
    for ip, n in ranked[:DETAIL_ITEMS]:
        in_ip = denied & (rows.ip == ip)
        names = sorted({str(rows.name_labels[c]) for c in _distinct(rows.name[in_ip]) if c >= 0})
        items.append(f"{rows.ip_label(int(ip))}: {int(n)} denied ({_listing(names, 3)})")
    return [
        Signal(
            "recon_denied",
            f"many AccessDenied/UnauthorizedOperation errors: {_listing(items, total=len(ranked))}",
            WEIGHTS["recon_denied"],
        )
    ]


def _sensitive_signals(found: pd.DataFrame) -> list[Signal]:
    out = []
    for category in CATEGORIES:
        rows = found[found["category"] == category]
        if rows.empty:
            continue
        names = rows["event_name"].value_counts()
        calls = [f"{n} ×{c}" if c > 1 else str(n) for n, c in names.items()]
        ips = rows["source_ip"].fillna("(no IP)").unique().tolist()
        succeeded = int((~rows["failed"]).sum())
        from_tor = int(rows["tor"].fillna(False).sum())
        weight = SENSITIVE_WEIGHTS[category]
        state = f"{succeeded} of {len(rows)} succeeded"
        if succeeded == 0:
            weight = int(weight * FAILED_ONLY_FACTOR)
            state = "all failed (attempted)"
        out.append(
            Signal(
                f"sensitive:{category}",
                f"{_listing(calls)}: {state}, {from_tor} from Tor, from {_listing(ips, 3)}",
                weight,
            )
        )
    return out


def _baseline_signals(
    rows: _Rows,
    events: pd.DataFrame,
    window_start: pd.Timestamp,
    ip_asn: Mapping[str, Any] | pd.Series | None,
) -> list[Signal]:
    base = baseline(events, window_start, ip_asn=ip_asn)
    if not base.has_history:
        return [Signal("no_baseline", base.note or "", WEIGHTS["no_baseline"])]
    out = []
    code_of = {str(label): i for i, label in enumerate(rows.ip_labels)}
    ips = [rows.ip_label(code_of[v]) for v in base.new_values("source_ip")]
    if ips:
        out.append(
            Signal(
                "new_source_ip",
                f"{len(ips)} IP(s) not seen before {_hm(window_start)} "
                f"(history from {_hm(base.history_start)}): {_listing(ips)}",
                WEIGHTS["new_source_ip"],
            )
        )
    agents = [_short(v) for v in base.new_values("user_agent")]
    if agents:
        out.append(
            Signal(
                "new_user_agent",
                f"{len(agents)} user agent(s) not seen before: {_listing(agents, 3)}",
                WEIGHTS["new_user_agent"],
            )
        )
    asns = base.new_values("asn")
    if asns:
        out.append(
            Signal(
                "new_asn",
                f"{len(asns)} ASN(s) not seen before: {_listing(asns)}",
                WEIGHTS["new_asn"],
            )
        )
    return out


def _concurrency_signals(rows: _Rows) -> list[Signal]:
    ok = (rows.key >= 0) & rows.ip_is_ip[rows.ip] & ~np.isnan(rows.secs)
    key, ip, secs = rows.key[ok], rows.ip[ok], rows.secs[ok]
    if len(key) < 2:
        return []
    order = np.lexsort((secs, key))
    key, ip, secs = key[order], ip[order], secs[order]
    limit = CONCURRENT_WINDOW / pd.Timedelta(seconds=1)
    switch = (key[1:] == key[:-1]) & (ip[1:] != ip[:-1]) & (secs[1:] - secs[:-1] <= limit)
    if not switch.any():
        return []
    idx = np.flatnonzero(switch)
    pairs = pd.DataFrame(
        {"key": np.concatenate([key[idx], key[idx]]), "ip": np.concatenate([ip[idx], ip[idx + 1]])}
    ).drop_duplicates()
    groups = pairs.groupby("key", sort=True)["ip"]
    items = [
        f"{rows.key_labels[k]}: {len(ips)} IPs "
        f"({_listing(sorted(rows.ip_label(int(i)) for i in ips), 4)})"
        for k, ips in list(groups)[:DETAIL_ITEMS]
    ]
    minutes = int(CONCURRENT_WINDOW / pd.Timedelta(minutes=1))
    return [
        Signal(
            "concurrent_ips",
            f"one key used from several IPs within {minutes} min of each other: "
            f"{_listing(items, total=groups.ngroups)}",
            WEIGHTS["concurrent_ips"],
        )
    ]


def _retry_signals(rows: _Rows, events: pd.DataFrame) -> list[Signal]:
    codes, labels = codes_and_labels(events["error_code"])
    absent = _mask(codes, _label_test(labels, ABSENT_PATTERN))
    failed = rows.failed & ~absent
    if not failed.any():
        return []
    ok = (rows.ip >= 0) & (rows.name >= 0) & ~np.isnan(rows.secs)
    df = pd.DataFrame(
        {
            "ip": rows.ip[ok],
            "name": rows.name[ok],
            "fail_t": np.where(failed[ok], rows.secs[ok], np.inf),
            "ok_t": np.where(~rows.failed[ok], rows.secs[ok], -np.inf),
        }
    )
    g = df.groupby(["ip", "name"], sort=False).agg(
        first_fail=("fail_t", "min"), last_ok=("ok_t", "max")
    )
    hits = g[g["first_fail"] < g["last_ok"]].reset_index().sort_values("first_fail")
    if hits.empty:
        return []
    items = [
        f"{rows.ip_label(int(r.ip))}: {rows.name_labels[r.name]}"
        for r in hits.head(DETAIL_ITEMS).itertuples()
    ]
    return [
        Signal(
            "failed_then_succeeded",
            "calls that failed, then succeeded from the same IP: "
            f"{_listing(items, total=len(hits))}",
            WEIGHTS["failed_then_succeeded"],
        )
    ]


# --------------------------------------------------------------------------------------------
# triage score
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TriageScore:
    """A 0–100 triage aid with the signals that weigh most. Not a verdict (see ``note``)."""

    score: int
    band: str
    reasons: tuple[Signal, ...]
    note: str = NOT_A_VERDICT

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "band": self.band,
            "reasons": [s.to_dict() for s in self.reasons],
            "note": self.note,
        }


def triage_score(found: Iterable[Signal]) -> TriageScore:
    """Sum of the signals' weights, capped at :data:`MAX_SCORE`, banded by :data:`SCORE_BANDS`,
    with the :data:`TOP_REASONS` heaviest signals as reasons.

    A triage aid, NOT a verdict: it says what to look at first. A low score does not clear a key
    (the data may be incomplete), a high one does not prove compromise.
    """
    ordered = sorted((s for s in found if s.weight > 0), key=lambda s: (-s.weight, s.name))
    score = min(MAX_SCORE, sum(s.weight for s in ordered))
    band = next(name for floor, name in SCORE_BANDS if score >= floor)
    return TriageScore(score=score, band=band, reasons=tuple(ordered[:TOP_REASONS]))


# --------------------------------------------------------------------------------------------
# summary.json pieces
# --------------------------------------------------------------------------------------------
def summary_source_ips(table: pd.DataFrame) -> list[dict[str, Any]]:
    """``summary.json``'s ``source_ips`` from a :func:`per_ip` frame (JSON-ready values)."""
    return [
        {
            "ip": _na(r.source_ip),
            "events": int(r.events),
            "failed": int(r.failed),
            "tor": _na(r.tor),
            "first_seen": iso_utc(r.first_seen),
            "last_seen": iso_utc(r.last_seen),
            "user_agents": list(r.user_agents),
            "new": _na(r.new),
        }
        for r in table.itertuples(index=False)
    ]


def summary_sensitive_events(found: pd.DataFrame) -> list[dict[str, Any]]:
    """``summary.json``'s ``sensitive_events`` from a :func:`sensitive_events` frame: also
    ``error_code`` (null: the call succeeded), ``target`` (one line, null when the call names
    nothing) and ``targets`` (``[{"kind", "value"}]``; empty unless the frame was made with
    ``targets=True``)."""
    return [
        {
            "event_name": _na(r.event_name),
            "event_source": _na(r.event_source),
            "event_time": iso_utc(r.event_time),
            "source_ip": _na(r.source_ip),
            "tor": _na(r.tor),
            "category": _na(r.category),
            "error_code": _na(r.error_code),
            "target": _na(getattr(r, "target", None)),
            "targets": [t.to_dict() for t in getattr(r, "targets", ())],
        }
        for r in found.itertuples(index=False)
    ]
