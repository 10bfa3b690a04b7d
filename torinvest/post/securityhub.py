"""AWS Security Hub: ``securityhub`` — the GuardDuty finding's Security Hub copy gets a note and a
workflow status from the verdict (``BatchUpdateFindings``).

The copy's ``Id`` is the GuardDuty finding's ARN and its ``ProductArn``
``arn:<partition>:securityhub:<region>::product/aws/guardduty``. summary.json holds the finding's
ID, account and region but not its detector, so the ARN is read from GuardDuty in the finding's
region (``ListDetectors``, ``GetFindings``: the finding's account or its GuardDuty
administrator can) and remembered in the posting record; ``securityhub:ARN`` gives it instead.

The note (≤ 512 characters) says the verdict, the analyst, one line of why, the remediation
if one was executed, and where the report is (the tickets it was posted to in the same
folder's record, else this host's folder). ``Workflow.Status``: legitimate → SUPPRESSED,
malicious or inconclusive → NOTIFIED, RESOLVED once a remediation was executed and ledgered;
pending leaves it as it is. ``VerificationState``: legitimate → BENIGN_POSITIVE, malicious →
TRUE_POSITIVE, inconclusive → UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from torinvest.aws import (
    AWS_CALL_ERRORS,
    PageTrail,
    answer,
    arn_partition,
    translate_error,
    validate_region,
)
from torinvest.errors import EndpointError, InputError
from torinvest.post.answer import security_hub_note
from torinvest.post.base import (
    Bundle,
    Context,
    DestinationSpec,
    PostError,
    PostFile,
    aws_post_error,
    remote_id,
)

SERVICE = "securityhub"
#: BatchUpdateFindings' limit on findings per call (this posts one).
MAX_FINDINGS_PER_CALL = 100


def product_arn(partition: str, region: str) -> str:
    return f"arn:{partition}:securityhub:{region}::product/aws/guardduty"


class SecurityHubFinding:
    """``securityhub`` / ``securityhub:FINDING_ARN``."""

    takes_files = False

    def __init__(self, spec: DestinationSpec, ctx: Context) -> None:
        self.spec = spec.text
        self.ctx = ctx
        self.given_arn = spec.args[0] if spec.args else None
        self.site = "aws"
        self.arn: str | None = None
        self.region: str | None = None

    def close(self) -> None:
        pass

    def _region(self, bundle: Bundle) -> str:
        region = str(bundle.summary["finding"].get("region") or "")
        if self.given_arn:
            region = self.given_arn.split(":")[3]
        try:
            return validate_region(region)
        except InputError:
            raise PostError(
                self.spec, f"the report names no usable region for finding {bundle.finding_id}"
            ) from None

    def _call(self, service: str, region: str, operation: str, **params: Any) -> Any:
        client = self.ctx.aws.client(service, region)
        try:
            return getattr(client, _snake(operation))(**params)
        except AWS_CALL_ERRORS as e:
            err = translate_error(e, service=service, region=region, operation=operation)
            hint = err.hint
            if err.code == "InvalidAccessException":
                hint = (
                    f"Security Hub is not enabled in {region} for this account, or the caller "
                    "may not call securityhub:BatchUpdateFindings"
                )
            raise aws_post_error(
                self.spec, err, self.ctx.redactor(err.message), hint=hint
            ) from None

    def update(self, bundle: Bundle) -> dict[str, Any]:
        """The BatchUpdateFindings parameters (without the finding identifier)."""
        from torinvest.post.engine import where_is

        a = bundle.answer
        text, by = security_hub_note(a, where_is(bundle))
        params: dict[str, Any] = {"Note": {"Text": text, "UpdatedBy": by}}
        if a.workflow:
            params["Workflow"] = {"Status": a.workflow}
        if a.verification:
            params["VerificationState"] = a.verification
        return params

    def content(self, bundle: Bundle) -> str:
        return orjson.dumps(self.update(bundle), option=orjson.OPT_SORT_KEYS).decode()

    def prepare(self, bundle: Bundle, memory: Mapping[str, Any]) -> dict[str, Any]:
        self.region = self._region(bundle)
        fid = bundle.finding_id
        if self.given_arn:
            if not self.given_arn.endswith(f"/finding/{fid}"):
                raise PostError(
                    self.spec,
                    f"the ARN given is not finding {fid}'s (the report's finding)",
                    hint="give the ARN of the report's finding, or just `securityhub`",
                )
            self._check_given_arn(bundle)
            self.arn = self.given_arn
        elif memory.get("finding_arn"):
            self.arn = str(memory["finding_arn"])
        else:
            self.arn = self._resolve(fid, self.region)
        return {"finding_arn": self.arn}

    def _check_given_arn(self, bundle: Bundle) -> None:
        """The given ARN's account and region are the report's finding's: a finding ID alone
        does not say whose copy it is (raise :class:`PostError` naming both, before sending)."""
        assert self.given_arn is not None
        parts = self.given_arn.split(":")
        region, account = (parts[3], parts[4]) if len(parts) > 5 else ("", "")
        finding = bundle.summary["finding"]
        want = {
            "account": str(finding.get("account_id") or ""),
            "region": str(finding.get("region") or ""),
        }
        got = {"account": account, "region": region}
        wrong = [k for k in ("account", "region") if want[k] and got[k] != want[k]]
        if wrong:
            said = " and ".join(f"{k} {got[k] or '(none)'}" for k in wrong)
            theirs = " and ".join(f"{k} {want[k]}" for k in wrong)
            raise PostError(
                self.spec,
                f"the ARN given names {said}, but the report's finding {bundle.finding_id} is "
                f"in {theirs}: not sent",
                hint="give the ARN of the report's finding (its account and region), or just "
                "`securityhub` (the ARN is read from GuardDuty)",
            )

    def _resolve(self, finding_id: str, region: str) -> str:
        """The finding's ARN from GuardDuty (every detector of this account in ``region``).

        A ListDetectors chain that never ends (:mod:`torinvest.aws.pages`) stops: the detectors
        listed before are still asked, and when none holds the finding the failure says the
        detectors could not all be listed, never that GuardDuty does not show it."""
        detectors: list[str] = []
        token: str | None = None
        trail = PageTrail("guardduty", "ListDetectors", region=region)
        endless: EndpointError | None = None
        while True:
            kw = {"NextToken": token} if token else {}
            got = self._call("guardduty", region, "ListDetectors", **kw)
            detectors += answer(
                got,
                "DetectorIds",
                list,
                service="guardduty",
                operation="ListDetectors",
                region=region,
            )
            token = got.get("NextToken") or None
            try:
                if not trail.follow(token):
                    break
            except EndpointError as e:
                endless = e
                break
        for detector in dict.fromkeys(detectors):
            got = self._call(
                "guardduty", region, "GetFindings", DetectorId=detector, FindingIds=[finding_id]
            )
            found = answer(
                got, "Findings", list, service="guardduty", operation="GetFindings", region=region
            )
            for f in found:
                if isinstance(f, dict) and f.get("Id") == finding_id:
                    what = f"read finding {finding_id} from GuardDuty in {region}"
                    return remote_id(self.spec, f.get("Arn"), what, "finding ARN")
        if endless is not None:  # could not look at every detector: not "does not show"
            raise PostError(
                self.spec,
                f"{endless.message}; finding {finding_id} is in none of the {len(set(detectors))}"
                " detector(s) listed before, so its Security Hub Id (its ARN) is unknown",
                hint=f"{endless.hint}; or give the ARN: --to securityhub:arn:"
                f"{arn_partition(region)}:guardduty:REGION:ACCOUNT:detector/DETECTOR/finding/ID",
            )
        raise PostError(
            self.spec,
            f"GuardDuty in {region} does not show finding {finding_id} to these credentials "
            f"({len(detectors)} detector(s) asked), so its Security Hub Id (its ARN) is unknown",
            hint="run with credentials of the finding's account or its GuardDuty administrator, "
            f"or give the ARN: --to securityhub:arn:{arn_partition(region)}:guardduty:REGION:"
            "ACCOUNT:detector/DETECTOR/finding/ID",
        )

    def upload(self, bundle: Bundle, file: PostFile, token: str) -> dict[str, Any]:
        raise AssertionError("securityhub takes no files")  # pragma: no cover

    def note(self, bundle: Bundle, files: list[dict[str, Any]], token: str) -> dict[str, Any]:
        if self.arn is None or self.region is None:  # pragma: no cover - prepare runs first
            raise AssertionError("prepare() before note()")
        partition = self.ctx.aws.session.get_partition_for_region(self.region) or "aws"
        ident = {"Id": self.arn, "ProductArn": product_arn(partition, self.region)}
        params = self.update(bundle)
        got = self._call(
            SERVICE, self.region, "BatchUpdateFindings", FindingIdentifiers=[ident], **params
        )
        processed = answer(
            got, "ProcessedFindings", list, service=SERVICE, operation="BatchUpdateFindings"
        )
        unprocessed = answer(
            got, "UnprocessedFindings", list, service=SERVICE, operation="BatchUpdateFindings"
        )
        if unprocessed:
            u = unprocessed[0] if isinstance(unprocessed[0], dict) else {}
            code = u.get("ErrorCode") or "?"
            hint = (
                f"Security Hub has no copy of this finding in {self.region}: is Security Hub "
                "enabled there with the GuardDuty integration (and the finding not older than "
                "its retention)?"
                if code == "FindingNotFound"
                else "try again later"
            )
            raise PostError(
                self.spec,
                f"Security Hub did not update finding {bundle.finding_id}: {code}: "
                f"{u.get('ErrorMessage') or ''}".rstrip(": "),
                hint=hint,
            )
        if not any(isinstance(p, dict) and p.get("Id") == self.arn for p in processed):
            # neither processed nor refused: nothing says the copy was updated
            raise PostError(
                self.spec,
                f"Security Hub did not say it updated finding {bundle.finding_id}: "
                "BatchUpdateFindings answered without it among the processed findings",
                hint="check the finding in Security Hub (its note and workflow status); check "
                "that AWS_ENDPOINT_URL_SECURITYHUB, if set, is Security Hub; post again to retry",
            )
        return {
            "finding_arn": self.arn,
            "workflow": params.get("Workflow", {}).get("Status"),
            "verification": params.get("VerificationState"),
        }


def _snake(operation: str) -> str:
    from botocore import xform_name

    return xform_name(operation)
