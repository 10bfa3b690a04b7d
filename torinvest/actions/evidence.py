"""The evidence: what the activity created, changed and read — each undo step, each manual
step naming its target, each secret to rotate.

One write's undo steps are in :mod:`~torinvest.actions.undo`; what the activity created, and the
steps tied to it, in :mod:`~torinvest.actions.created`. :func:`event_account` and ``Made`` are
importable from here as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from torinvest.actions.created import Made as Made
from torinvest.actions.created import (
    _after_renames,
    _made_by_activity,
    _renamed_by_activity,
    _tie_to_creation,
    _unless_preexisting,
)
from torinvest.actions.plan import Action, _present, record_of, root_step
from torinvest.actions.undo import _elsewhere, _in_a_region, _manual, _undo_one
from torinvest.actions.undo import event_account as event_account
from torinvest.aws.regions import REGION_RE
from torinvest.outcome import UNKNOWN_WHY, failed_rows, succeeded_rows, unknown_rows
from torinvest.safety import cli_option, prose_safe
from torinvest.targets import MORE_KIND, SECRET_READS, read_names, row_targets, targets_text
from torinvest.targets import json_object as _params


def _catalogue() -> pd.DataFrame:
    from torinvest.analysis import load_catalogue

    return load_catalogue()


#: Catalogue categories whose writes are left to a manual step when no undo call is known.
_MANUAL_CATEGORIES = frozenset(
    {"persistence", "privilege-escalation", "defense-evasion", "exfiltration", "impact"}
)


def undo_persistence(events: pd.DataFrame | None, account: str | None = None) -> list[Action]:
    """Undo calls for every successful write in ``events`` that created or changed something,
    newest first; writes the sensitive-actions catalogue knows but no call can safely undo
    become manual steps naming their target.

    ``account`` is the finding's (where the run's calls go): a write made in another account
    (:func:`event_account`), or in none the event names, is a manual step naming that account,
    never a call here."""
    if events is None or not len(events):
        return []
    ok = events[succeeded_rows(events)]
    rows = ok.sort_values("event_time", ascending=False, kind="stable")
    cat = _catalogue()
    known = {
        (str(r.event_name), str(r.event_source)): r
        for r in cat.itertuples(index=False)
        if r.category in _MANUAL_CATEGORIES
    }
    made = _made_by_activity(ok, account)
    out: list[Action] = []
    times: list[pd.Timestamp | None] = []  # the time of the event each step comes from
    for row in rows.to_dict("records"):
        here = event_account(row)
        local = account is None or here == account
        since = None if pd.isna(row["event_time"]) else row["event_time"]
        own = _root_own_write(row)
        if own is not None:  # the root user's own key, password or MFA: by hand only
            out.append(own if local else _elsewhere(own, here))
            times.append(since)
            continue
        undo = [
            _in_a_region(_unless_preexisting(_from_record(a, row), row, made))
            for a in _undo_one(row)
        ]
        if undo:
            out += undo if local else [_elsewhere(a, here) for a in undo]
            times += [since] * len(undo)
            continue
        entry = known.get((str(row["event_name"]), str(row.get("event_source"))))
        if entry is None or row["event_name"] in SECRET_READS or row.get("read_only") is True:
            continue
        found = row_targets(row)
        target = targets_text(found)
        t = row["event_time"]
        stamp = "an unknown time" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}Z"
        where = f" in {row.get('aws_region')}" if _present(row.get("aws_region")) else ""
        in_account = "" if local else f"in account {here or '(none named)'}: "
        out.append(
            _manual(
                str(row["event_name"]),
                f"{in_account}review and undo {row['event_name']}{where} on "
                f"{target or '(see the event)'} at {stamp}: {entry.note}",
                f"{row['event_name']} at {stamp} from {row.get('source_ip')} ({entry.category})",
                tuple(t.value for t in found if t.kind != MORE_KIND),
                service=str(row.get("event_source") or "").split(".")[0] or "iam",
            )
        )
        times.append(since)
    unknown = _unknown_writes(events[unknown_rows(events)], known)  # manual: no rename
    out += unknown
    times += [None] * len(unknown)
    return _after_renames(_tie_to_creation(out, made), times, _renamed_by_activity(ok, account))


def _from_record(action: Action, row: Mapping[str, Any]) -> Action:
    """An undo call carries the record of the write it undoes (the runner confirms it with
    CloudTrail before the call: a forged record undoes nothing); a manual step runs nothing."""
    if action.manual:
        return action
    return replace(action, records=(*action.records, record_of(row)))


#: IAM writes that act on the caller's own credentials when their request names no user.
_OWN_CREDENTIAL_WRITES = frozenset(
    {
        "CreateAccessKey",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "UploadSigningCertificate",
        "UpdateSigningCertificate",
        "EnableMFADevice",
        "DeactivateMFADevice",
        "ResyncMFADevice",
        "CreateLoginProfile",
        "UpdateLoginProfile",
        "ChangePassword",
    }
)


def _root_own_write(row: Mapping[str, Any]) -> Action | None:
    """The manual step for a write the account's root user made on its own credentials (an IAM
    call of :data:`_OWN_CREDENTIAL_WRITES` by userIdentity.type Root whose request names no
    user): no IAM call undoes it, and an undo call naming a user would act on someone else."""
    if str(row.get("user_type")) != "Root" or str(row.get("event_source")) != "iam.amazonaws.com":
        return None
    name = str(row["event_name"])
    req = _params(row.get("request_parameters"))
    if name not in _OWN_CREDENTIAL_WRITES or _present(req.get("userName")):
        return None
    resp = _params(row.get("response_elements"))
    made = resp.get("accessKey") if isinstance(resp.get("accessKey"), dict) else {}
    found = [
        str(v)
        for v in (made.get("accessKeyId"), req.get("accessKeyId"), req.get("serialNumber"))
        if _present(v)
    ]
    t = row["event_time"]
    stamp = "an unknown time" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}Z"
    what = f" ({', '.join(found)})" if found else ""
    return root_step(
        name,
        f"the account's root user made {name}{what} at {stamp} on its own credentials: sign in "
        "as root and review and undo it (delete an access key it created or re-activated, "
        "remove an MFA device it enabled, reset the root password)",
        f"{name} at {stamp} from {row.get('source_ip')} by the root user",
        found,
    )


def _unknown_writes(rows: pd.DataFrame, known: dict[tuple[str, str], Any]) -> list[Action]:
    """A manual step per write of unknown outcome (:mod:`torinvest.outcome`) that, had it
    succeeded, would be undone: whether it took effect is checked by hand, never assumed."""
    out: list[Action] = []
    for row in rows.sort_values("event_time", ascending=False, kind="stable").to_dict("records"):
        if row.get("read_only") is True or row["event_name"] in SECRET_READS:
            continue
        if not _undo_one(row) and (str(row["event_name"]), str(row.get("event_source"))) not in (
            known
        ):
            continue
        found = row_targets(row)
        t = row["event_time"]
        stamp = "an unknown time" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}Z"
        out.append(
            _manual(
                str(row["event_name"]),
                f"{row['event_name']} at {stamp} is of unknown outcome ({UNKNOWN_WHY}): check "
                f"whether it took effect on {targets_text(found) or '(see the event)'} "
                "(IAM, the log files of the trail) and undo it if it did",
                f"{row['event_name']} at {stamp}: outcome unknown",
                tuple(t.value for t in found if t.kind != MORE_KIND),
                service=str(row.get("event_source") or "").split(".")[0] or "iam",
            )
        )
    return out


def rotate_secrets(events: pd.DataFrame | None, account: str | None = None) -> list[Action]:
    """One manual rotation step per secret or parameter the activity read successfully (naming
    its account when it is not ``account``, the finding's)."""
    if events is None or not len(events):
        return []
    may_have_read = ~failed_rows(events)  # succeeded, or of unknown outcome: it may have
    rows = events[events["event_name"].isin(list(SECRET_READS)).to_numpy(bool) & may_have_read]
    seen: dict[tuple[str, str, str | None, str | None], pd.Timestamp] = {}
    for row in rows.sort_values("event_time", kind="stable").to_dict("records"):
        raw = str(row.get("aws_region")) if _present(row.get("aws_region")) else None
        region = raw
        here = event_account(row)
        if account is not None and here != account:
            region = f"{region or '?'} of account {here or '(none named)'}"
        kind = "secret" if str(row["event_name"]).endswith("SecretValue") else "parameter"
        for n in read_names(str(row["event_name"]), _params(row.get("request_parameters"))):
            seen.setdefault((kind, n, region, raw), row["event_time"])
    out = []
    for (kind, n, region, raw), when in seen.items():
        where = f" in {region}" if region else ""
        # Secrets Manager and SSM are regional: a command without --region goes to the CLI's
        # default region, where a same-named secret may be another one (changed by mistake,
        # the one read left as it was) — every command names the region, or REGION to fill in
        named = raw if raw and REGION_RE.fullmatch(raw) else "REGION"
        unknown = (
            ""
            if named != "REGION"
            else " (the event names no usable region: find where it was read, for REGION)"
        )
        at = cli_option("--region", named)
        if kind == "secret":
            secret = cli_option("--secret-id", n)
            how = (
                f"rotate secret {n}{where}: change it at its source, then store the new value "
                f"(aws secretsmanager put-secret-value {at} {secret} "
                f"--secret-string=file://NEW-VALUE, or aws secretsmanager rotate-secret {at} "
                f"{secret} if rotation is set up){unknown}"
            )
            op, service = "RotateSecret", "secretsmanager"
        else:
            how = (
                f"rotate parameter {n}{where}: change it at its source, then store the new value "
                f"(aws ssm put-parameter {at} {cli_option('--name', n)} --overwrite "
                f"--value=file://NEW-VALUE){unknown}"
            )
            op, service = "PutParameter", "ssm"
        out.append(
            Action(
                service,
                op,
                {},
                why=f"the actor read {kind} {prose_safe(n)} at {when:%Y-%m-%d %H:%M:%S}Z",
                region=region,
                manual=how,
                targets=(n,),
            )
        )
    return out


def failed_secret_reads(events: pd.DataFrame | None) -> list[str]:
    """Secrets and parameters the activity tried to read and was refused or did not find."""
    if events is None or not len(events):
        return []
    rows = events[
        events["event_name"].isin(list(SECRET_READS)).to_numpy(bool) & failed_rows(events)
    ]
    out: list[str] = []
    for row in rows.to_dict("records"):
        for n in read_names(str(row["event_name"]), _params(row.get("request_parameters"))):
            text = f"{n} ({row['error_code']})"
            if text not in out:
                out.append(text)
    return out
