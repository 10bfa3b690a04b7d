"""Console passwords a key set (:func:`console_passwords`): a successful ``CreateLoginProfile`` or
``UpdateLoginProfile`` gives an IAM user a console password — a credential the key minted, as a
``CreateAccessKey`` mints a key — and the console sign-ins of those users (:func:`sign_ins`,
``ConsoleLogin`` records: ``userIdentity.type`` IAMUser, ``userIdentity.userName``, no access key,
``responseElements.ConsoleLogin`` Success or Failure, ``additionalEventData.MFAUsed``).

A sign-in record holds no access key: a reading filtered by key never holds it.
:func:`signs_in` is the record filter the log files' reader keeps them with (the user's name
as a JSON string is the bytes its prefilter searches for: :func:`user_needles`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import orjson
import pandas as pd

from torinvest.jsonread import parse as parse_json
from torinvest.outcome import failed_rows, unknown_rows
from torinvest.safety import option, prose_command
from torinvest.sources.records.derived import DerivedKey

#: Calls that give an IAM user a console password (``requestParameters.userName``; the caller's
#: own user when absent).
PASSWORD_EVENTS: frozenset[str] = frozenset({"CreateLoginProfile", "UpdateLoginProfile"})
#: The event of a console sign-in (eventSource signin.amazonaws.com, eventType AwsConsoleSignIn).
SIGN_IN_EVENT = "ConsoleLogin"
#: How many passes the log files are read for console sign-ins with ``follow_derived``: the
#: users the keys set a password for, then those a password was set for from their console
#: sessions (or keys those sessions minted), and so on; a password found past them is said not
#: read, never "no sign-in" (:mod:`torinvest.sources.logs.load`).
MAX_PASSWORD_ROUNDS = 3
#: The longest IAM user name (IAM's limit): a longer value is no user a password was set for.
_MAX_USER = 64


@dataclass(frozen=True, slots=True)
class ConsolePassword:
    """A console password a key set: ``user_name``'s, by ``event_name`` at ``event_time``
    with key ``set_by`` from ``source_ip``. ``unknown``: the call's outcome is not known
    (:mod:`torinvest.outcome`): the password was set only if it succeeded."""

    user_name: str
    event_name: str
    event_time: pd.Timestamp | None
    event_id: str | None
    set_by: str | None
    source_ip: str | None
    unknown: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_name": self.user_name,
            "event_name": self.event_name,
            "event_time": _iso(self.event_time),
            "event_id": self.event_id,
            "set_by": self.set_by,
            "source_ip": self.source_ip,
            "outcome": "unknown" if self.unknown else "succeeded",
        }


@dataclass(frozen=True, slots=True)
class SignIn:
    """A ``ConsoleLogin`` record of an IAM user: ``result`` is
    ``responseElements.ConsoleLogin`` (``Success``, ``Failure``; None when not recorded),
    ``mfa_used`` ``additionalEventData.MFAUsed`` (None: not recorded, or not read), ``tor``
    the source IP's Tor status then (None: not known or not asked), ``tor_caveat`` what its
    "not Tor" rests on (``or_addresses_only``: lists of relays' OR addresses only,
    :func:`torinvest.tor.caveats`; None otherwise)."""

    user_name: str
    event_time: pd.Timestamp | None
    event_id: str | None
    source_ip: str | None
    result: str | None
    mfa_used: str | None
    aws_region: str | None
    user_agent: str | None
    origin: str | None
    tor: bool | None = None
    tor_caveat: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.result == "Success"

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_time": _iso(self.event_time),
            "event_id": self.event_id,
            "source_ip": self.source_ip,
            "tor": self.tor,
            "tor_caveat": self.tor_caveat,
            "result": self.result,
            "mfa_used": self.mfa_used,
            "aws_region": self.aws_region,
        }


def sign_ins_command(password: ConsolePassword) -> str:
    """The command that reads the sign-ins and console sessions' calls of ``password``'s user
    from its time on (the sources are the analyst's: ``…``); every value one argument."""
    return user_sign_ins_command(password.user_name, password.event_time)


def user_sign_ins_command(user: str, since: pd.Timestamp | None) -> str:
    """:func:`sign_ins_command` of user ``user`` from ``since`` (None: no ``--start``): what a
    ``summary.json`` entry (user name, time) names as the password's reading does."""
    args = ["torinvest", "events", option("--username", user)]
    if since is not None:
        args.append(option("--start", since.strftime("%Y-%m-%dT%H:%M:%SZ")))
    return prose_command(args) + " …"  # quoted in prose: no backtick of the user name's


@dataclass(frozen=True, slots=True)
class UnnamedPassword:
    """A call of :data:`PASSWORD_EVENTS` a key made whose request names no user
    (``requestParameters.userName``) and whose caller is no IAM user (``userIdentity.type``
    ``caller_type``: a role session, a federated user…; ``caller_arn``): whose password it set
    is not known — the name at the end of such an ARN is the session's, chosen by its caller."""

    event_name: str
    event_time: pd.Timestamp | None
    event_id: str | None
    set_by: str | None
    caller_type: str | None
    caller_arn: str | None
    unknown: bool = False


def console_passwords(frame: pd.DataFrame, keys: Collection[str]) -> list[ConsolePassword]:
    """The console passwords ``keys`` set in an events frame (a call of :data:`PASSWORD_EVENTS`
    made with one of the keys, without an error code), oldest first, one per event ID. The user
    is ``requestParameters.userName`` (a text of at most 64 characters), else the caller's own
    when the caller is an IAM user (``userIdentity.type`` IAMUser, its ``userName``): never a
    role session's or federated user's name, which its caller chose
    (:func:`unnamed_passwords`). A call whose outcome is unknown is kept, marked ``unknown``."""
    out: dict[str, ConsolePassword] = {}
    for row, of_unknown in _password_rows(frame, keys):
        request = _loads(row.request_parameters)
        named = request.get("userName") if isinstance(request, dict) else None
        user = named if isinstance(named, str) and named else _own_user(row)
        if user is None or len(user) > _MAX_USER:
            continue
        when = None if pd.isna(row.event_time) else pd.Timestamp(row.event_time)
        p = ConsolePassword(
            user_name=user,
            event_name=str(row.event_name),
            event_time=when,
            event_id=_text(row.event_id),
            set_by=_text(row.access_key_id),
            source_ip=_text(row.source_ip),
            unknown=bool(of_unknown),
        )
        out.setdefault(p.event_id or f"{len(out)}", p)
    return sorted(out.values(), key=_order)


def unnamed_passwords(frame: pd.DataFrame, keys: Collection[str]) -> list[UnnamedPassword]:
    """The calls of :data:`PASSWORD_EVENTS` ``keys`` made (not failed) that name no user and
    whose caller is neither an IAM user nor the account's root user (whose own password is
    another step's): their target is not known (:class:`UnnamedPassword`), oldest first."""
    out = []
    for row, of_unknown in _password_rows(frame, keys):
        request = _loads(row.request_parameters)
        named = request.get("userName") if isinstance(request, dict) else None
        caller = _text(row.user_type)
        if (isinstance(named, str) and named) or caller in ("IAMUser", "Root"):
            continue
        out.append(
            UnnamedPassword(
                event_name=str(row.event_name),
                event_time=None if pd.isna(row.event_time) else pd.Timestamp(row.event_time),
                event_id=_text(row.event_id),
                set_by=_text(row.access_key_id),
                caller_type=caller,
                caller_arn=_text(row.arn),
                unknown=bool(of_unknown),
            )
        )
    return sorted(out, key=lambda u: (u.event_time is None, _order_time(u.event_time)))


def _password_rows(frame: pd.DataFrame, keys: Collection[str]) -> list[tuple[Any, bool]]:
    """The rows of :data:`PASSWORD_EVENTS` made with ``keys`` and not failed, each with whether
    its outcome is unknown."""
    if not len(frame) or not keys:
        return []
    mask = (
        frame["event_name"].isin(PASSWORD_EVENTS).fillna(False).to_numpy(dtype=bool)
        & frame["access_key_id"].isin(list(keys)).fillna(False).to_numpy(dtype=bool)
        & ~failed_rows(frame)
    )
    if not mask.any():
        return []
    unknown = unknown_rows(frame)[mask]
    return list(zip(frame[mask].itertuples(index=False), unknown, strict=True))


def _own_user(row: Any) -> str | None:
    """The caller's own user name, only when the caller is an IAM user (its userName, written
    by AWS): a role session's or federated user's name is not a user's."""
    return _text(row.user_name) if _text(row.user_type) == "IAMUser" else None


def _order_time(t: pd.Timestamp | None) -> pd.Timestamp:
    return t if t is not None else pd.Timestamp.min.tz_localize("UTC")


def _order(p: ConsolePassword) -> tuple[bool, pd.Timestamp, str]:
    when = p.event_time if p.event_time is not None else pd.Timestamp.min.tz_localize("UTC")
    return (p.event_time is None, when, p.event_id or "")


def signs_in(record: Mapping[str, Any], users: Collection[str]) -> bool:
    """Whether ``record`` is a ``ConsoleLogin`` of one of the IAM ``users``
    (``userIdentity.type`` IAMUser, ``userIdentity.userName``)."""
    if record.get("eventName") != SIGN_IN_EVENT:
        return False
    who = record.get("userIdentity")
    if not isinstance(who, dict) or who.get("type") != "IAMUser":
        return False
    name = who.get("userName")
    return isinstance(name, str) and name in users


def console_call(record: Mapping[str, Any], users: Collection[str]) -> bool:
    """Whether ``record`` is a call of a console session of one of the IAM ``users``: made with a
    temporary key (``userIdentity.accessKeyId`` ``ASIA…``) that a console sign-in gave
    (``sessionCredentialFromConsole`` ``"true"``)."""
    if str(record.get("sessionCredentialFromConsole")).lower() != "true":
        return False
    who = record.get("userIdentity")
    if not isinstance(who, dict) or who.get("type") != "IAMUser":
        return False
    name, key = who.get("userName"), who.get("accessKeyId")
    return isinstance(name, str) and name in users and isinstance(key, str) and _temporary(key)


def _temporary(key: str) -> bool:
    return key.startswith("ASIA")


def console_sessions(
    frame: pd.DataFrame,
    passwords: Sequence[ConsolePassword],
    found: Sequence[SignIn],
) -> list[DerivedKey]:
    """The console sessions of an events frame of console calls (:func:`console_call`) that the
    passwords gave: each session key whose first call is at or after a password of its user was
    set, as a key minted by the password's key (``minted_by``, ``event_name`` ConsoleLogin):
    the successful sign-in before its first call (time, ID, IP), when one was read. A session
    begun before every password of its user is not the password's use: not returned."""
    if not len(frame):
        return []
    keys = frame["access_key_id"].astype("string")
    mine = frame[keys.str.startswith("ASIA").fillna(False).to_numpy(dtype=bool)]
    out = []
    for key, rows in mine.groupby(mine["access_key_id"].astype(object), sort=False):
        first = rows["event_time"].min()
        user = str(rows["user_name"].iloc[0])
        set_before = [
            p
            for p in passwords
            if p.user_name == user
            and (p.event_time is None or pd.isna(first) or p.event_time <= first)
        ]
        if not set_before:
            continue
        p = max(set_before, key=_order)
        signs = [
            s
            for s in found
            if s.user_name == user
            and s.succeeded
            and s.event_time is not None
            and not pd.isna(first)
            and s.event_time <= first
            and (p.event_time is None or s.event_time >= p.event_time)
        ]
        s = signs[-1] if signs else None
        out.append(
            DerivedKey(
                access_key_id=str(key),
                minted_by=p.set_by,
                event_name=SIGN_IN_EVENT,
                event_time=None if s is None else s.event_time,
                event_id=None if s is None else s.event_id,
                source_ip=None if s is None else s.source_ip,
                role_arn=None,
                expiration=None,
            )
        )
    return sorted(out, key=lambda d: (d.event_time is None, str(d.event_time), d.access_key_id))


def user_needles(users: Iterable[str]) -> tuple[bytes, ...]:
    """The bytes a sign-in record of ``users`` holds: each name as a JSON string (IAM user names
    are ``[\\w+=,.@-]``: JSON writes them without escapes; a file that escapes a character is
    parsed whole, :func:`~torinvest.sources.logs.prefilter.escapes_may_hide`)."""
    return tuple(sorted(orjson.dumps(u) for u in users))


def sign_ins(frame: pd.DataFrame, users: Collection[str]) -> list[SignIn]:
    """The ``ConsoleLogin`` rows of IAM ``users`` in an events frame, oldest first (MFA is not a
    column of the frame: ``mfa_used`` None, see :func:`with_mfa`)."""
    if not len(frame) or not users:
        return []
    mask = (
        frame["event_name"].eq(SIGN_IN_EVENT).fillna(False).to_numpy(dtype=bool)
        & frame["user_name"].isin(list(users)).fillna(False).to_numpy(dtype=bool)
        & frame["user_type"].astype("string").eq("IAMUser").fillna(False).to_numpy(dtype=bool)
    )
    rows = frame[mask]
    out = []
    for row in rows.itertuples(index=False):
        response = _loads(row.response_elements)
        result = response.get(SIGN_IN_EVENT) if isinstance(response, dict) else None
        out.append(
            SignIn(
                user_name=str(row.user_name),
                event_time=None if pd.isna(row.event_time) else pd.Timestamp(row.event_time),
                event_id=_text(row.event_id),
                source_ip=_text(row.source_ip),
                result=result if isinstance(result, str) else None,
                mfa_used=None,
                aws_region=_text(row.aws_region),
                user_agent=_text(row.user_agent),
                origin=_text(getattr(row, "origin", None)),
            )
        )
    return sorted(out, key=_sign_in_order)


def with_mfa(found: list[SignIn], records: Iterable[Mapping[str, Any]]) -> list[SignIn]:
    """``found`` with ``mfa_used`` from their records (``additionalEventData.MFAUsed``, by
    event ID; a value that is not a short text is not taken)."""
    mfa: dict[str, str] = {}
    for r in records:
        extra = r.get("additionalEventData")
        used = extra.get("MFAUsed") if isinstance(extra, dict) else None
        if isinstance(r.get("eventID"), str) and isinstance(used, str) and len(used) <= 16:
            mfa[r["eventID"]] = used
    return [
        replace(s, mfa_used=mfa[s.event_id]) if s.event_id is not None and s.event_id in mfa else s
        for s in found
    ]


def after(found: Iterable[SignIn], password: ConsolePassword) -> list[SignIn]:
    """The sign-ins of ``password``'s user at or after it was set (all of the user's when its
    time is not known; a sign-in without a time is kept: it cannot be shown to be before)."""
    t = password.event_time
    return [
        s
        for s in found
        if s.user_name == password.user_name
        and (t is None or s.event_time is None or s.event_time >= t)
    ]


def _sign_in_order(s: SignIn) -> tuple[bool, pd.Timestamp, str]:
    when = s.event_time if s.event_time is not None else pd.Timestamp.min.tz_localize("UTC")
    return (s.event_time is None, when, s.event_id or "")


def _iso(t: pd.Timestamp | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _loads(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return parse_json(text)
    except orjson.JSONDecodeError:
        return None


def _text(v: Any) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or v == "":
        return None
    return str(v)
