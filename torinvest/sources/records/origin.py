"""Where a key came from (:func:`key_origin`): the record(s) that MINTED the investigated key —
an STS call (AssumeRole*, GetSessionToken, GetFederationToken) whose
``responseElements.credentials.accessKeyId`` is the key, or the CreateAccessKey whose
``responseElements.accessKey.accessKeyId`` is — and who made it (the upstream principal).

Revoking an assumed role's sessions does not stop whoever minted them from minting more: the
upstream principal is what an analyst must look at next. "Not found" is said only when the
records read reach back as far as the key could have been minted; otherwise the answer is
``not in window`` (a mint before the window read) or ``not searched`` (a source that cannot
search responses: LookupEvents).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from torinvest.errors import DataIssue
from torinvest.outcome import unknown_rows
from torinvest.safety import prose_safe
from torinvest.sources.records.columns import MINTING_EVENTS
from torinvest.sources.records.derived import (
    FOLLOW_SOURCE,
    DerivedKey,
    _loads,
    _na,
    _when,
    derived_keys,
)
from torinvest.sources.records.passwords import (
    ConsolePassword,
    SignIn,
    console_passwords,
    console_sessions,
    sign_ins_command,
)

#: ``key_origin.status`` values in ``summary.json`` (docs/DESIGN.md).
ORIGIN_STATUSES = ("found", "not found", "not in window", "not searched")
#: The longest a temporary key lives: GetSessionToken and GetFederationToken sessions up to
#: 36 h (AssumeRole's up to 12 h): a key used at T was minted after T - 36 h.
LONGEST_SESSION = pd.Timedelta(hours=36)
#: An EC2 instance role's session is named after its instance (``i-0dbc91f429e48eeed``).
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_SERVICE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com$")
_MINTING = sorted(MINTING_EVENTS)  # a list: isin of a set on a categorical is 30x slower


@dataclass(frozen=True, slots=True)
class Mint:
    """One record that minted the key, and who made it (``principal_*``: the caller's
    ``userIdentity``; ``service``: the AWS service principal that called on the caller's behalf
    — ``ec2.amazonaws.com`` for an instance role —; ``instance_id``: the EC2 instance whose
    role session it is, from the session name). ``tor``: the source IP was a listed Tor exit
    at that time (None: not known, no list covers it or it was not checked); ``tor_caveat``
    what its "not Tor" rests on (``or_addresses_only``: lists of relays' OR addresses only,
    :func:`torinvest.tor.caveats`; None otherwise)."""

    access_key_id: str
    event_name: str
    event_time: pd.Timestamp | None
    event_id: str | None
    region: str | None
    source_ip: str | None
    principal_type: str | None
    principal_arn: str | None
    principal_key: str | None
    principal_user: str | None
    session_issuer_arn: str | None
    service: str | None
    role_arn: str | None
    session_name: str | None
    instance_id: str | None
    unknown_outcome: bool = False
    tor: bool | None = None
    tor_caveat: str | None = None

    @property
    def principal(self) -> str:
        """Who minted the key, in a few words (plain text: escape it where it is shown)."""
        if self.instance_id:
            return f"EC2 instance {self.instance_id}'s role (credentials from its IMDS)"
        if self.service:
            return f"AWS service {self.service}"
        who = (
            self.principal_arn or self.principal_user or self.principal_type or "an unknown caller"
        )
        if self.principal_key:
            who += f" (key {self.principal_key})"
        return who

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["event_time"] = None if self.event_time is None else _when(self.event_time)
        d["principal"] = self.principal
        return d


@dataclass(frozen=True, slots=True)
class KeyOrigin:
    """Who minted ``access_key_id``: ``status`` (:data:`ORIGIN_STATUSES`), the minting records
    found (oldest first), and ``why`` the answer is what it is (None when found)."""

    access_key_id: str
    status: str
    mints: tuple[Mint, ...] = ()
    why: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_key_id": self.access_key_id,
            "status": self.status,
            "why": self.why,
            "mints": [m.to_dict() for m in self.mints],
        }

    def upstream_keys(self) -> list[str]:
        """The access keys that minted the key (each one to follow in its turn)."""
        return list(dict.fromkeys(m.principal_key for m in self.mints if m.principal_key))

    def sentence(self) -> str:
        """One line: who minted the key, or why that is not known (plain text)."""
        if self.status != "found":
            return f"origin of {self.access_key_id}: {self.status} — {self.why}"
        parts = []
        for m in self.mints:
            ip = m.source_ip or "(no source IP)"
            tor = " (a Tor exit then)" if m.tor else ""
            parts.append(
                f"{m.event_name} at {_when(m.event_time)} by {m.principal} from {ip}{tor}"
                + (f", role {m.role_arn}" if m.role_arn else "")
                + (" (outcome unknown)" if m.unknown_outcome else "")
            )
        return f"{self.access_key_id} was minted by " + "; ".join(parts)


def own_rows(frame: pd.DataFrame, keys: Iterable[str]) -> pd.DataFrame:
    """The rows of an events frame made with ``keys``: a minting record of another caller,
    read to say who minted a key, is not the key's activity (its categoricals keep only the
    values left: a category of a dropped row would show as an empty group)."""
    mine = frame["access_key_id"].isin(list(keys)).fillna(False).to_numpy(dtype=bool)
    if bool(mine.all()):
        return frame
    out = frame[mine].reset_index(drop=True)
    for name in out.columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].cat.remove_unused_categories()
    return out


def mints_of(frame: pd.DataFrame, keys: Iterable[str]) -> list[Mint]:
    """The records of an events frame that minted one of ``keys`` (a minting call without an
    ``errorCode`` whose response holds the key), oldest first, one per event ID."""
    wanted = set(keys)
    if not wanted or not len(frame):
        return []
    mask = frame["event_name"].isin(_MINTING).fillna(False).to_numpy(dtype=bool)
    if "error_code" in frame:
        mask = mask & frame["error_code"].isna().to_numpy(dtype=bool)
    where = np.flatnonzero(mask)
    # the key's own minting calls are most of them: look only at responses that spell a key
    texts = frame["response_elements"].to_numpy(dtype=object)[where]
    keep = [i for i, t in zip(where, texts, strict=True) if _spells(t, wanted)]
    rows = frame.iloc[keep]
    unknown = unknown_rows(frame)[keep]  # of unknown outcome: may not have minted it
    out: dict[tuple[str, str], Mint] = {}
    for row, of_unknown in zip(rows.itertuples(index=False), unknown, strict=True):
        mint = _mint(row, wanted, unknown=bool(of_unknown))
        if mint is not None:
            out.setdefault((mint.access_key_id, mint.event_id or str(len(out))), mint)
    return sorted(out.values(), key=_order)


def _spells(text: Any, keys: set[str]) -> bool:
    return isinstance(text, str) and any(k in text for k in keys)


def _order(m: Mint) -> tuple[bool, pd.Timestamp, str]:
    when = m.event_time if m.event_time is not None else pd.Timestamp.min.tz_localize("UTC")
    return (m.event_time is None, when, m.event_id or "")


def _mint(row: Any, wanted: set[str], *, unknown: bool) -> Mint | None:
    name = str(row.event_name)
    response = _loads(row.response_elements)
    field = "accessKey" if name == "CreateAccessKey" else "credentials"
    creds = response.get(field) if isinstance(response, dict) else None
    key = creds.get("accessKeyId") if isinstance(creds, dict) else None
    if not isinstance(key, str) or key not in wanted:
        return None
    request = _loads(row.request_parameters)
    request = request if isinstance(request, dict) else {}
    session = _text(request.get("roleSessionName"))
    source = _na(row.source_ip)
    user_type = _na(row.user_type)
    service = source if user_type == "AWSService" and source and _SERVICE.match(source) else None
    instance = (
        session
        if session and service == "ec2.amazonaws.com" and _INSTANCE_ID.match(session)
        else None
    )
    role = request.get("roleArn")
    return Mint(
        access_key_id=key,
        event_name=name,
        event_time=None if pd.isna(row.event_time) else row.event_time,
        event_id=_na(row.event_id),
        region=_na(row.aws_region),
        source_ip=source,
        principal_type=user_type,
        principal_arn=_na(row.arn),
        principal_key=_na(row.access_key_id),
        principal_user=_na(row.user_name),
        session_issuer_arn=_na(getattr(row, "session_issuer_arn", None)),
        service=service,
        role_arn=_text(role),
        session_name=session,
        instance_id=instance,
        unknown_outcome=unknown,
    )


def _text(v: Any) -> str | None:
    return v[:512] if isinstance(v, str) and v else None


def key_origin(
    key: str,
    mints: Sequence[Mint],
    *,
    searched: bool,
    start: pd.Timestamp | None,
    first_use: pd.Timestamp | None,
    why_not_searched: str = "",
    unread: str | None = None,
) -> KeyOrigin:
    """The origin of ``key`` from the minting records found (``mints``).

    ``searched``: whether a source able to find the minting record was read (log files, an
    engine's table); when none was (LookupEvents only: it cannot search responses), the
    answer is ``not searched`` (``why_not_searched`` says why), never "none". ``start``: the
    window's start (None: all the records); ``first_use``: the key's first call known (its
    activity or the finding): a temporary key (``ASIA…``) is minted at most
    :data:`LONGEST_SESSION` before it, a long-term one (``AKIA…``) any time before — when the
    window starts after that earliest time, not finding the mint is ``not in window``.
    ``unread``: what of the window could not be read (files, regions): said with "not found".
    """
    mine = tuple(m for m in mints if m.access_key_id == key)
    if mine:
        return KeyOrigin(key, "found", mine)
    if not searched:
        return KeyOrigin(key, "not searched", why=why_not_searched or "no source read can find it")
    temporary = key.startswith("ASIA")
    if start is not None:
        earliest = None if first_use is None or not temporary else first_use - LONGEST_SESSION
        if earliest is None or start > earliest:
            lived = (
                "a temporary key is minted up to 36 h before its first use"
                + (f" ({_when(first_use)})" if first_use is not None else "")
                if temporary
                else "a long-term key may have been created at any time before"
            )
            hint = (
                f"read from {_when(earliest)} to find it (--lookback-days; `events`: --start)"
                if earliest is not None
                else "read earlier logs to find it (--lookback-days; `events`: --start)"
            )
            return KeyOrigin(
                key,
                "not in window",
                why=f"no record in the window read (from {_when(start)}) minted it, and "
                f"{lived}: it may have been {'minted' if temporary else 'created'} before the "
                f"window; {hint}",
            )
    why = "no record read minted it (an STS call logs in its endpoint's region; a mint in a "
    why += "region, account or trail not read is not seen)"
    if unread:
        why += f"; not everything could be read: {unread}"
    return KeyOrigin(key, "not found", why=why)


def origin_phrase(origin: Mapping[str, Any] | None) -> str:
    """Who minted the key, from :meth:`KeyOrigin.to_dict` (``summary.json``'s ``key_origin``),
    in a line — the same words in every command that says it (``investigate``, ``events``): ""
    when there is none, or the key is long-term and its creation is simply before the window
    (nothing to add). Plain text: escape it where it is shown."""
    if not isinstance(origin, Mapping):
        return ""
    kid, status = str(origin.get("access_key_id")), origin.get("status")
    if status != "found":
        if not kid.startswith("ASIA"):
            return ""
        return (
            f"who minted {kid} is not known ({status}: {origin.get('why')}): whoever holds the "
            "credential that minted it can mint new ones after it is revoked"
        )
    parts = []
    for m in origin.get("mints") or []:
        tor = " (a Tor exit then)" if m.get("tor") else ""
        parts.append(
            f"{m.get('principal')} with {m.get('event_name')} at {m.get('event_time')} from "
            f"{m.get('source_ip')}{tor}"
        )
    return (
        f"{kid} was minted by "
        + "; ".join(parts)
        + ": revoking it does not stop that principal — see the plan's notes"
    )


def followed_sessions(
    frame: pd.DataFrame,
    passwords: Sequence[ConsolePassword],
    found: Sequence[SignIn],
    issues: list[DataIssue],
) -> tuple[list[DerivedKey], pd.DataFrame]:
    """The console sessions the ``passwords`` gave (:func:`console_sessions`) in ``frame`` — the
    sign-ins and console calls of their users, as an engine's query (DuckDB, Athena) read them —
    and the sessions' calls (the rows of their keys). What those sessions minted is not
    followed (the log files follow it round after round; an engine reads one round of
    sessions): an issue added to ``issues`` names the keys they minted and the command that
    reads their calls, and another for each console password they set for a user not already
    followed, with the command that reads its sign-ins."""
    sessions = console_sessions(frame, passwords, found)
    keys = {d.access_key_id for d in sessions}
    calls = own_rows(frame, keys)
    minted = [d for d in derived_keys(calls, keys) if d.access_key_id not in keys]
    if minted:  # a console session minted a key: its calls are another round, not read
        names = ", ".join(sorted({d.access_key_id for d in minted}))
        issue = DataIssue(
            FOLLOW_SOURCE,
            f"{names} minted by a console session of a user the key set a password for, "
            "not followed: their calls are not in the activity: run `torinvest events "
            f"--access-key={min(d.access_key_id for d in minted)} --follow-derived …` (each "
            "of them) to see them",
        )
        if issue not in issues:
            issues.append(issue)
    followed = {p.user_name for p in passwords}
    for p in console_passwords(calls, keys):  # set from the console for another user
        if p.user_name in followed:
            continue
        when = "(no time)" if p.event_time is None else f"{p.event_time:%Y-%m-%dT%H:%M:%SZ}"
        issue = DataIssue(  # the record's values attacker-written: backticks escaped
            FOLLOW_SOURCE,
            f"a console password for user {prose_safe(p.user_name)} set by console session "
            f"{prose_safe(p.set_by)} ({prose_safe(p.event_name)} at {when}) of a user the key "
            "set a password for, not followed: "
            f"its sign-ins and console sessions were not read: run `{sign_ins_command(p)}` "
            "over the trail's log files (they follow it) to see them",
        )
        if issue not in issues:
            issues.append(issue)
    return sessions, calls
