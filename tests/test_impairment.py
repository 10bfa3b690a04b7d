"""The key turned off what the reading relies on (torinvest.impairment): a trail stopped,
deleted, narrowed or moved, the trail's bucket expired, GuardDuty disabled or told to trust an
address — each a data issue of the reading (never "no events after T" read as a quiet account),
or a note when it blinds nothing read (another trail, LookupEvents read, something torinvest
does not read). A failed call impaired nothing. Catalogue: docs/hostile-inputs.md, "The key
impaired the logging".

Records: real ones of the sample case's background (the Invictus IR dataset: Stratus Red Team's
StopLogging, DeleteTrail, PutEventSelectors, StartLogging, PutBucketLifecycle, DeleteLogGroup,
GuardDuty's GetDetector) and the AWS documentation's UpdateTrail, each made a call of the
suspect key from a Tor exit (:func:`as_key`); GuardDuty's writes are the GetDetector record
with their own requestParameters, whose names are checked against botocore's model.
"""

from __future__ import annotations

import copy
import gzip
import json
import shutil
import uuid
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pandas as pd
import pytest

from tests.cli_run import issues, run
from tests.fake_aws import AthenaRegion
from tests.hostile.test_digests import write_digests
from tests.lookup_export import lookup_event
from tests.sample_window import REGIONS
from tests.sources.sql.helpers import Recorder, athena_results
from torinvest import campaign, investigation
from torinvest.case import sample_case
from torinvest.impairment import (
    CLOUDTRAIL_SOURCE,
    GUARDDUTY_SOURCE,
    S3_SOURCE,
    Reading,
    impairments,
)
from torinvest.sources.records import normalize_records

CASE = sample_case()
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
TOR_IP = "185.220.101.34"
TRAIL = "management-events"
DAY = CASE.cloudtrail / "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10"
AWSDOCS = Path(__file__).parent / "fixtures/cloudtrail/awsdocs/awsdocs_cloudtrail_examples.jsonl"

# real records of the sample case's background, by eventID
STOP_LOGGING_FAILED = "f6e10706-705c-47f2-94d4-112a9527ab8b"  # TrailNotFoundException
DELETE_TRAIL = "fcec2e46-3cc3-4ac2-8144-3674f06990e4"
SELECTORS_OFF = "076e96d5-2983-473f-920a-2fc2d7e02777"  # management events off, ReadOnly
SELECTORS_ALL = "3d6df238-f83c-4a34-bea8-45cf80a2050b"  # All, management events on
START_LOGGING = "2f8e806b-355c-49fc-9ac6-7cea7d864938"
CREATE_TRAIL = "ad384a22-c03e-4f3c-8520-86a31e79378d"  # the DeleteTrail's trail, single-region
LIFECYCLE = "7823c70d-f7f9-4a04-b4c0-baa8fbe09ea3"  # expire after 1 day
DELETE_LOG_GROUP = "349b65f9-1932-4258-a52e-476cf4fcf6d7"
GET_DETECTOR = "3c13a8db-cbdf-431f-bdff-bf3dc049d04c"
CREATE_USER = "a5a980fe-2e53-4b5b-98fa-180c12cb2503"  # the suspect key's, from Tor


@cache
def _background() -> dict[str, dict[str, Any]]:
    out = {}
    for f in CASE.cloudtrail.rglob("*.json.gz"):
        for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]:
            out[r["eventID"]] = r
    return out


def real(event_id: str) -> dict[str, Any]:
    return copy.deepcopy(_background()[event_id])


def as_key(
    rec: dict[str, Any], time: str, *, ok: bool = True, ip: str = TOR_IP, **request: Any
) -> dict[str, Any]:
    """``rec`` as a call of the suspect key from ``ip`` at ``time`` (its own eventID); ``ok``:
    without errorCode/errorMessage, as CloudTrail records a call that did not fail;
    ``request``: requestParameters changed."""
    out = copy.deepcopy(rec)
    out["userIdentity"] = copy.deepcopy(_background()[CREATE_USER]["userIdentity"])
    out["eventTime"] = time
    out["sourceIPAddress"] = ip
    out["eventID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rec['eventName']}/{time}/{ok}"))
    out["requestID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"request/{out['eventID']}"))
    if ok:
        out.pop("errorCode", None)
        out.pop("errorMessage", None)
    if request:
        out["requestParameters"] = {**(out.get("requestParameters") or {}), **request}
    return out


def stop_logging(time: str, trail: str = TRAIL, *, ok: bool = True) -> dict[str, Any]:
    arn = f"arn:aws:cloudtrail:us-east-1:123837392027:trail/{trail}"
    return as_key(real(STOP_LOGGING_FAILED), time, ok=ok, name=arn)


def update_trail(time: str, **request: Any) -> dict[str, Any]:
    """The AWS documentation's UpdateTrail record (it failed: TrailNotFoundException), as a
    call that did not fail, its response as CreateTrail's (the same members in botocore)."""
    doc = next(
        json.loads(line) for line in AWSDOCS.read_text().splitlines() if '"UpdateTrail"' in line
    )
    doc.pop("_source_md")
    rec = as_key(doc, time, name=TRAIL, **request)
    response = copy.deepcopy(real(CREATE_TRAIL)["responseElements"])
    response.update(name=TRAIL, **{k: v for k, v in request.items() if k in response})
    rec["responseElements"] = response
    return rec


def guardduty(name: str, time: str, request: dict[str, Any], response: Any = None) -> dict:
    """A GuardDuty write of the suspect key: the real GetDetector record's envelope."""
    rec = as_key(real(GET_DETECTOR), time)
    rec.update(eventName=name, readOnly=False, responseElements=response)
    rec["requestParameters"] = {"detectorId": "6ec1aa76c9c3020a93af9e89a5a3a439", **request}
    return rec


def gd(call: tuple[str, dict[str, Any]], time: str = "2023-07-10T12:29:31Z") -> dict:
    return guardduty(call[0], time, call[1])


DISABLE = ("UpdateDetector", {"enable": False})
DELETE_DETECTOR = ("DeleteDetector", {})
IP_SET = (
    "CreateIPSet",
    {
        "name": "office",
        "format": "TXT",
        "location": "https://s3.amazonaws.com/stratus-red-team-olc-bucket-xhfgzaowxc/ips.txt",
        "activate": True,
    },
)
LEAVE_ADMIN = ("DisassociateFromAdministratorAccount", {})
SUPPRESS = (
    "CreateFilter",
    {
        "name": "quiet",
        "action": "ARCHIVE",
        "rank": 1,
        "findingCriteria": {
            "criterion": {"type": {"eq": ["UnauthorizedAccess:IAMUser/TorIPCaller"]}}
        },
    },
)
GUARDDUTY_CALLS = (DISABLE, DELETE_DETECTOR, IP_SET, LEAVE_ADMIN, SUPPRESS)


def frame(*records: dict[str, Any]) -> pd.DataFrame:
    """The events frame of ``records``, with their Tor status (the exit's calls: Tor)."""
    out = normalize_records(list(records), source="logs", origin="test")
    out["tor"] = (out["source_ip"].astype("string") == TOR_IP).astype("boolean")
    return out


LOG_FILES = Reading(trail_files=True, window=(pd.Timestamp("2023-06-26T12:17:08Z"), pd.Timestamp("2023-07-17T12:20:04Z")), access_key=KEY)  # fmt: skip
LOOKUP_ONLY = Reading(trail_files=False, lookup_regions=("us-east-1",), access_key=KEY)


# --------------------------------------------------------------------------------------------
# the records are real shapes
# --------------------------------------------------------------------------------------------
def _input_names(service: str, operation: str) -> set[str]:
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    names = set()
    for member, s in shape.members.items():
        name = s.serialization.get("name") or member
        names.add(name[0].lower() + name[1:])  # as CloudTrail records it (detectorId)
    return names


@pytest.mark.parametrize(("name", "request_"), GUARDDUTY_CALLS)
def test_guardduty_records_name_what_botocore_sends(name: str, request_: dict) -> None:
    rec = guardduty(name, "2023-07-10T12:30:00Z", request_)
    assert set(rec["requestParameters"]) <= _input_names("guardduty", name)


def test_update_trail_record_names_what_botocore_sends() -> None:
    rec = update_trail("2023-07-10T12:30:00Z", isMultiRegionTrail=False)
    assert set(rec["requestParameters"]) <= _input_names("cloudtrail", "UpdateTrail")


# --------------------------------------------------------------------------------------------
# each kind, over log files
# --------------------------------------------------------------------------------------------
T = "2023-07-10T12:29:31Z"


@pytest.mark.parametrize(
    ("record", "source", "says"),
    [
        (lambda: stop_logging(T), CLOUDTRAIL_SOURCE, "trail management-events stopped logging"),
        (lambda: as_key(real(DELETE_TRAIL), T), CLOUDTRAIL_SOURCE, "was deleted"),
        (
            lambda: as_key(real(SELECTORS_OFF), T),
            CLOUDTRAIL_SOURCE,
            "stopped recording management events",
        ),
        (
            lambda: update_trail(T, s3BucketName="attacker-bucket", s3KeyPrefix="x"),
            CLOUDTRAIL_SOURCE,
            "go to bucket attacker-bucket, not to the folder(s) read: what was read holds none of them",
        ),
        (
            lambda: update_trail(T, isMultiRegionTrail=False),
            CLOUDTRAIL_SOURCE,
            "in regions other than us-east-2",
        ),
        (
            lambda: update_trail(T, includeGlobalServiceEvents=False),
            CLOUDTRAIL_SOURCE,
            "hold no global service event",
        ),
        (lambda: gd(DISABLE), GUARDDUTY_SOURCE, "disabled"),
        (lambda: gd(DELETE_DETECTOR), GUARDDUTY_SOURCE, "deleted"),
        (lambda: gd(IP_SET), GUARDDUTY_SOURCE, "trusted IP list office"),
        (lambda: gd(LEAVE_ADMIN), GUARDDUTY_SOURCE, "left its administrator"),
    ],
    ids=[
        "StopLogging",
        "DeleteTrail",
        "PutEventSelectors",
        "UpdateTrail-bucket",
        "UpdateTrail-one-region",
        "UpdateTrail-no-global",
        "UpdateDetector",
        "DeleteDetector",
        "CreateIPSet",
        "DisassociateFromAdministratorAccount",
    ],
)
def test_each_impairing_call_is_a_data_issue_of_the_reading(
    record: Any, source: str, says: str
) -> None:
    found = impairments(frame(record()), LOG_FILES)
    [issue] = found.issues
    assert issue.source == source
    if "bucket attacker-bucket" in says:  # where the files go: read them there
        assert "read the log files there too: --logs s3://attacker-bucket/x/AWSLogs/" in (
            issue.problem
        )
    assert says in issue.problem
    assert f"{KEY} from Tor IP {TOR_IP}" in issue.problem or KEY in issue.problem
    if source == CLOUDTRAIL_SOURCE:  # the trail's files after T: not "no activity"
        assert "is not 'no activity'" in issue.problem or "is not 'none made'" in issue.problem
        assert found.activity_gaps == found.issues
    else:  # GuardDuty: the related-findings search after T
        assert "related-findings search and 'no other finding' are not complete after" in (
            issue.problem
        )
        assert found.findings_gaps == found.issues


def test_the_trail_bucket_expired_is_an_issue_when_it_is_the_bucket_read() -> None:
    rec = as_key(real(LIFECYCLE), T)
    bucket = rec["requestParameters"]["bucketName"]
    read = Reading(trail_files=True, buckets=(bucket,))
    [issue] = impairments(frame(rec), read).issues
    assert issue.source == S3_SOURCE
    assert "the bucket the log files were read from" in issue.problem
    assert "older than 1 day(s) expire" in issue.problem
    # another bucket than the one read: nothing the reading relies on
    assert not impairments(frame(rec), Reading(trail_files=True, buckets=("trail-b",))).calls
    # local folders (a copy): whose it is not known — a note
    local = impairments(frame(rec), Reading(trail_files=True))
    assert not local.issues and "if stratus-red-team-ctlr-bucket" in local.notes[0]


@pytest.mark.parametrize(
    ("record", "says"),
    [
        (lambda: gd(SUPPRESS), "the related-findings search includes archived"),
        (lambda: as_key(real(DELETE_LOG_GROUP), T), "not CloudWatch Logs"),
    ],
    ids=["CreateFilter-ARCHIVE", "DeleteLogGroup"],
)
def test_what_blinds_nothing_read_is_a_note(record: Any, says: str) -> None:
    found = impairments(frame(record()), LOG_FILES)
    assert not found.issues
    [note] = found.notes
    assert says in note


# --------------------------------------------------------------------------------------------
# failed, undone, another trail, LookupEvents
# --------------------------------------------------------------------------------------------
def test_a_failed_call_impaired_nothing() -> None:
    failed = [
        stop_logging(T, ok=False),
        as_key(real(STOP_LOGGING_FAILED), T, ok=False),  # TrailNotFoundException as recorded
    ]
    assert failed[0]["errorCode"] == "TrailNotFoundException"
    assert not impairments(frame(*failed), LOG_FILES).calls


def test_start_logging_after_ends_the_gap_and_says_its_span() -> None:
    start = as_key(real(START_LOGGING), "2023-07-10T13:01:31Z", name=TRAIL)
    [issue] = impairments(frame(stop_logging(T), start), LOG_FILES).issues
    assert f"until StartLogging by {KEY} from Tor IP {TOR_IP} at 2023-07-10T13:01:31Z" in (
        issue.problem
    )
    assert "(0 h 32 min): the gap is that span" in issue.problem
    assert "--start 2023-07-10T12:29:31Z --end 2023-07-10T13:01:31Z" in issue.problem
    # a StartLogging of another trail ends nothing
    other = as_key(real(START_LOGGING), "2023-07-10T13:01:31Z")
    [open_] = impairments(frame(stop_logging(T), other), LOG_FILES).issues
    assert "the gap runs to the window's end (2023-07-17T12:20:04Z)" in open_.problem


def test_event_selectors_recording_management_events_again_end_the_gap() -> None:
    off = as_key(real(SELECTORS_OFF), T)
    on = as_key(real(SELECTORS_ALL), "2023-07-10T14:29:31Z")
    [issue] = impairments(frame(off, on), LOG_FILES).issues
    assert "(2 h 00 min): the gap is that span" in issue.problem
    # selectors that keep management events impair nothing
    assert not impairments(frame(on), LOG_FILES).calls


# --------------------------------------------------------------------------------------------
# a deleted trail created again (CreateTrail does not start its logging: StartLogging does)
# --------------------------------------------------------------------------------------------
DELETED = "stratus-red-team-ctes-trail-qyxyekjbtk"  # the real DeleteTrail's and CreateTrail's


def test_a_deleted_trail_created_again_and_started_ends_the_gap_and_says_its_span() -> None:
    deleted = as_key(real(DELETE_TRAIL), T)
    created = as_key(real(CREATE_TRAIL), "2023-07-10T13:10:00Z")
    arn = f"arn:aws:cloudtrail:us-east-1:123837392027:trail/{DELETED}"
    started = as_key(real(START_LOGGING), "2023-07-10T13:14:31Z", name=arn)
    [issue] = impairments(frame(deleted, created, started), LOG_FILES).issues
    assert f"trail {DELETED} was deleted at {T}" in issue.problem
    assert (
        f"until CreateTrail by {KEY} from Tor IP {TOR_IP} at 2023-07-10T13:10:00Z and "
        f"StartLogging by {KEY} from Tor IP {TOR_IP} at 2023-07-10T13:14:31Z (0 h 45 min): the "
        "gap is that span"
    ) in issue.problem
    assert f"--start {T} --end 2023-07-10T13:14:31Z" in issue.problem
    # the trail created again is not the one deleted: single-region (CreateTrail's default)
    assert (
        "the trail created again: it was created single-region (CreateTrail's default): its "
        "log files hold no call made in regions other than us-east-1"
    ) in issue.problem
    assert "window's end" not in issue.problem
    [entry] = impairments(frame(deleted, created, started), LOG_FILES).to_json()
    assert entry["ended"] == "2023-07-10T13:14:31Z"


def test_a_deleted_trail_created_again_but_never_started_is_still_a_gap() -> None:
    deleted = as_key(real(DELETE_TRAIL), T)
    created = as_key(real(CREATE_TRAIL), "2023-07-10T13:10:00Z")
    [issue] = impairments(frame(deleted, created), LOG_FILES).issues
    assert (
        f"the trail was created again at 2023-07-10T13:10:00Z (CreateTrail by {KEY} from Tor IP "
        f"{TOR_IP}) but no StartLogging of it is in what was read: a trail created does not log "
        "until StartLogging is called"
    ) in issue.problem
    assert "the gap runs to the window's end (2023-07-17T12:20:04Z)" in issue.problem
    # created again in another trail's name: nothing of this one
    other = as_key(real(CREATE_TRAIL), "2023-07-10T13:10:00Z", name="another-trail")
    [open_] = impairments(frame(deleted, other), LOG_FILES).issues
    assert "created again" not in open_.problem
    # a StartLogging that did not fail, with no CreateTrail read: created again out of sight
    started = as_key(real(START_LOGGING), "2023-07-10T13:14:31Z", name=DELETED)
    [ended] = impairments(frame(deleted, started), LOG_FILES).issues
    assert "(the trail created again by a call not in what was read" in ended.problem
    assert "(0 h 45 min): the gap is that span" in ended.problem


def test_a_deleted_trail_created_again_into_another_bucket_says_where_to_read() -> None:
    deleted = as_key(real(DELETE_TRAIL), T)
    created = as_key(real(CREATE_TRAIL), "2023-07-10T13:10:00Z", s3BucketName="attacker-b")
    created["responseElements"]["s3BucketName"] = "attacker-b"
    started = as_key(real(START_LOGGING), "2023-07-10T13:14:31Z", name=DELETED)
    read = Reading(trail_files=True, buckets=("stratus-red-team-ctes-bucket-qyxyekjbtk",))
    [issue] = impairments(frame(deleted, created, started), read).issues
    assert "it delivers to bucket attacker-b, not to the bucket(s) read" in issue.problem
    assert "--logs s3://attacker-b/AWSLogs/" in issue.problem


# --------------------------------------------------------------------------------------------
# event selectors leaving some services' management events out (KMS, RDS Data API)
# --------------------------------------------------------------------------------------------
EXCLUDED = ["kms.amazonaws.com", "rdsdata.amazonaws.com"]


def selectors(time: str, *, exclude: list[str], **selector: Any) -> dict[str, Any]:
    """The real PutEventSelectors (all management events) with ``excludeManagementEventSources``
    as CloudTrail records it, in the request and in the response (``selector``: more members)."""
    rec = as_key(real(SELECTORS_ALL), time)
    for part in (rec["requestParameters"], rec["responseElements"]):
        part["eventSelectors"][0].update(excludeManagementEventSources=exclude, **selector)
    return rec


def advanced(time: str, *, not_equals: list[str]) -> dict[str, Any]:
    """PutEventSelectors with advanced event selectors: management events but ``not_equals``
    event sources (the API reference's eventSource NotEquals), as CloudTrail records them."""
    rec = as_key(real(SELECTORS_ALL), time)
    fields = [{"field": "eventCategory", "equals": ["Management"]}]
    if not_equals:
        fields.append({"field": "eventSource", "notEquals": not_equals})
    adv = [{"name": "Management events but KMS", "fieldSelectors": fields}]
    rec["requestParameters"] = {"trailName": DELETED, "advancedEventSelectors": adv}
    rec["responseElements"] = {
        "trailARN": f"arn:aws:cloudtrail:us-east-1:123837392027:trail/{DELETED}",
        "advancedEventSelectors": adv,
    }
    return rec


def _members(shape: Any) -> set[str]:
    names = set()
    for member, s in shape.members.items():
        name = s.serialization.get("name") or member
        names.add(name[0].lower() + name[1:])
    return names


def test_selector_records_name_what_botocore_sends() -> None:
    model = botocore.session.get_session().get_service_model("cloudtrail")
    shape = model.operation_model("PutEventSelectors").input_shape
    basic = selectors(T, exclude=EXCLUDED)["requestParameters"]
    adv = advanced(T, not_equals=["kms.amazonaws.com"])["requestParameters"]
    assert set(basic) | set(adv) <= _members(shape)
    assert set(basic["eventSelectors"][0]) <= _members(shape.members["EventSelectors"].member)
    adv_shape = shape.members["AdvancedEventSelectors"].member
    assert set(adv["advancedEventSelectors"][0]) <= _members(adv_shape)
    field = adv_shape.members["FieldSelectors"].member
    for f in adv["advancedEventSelectors"][0]["fieldSelectors"]:
        assert set(f) <= _members(field)


@pytest.mark.parametrize(
    ("record", "names"),
    [
        (lambda: selectors(T, exclude=EXCLUDED), EXCLUDED),
        (lambda: advanced(T, not_equals=["kms.amazonaws.com"]), ["kms.amazonaws.com"]),
    ],
    ids=["excludeManagementEventSources", "advanced-eventSource-notEquals"],
)
def test_event_selectors_leaving_services_out_are_a_gap_naming_them(
    record: Any, names: list[str]
) -> None:
    [issue] = impairments(frame(record()), LOG_FILES).issues
    assert issue.source == CLOUDTRAIL_SOURCE
    said = ", ".join(names)
    assert f"stopped recording the management events of {said} (event selectors) at {T}" in (
        issue.problem
    )
    assert "hold no management event of kms.amazonaws.com (AWS KMS: Decrypt" in issue.problem
    assert "is not 'none made'" in issue.problem
    assert "the gap runs to the window's end" in issue.problem


def test_services_recorded_again_end_that_gap_and_a_partial_exclusion_is_none() -> None:
    off = selectors(T, exclude=EXCLUDED)
    on = selectors("2023-07-10T14:29:31Z", exclude=[])
    [issue] = impairments(frame(off, on), LOG_FILES).issues
    assert "until PutEventSelectors by" in issue.problem
    assert "(2 h 00 min): the gap is that span" in issue.problem
    # KMS still left out after: the gap goes on
    still = selectors("2023-07-10T14:29:31Z", exclude=["kms.amazonaws.com"])
    issues_ = impairments(frame(off, still), LOG_FILES).issues
    assert "the gap runs to the window's end" in issues_[0].problem
    # one selector leaves KMS out, another records it: KMS events are recorded — nothing
    both = selectors(T, exclude=["kms.amazonaws.com"])
    for part in (both["requestParameters"], both["responseElements"]):
        part["eventSelectors"].append(
            {**part["eventSelectors"][0], "excludeManagementEventSources": []}
        )
    assert not impairments(frame(both), LOG_FILES).calls
    # reads only AND KMS left out: both said
    two = impairments(frame(selectors(T, exclude=EXCLUDED, readWriteType="ReadOnly")), LOG_FILES)
    assert len(two.issues) == 2
    assert "records read-only management events only" in two.issues[0].problem


# --------------------------------------------------------------------------------------------
# another principal (not the key, not its derived keys): logging off is logging off
# --------------------------------------------------------------------------------------------
ADMIN = "bert-jan"  # the real StartLogging's caller in the sample case's background
ADMIN_KEY = "AKIATFQR7NSC8Q4X20BJ"


def as_admin(rec: dict[str, Any], time: str, **request: Any) -> dict[str, Any]:
    """``rec`` as a call of the sample's other IAM user (bert-jan, from 192.168.10.20) at
    ``time`` that did not fail; ``request``: requestParameters changed."""
    out = as_key(rec, time, **request)
    out["userIdentity"] = copy.deepcopy(real(START_LOGGING)["userIdentity"])
    out["sourceIPAddress"] = "192.168.10.20"
    out["eventID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"admin/{out['eventID']}"))
    return out


def admin_stop(time: str = T) -> dict[str, Any]:
    arn = f"arn:aws:cloudtrail:us-east-1:123837392027:trail/{TRAIL}"
    return as_admin(real(STOP_LOGGING_FAILED), time, name=arn)


def test_another_principal_stopping_the_trail_read_is_a_data_issue_naming_who() -> None:
    named = Reading(**{**_reading_fields(LOG_FILES), "trail_names": (TRAIL,)})
    found = impairments(frame(), named, others=frame(admin_stop(), as_admin(gd(DISABLE), T)))
    stopped, disabled = found.issues
    assert stopped.source == CLOUDTRAIL_SOURCE
    assert stopped.problem.startswith(
        f"trail {TRAIL} stopped logging at {T} (StopLogging by {ADMIN} (another principal than "
        f"the key, key {ADMIN_KEY}) from 192.168.10.20)"
    )
    assert "hold nothing of anyone" in stopped.problem
    assert "no later call of anyone (the key's, and every other principal's" in stopped.problem
    assert disabled.source == GUARDDUTY_SOURCE  # GuardDuty disabled, whoever did it
    assert f"by {ADMIN} (another principal" in disabled.problem
    [entry] = [e for e in found.to_json() if e["event_name"] == "StopLogging"]
    assert (
        entry["another_principal"]
        and entry["principal"] == ADMIN
        and entry["issue"]
        and entry["event_time"] == T
    )
    # no digest file names the trail read: whether it is that trail is not known — a note,
    # never silence and never a gap taken for granted (admins take trails down too)
    unknown = impairments(frame(), LOG_FILES, others=frame(admin_stop()))
    assert not unknown.issues
    [note] = unknown.notes
    assert f"by {ADMIN} (another principal than the key" in note
    assert "whether it is the trail whose log files were read is not known" in note
    assert "if it is, the trail's log files after" in note
    # another principal's failed StopLogging impaired nothing
    failed = admin_stop()
    failed["errorCode"] = "TrailNotFoundException"
    assert not impairments(frame(), named, others=frame(failed)).calls


def test_another_principals_start_logging_ends_the_keys_gap() -> None:
    start = as_admin(real(START_LOGGING), "2023-07-10T13:01:31Z", name=TRAIL)
    [issue] = impairments(frame(stop_logging(T)), LOG_FILES, others=frame(start)).issues
    assert (
        f"until StartLogging by {ADMIN} (another principal than the key, key {ADMIN_KEY}) from "
        "192.168.10.20 at 2023-07-10T13:01:31Z (0 h 32 min): the gap is that span"
    ) in issue.problem
    # not looked for (an engine, LookupEvents): said, never "no later call" of anyone
    [open_] = impairments(frame(stop_logging(T)), LOG_FILES).issues
    assert (
        "no later call of the key or the keys it minted (another principal's StartLogging was "
        "not looked for: only the trail's log files are searched for them — read by the file "
        "loader, DuckDB or Athena —, and LookupEvents reads by key)"
    ) in open_.problem
    # looked for, not read (an engine's query failed): said why, never "not looked for"
    why = "the duckdb query of those calls failed: boom"
    failed = Reading(**{**_reading_fields(LOG_FILES), "others_unread": why})
    [unread] = impairments(frame(stop_logging(T)), failed).issues
    assert f"(another principal's StartLogging was not read: {why})" in unread.problem


def test_another_principals_work_on_what_was_not_read_says_nothing() -> None:
    """Admins set trails, buckets and log groups up and take them down: only what the reading
    rests on is said (the trail read, the bucket read, GuardDuty's detector)."""
    other_trail = Reading(**{**_reading_fields(LOG_FILES), "trail_names": ("org-trail",)})
    assert not impairments(frame(), other_trail, others=frame(admin_stop())).calls
    # a trail created in the window, after the first call read: the files read are not its own
    created = as_admin(real(CREATE_TRAIL), "2023-07-10T12:00:00Z")
    deleted = as_admin(real(DELETE_TRAIL), T)
    keys = frame(as_key(real(CREATE_USER), "2023-07-10T11:42:18Z"))
    assert not impairments(keys, LOG_FILES, others=frame(created, deleted)).calls
    # what torinvest does not read, a suppression rule: the key's doing is said, not anyone's
    group = as_admin(real(DELETE_LOG_GROUP), T)
    rule = as_admin(gd(SUPPRESS), T)
    assert not impairments(frame(), LOG_FILES, others=frame(group, rule)).calls
    # a bucket: said when it is the bucket read
    lifecycle = as_admin(real(LIFECYCLE), T)
    bucket = lifecycle["requestParameters"]["bucketName"]
    assert not impairments(frame(), LOG_FILES, others=frame(lifecycle)).calls
    read = Reading(trail_files=True, buckets=(bucket,))
    [issue] = impairments(frame(), read, others=frame(lifecycle)).issues
    assert issue.source == S3_SOURCE and f"by {ADMIN} (another principal" in issue.problem


@pytest.fixture(scope="module")
def admin_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case, its trail named by digest files, with bert-jan stopping it at
    12:29:31 and disabling GuardDuty's detector at 12:28 (not the key: its activity holds
    neither), in a log file that holds none of the key's records."""
    root = tmp_path_factory.mktemp("admin") / "case"
    shutil.copytree(CASE.root, root)
    day = root / DAY.relative_to(CASE.root)
    disable = gd(DISABLE, "2023-07-10T12:28:00Z")
    records = [admin_stop(), as_admin(disable, "2023-07-10T12:28:00Z")]
    assert KEY.encode() not in json.dumps(records).encode()
    name = "218007301253_CloudTrail_us-east-1_20230710T1230Z_AdMiNsToPpEdIt.json.gz"
    (day / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    write_digests(root / "cloudtrail", "us-east-1", first=date(2023, 7, 10), last=date(2023, 7, 10))
    return root


@pytest.fixture(scope="module")
def admin_investigation(admin_case: Path) -> investigation.Investigation:
    """The sample finding investigated over :func:`admin_case` with the file loader (the
    default engine), once for the tests that read it."""
    return investigation.investigate(
        FINDING, investigation.sources_from_parameters(case_dir=str(admin_case), engine="files")
    )


def test_the_investigation_reads_another_principals_stop_as_incomplete(
    admin_investigation: investigation.Investigation,
) -> None:
    """Was: nothing — the file loader kept the key's records only, so bert-jan's StopLogging of
    the trail read and GuardDuty disabled were never seen, and the reading said complete."""
    inv = admin_investigation
    assert "StopLogging" not in set(inv.events["event_name"].astype(str))  # not the key's
    [stopped] = [i for i in inv.data_issues if i.source == CLOUDTRAIL_SOURCE]
    assert stopped.problem.startswith(
        f"trail {TRAIL} stopped logging at {T} (StopLogging by {ADMIN} (another principal"
    )
    assert "the trail whose log files were read: their digest files name it" in stopped.problem
    [blind] = [i for i in inv.data_issues if i.source == GUARDDUTY_SOURCE]
    assert f"by {ADMIN} (another principal" in blind.problem
    data = investigation.summary(inv)
    assert data["reading"]["state"] == "incomplete"
    assert {"source": CLOUDTRAIL_SOURCE, "problem": stopped.problem} in data["data_issues"]


def test_the_duckdb_engine_reads_another_principals_stop_as_the_file_loader(
    admin_case: Path, admin_investigation: investigation.Investigation
) -> None:
    """Was: "not looked for: only the file loader reads them" — DuckDB and Athena now read
    anyone else's calls that impair logging with one more query: the same issues, the same
    words, the same reading state as the file loader's."""
    said = {}
    engine = "duckdb"
    for kind in ("files", engine):
        inv = (
            admin_investigation
            if kind == "files"
            else investigation.investigate(
                FINDING,
                investigation.sources_from_parameters(case_dir=str(admin_case), engine=kind),
            )
        )
        data = investigation.summary(inv)
        impaired = [
            (i.source, i.problem)
            for i in inv.data_issues
            if i.source in (CLOUDTRAIL_SOURCE, GUARDDUTY_SOURCE)
        ]
        said[kind] = (impaired, data["reading"]["state"], data["impaired_logging"])
    assert said[engine] == said["files"]
    impaired, state, _ = said["files"]
    assert len(impaired) == 2 and state == "incomplete"


def _watched_folder(root: Path) -> Path:
    """The key's StopLogging; bert-jan's StopLogging (in the window and before it), DeleteTrail
    (its name escaped: \\u0054) and GuardDuty disabled (a spaced file), each file of its own."""
    folder = root / "logs"
    folder.mkdir()
    mine = [stop_logging(T)]
    theirs = admin_stop("2023-07-10T12:40:00Z")
    escaped = as_admin(real(DELETE_TRAIL), "2023-07-10T12:41:00Z")
    spaced = as_admin(gd(DISABLE), "2023-07-10T12:42:00Z")
    before = admin_stop("2023-06-01T00:00:00Z")  # outside the window
    (folder / "a.json").write_text(json.dumps({"Records": mine}, separators=(",", ":")))
    (folder / "b.json").write_text(json.dumps({"Records": [theirs, before]}, separators=(",", ":")))
    text = json.dumps({"Records": [escaped]}, separators=(",", ":"))
    (folder / "c.json").write_text(text.replace('"DeleteTrail"', '"Delete\\u0054rail"'))
    (folder / "d.json").write_text(json.dumps({"Records": [spaced]}, indent=2))
    return folder


WATCH_WINDOW = {"start": "2023-07-01", "end": "2023-07-17"}


def test_the_duckdb_and_athena_engines_read_the_watched_calls_the_file_loader_reads(
    tmp_path: Path, fake_athena: AthenaRegion
) -> None:
    """``watched_sql``: the same rows as ``load_logs(watch=…)`` — anyone's but the key's, in
    the window, an escaped name and a spaced file too —; Athena's query reads the names in its
    own dialect and its answer reads back into the same frame."""
    from torinvest.impairment import WATCHED_CALLS
    from torinvest.sources.logs import load_logs
    from torinvest.sources.sql import watched_sql
    from torinvest.sources.sql.athena import AthenaEngine
    from torinvest.sources.sql.duckdb import DuckDBEngine
    from torinvest.sources.sql.queries import make_scope, watched_query

    folder = _watched_folder(tmp_path)
    files = load_logs(
        folder, access_keys=KEY, watch=WATCHED_CALLS, progress=False, workers=1, **WATCH_WINDOW
    )
    assert files.watched is not None
    recorder = Recorder(DuckDBEngine(folder))
    with recorder.engine:
        duck = watched_sql(recorder, WATCHED_CALLS, keys={KEY}, **WATCH_WINDOW)  # type: ignore[arg-type]
    assert duck is not None
    assert sorted(duck.frame["event_id"]) == sorted(files.watched["event_id"])
    assert sorted(duck.frame["event_name"].astype(str)) == [
        "DeleteTrail",
        "StopLogging",
        "UpdateDetector",
    ]
    athena = AthenaEngine(database="security", sleep=lambda _: None)
    sql = athena.sql(watched_query(make_scope(**WATCH_WINDOW), WATCHED_CALLS))
    assert "event_name IN (" in sql and "'StopLogging'" in sql
    fake_athena.add_answers(*[athena_results(t, dict(q.columns)) for q, t in recorder.outputs])
    got = watched_sql(athena, WATCHED_CALLS, keys={KEY}, **WATCH_WINDOW)
    assert got is not None
    aside = ["origin", "source"]
    pd.testing.assert_frame_equal(
        got.frame.drop(columns=aside), duck.frame.drop(columns=aside), check_categorical=False
    )
    # past the row limit: not loaded (the caller says not read), never an empty "nobody did"
    with DuckDBEngine(folder) as engine:
        assert watched_sql(engine, WATCHED_CALLS, keys={KEY}, max_rows=2, **WATCH_WINDOW) is None


def test_an_engine_that_cannot_read_them_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's query of the watched calls fails: a data issue says whether another
    principal turned off what the reading rests on is not known, and why — never silence."""
    import torinvest.sources.sql as sql
    from torinvest import events
    from torinvest.errors import AwsError
    from torinvest.events import EngineOptions, load_activity
    from torinvest.impairment import WATCHED_CALLS

    def refuse(*_: Any, **__: Any) -> None:
        raise AwsError("AccessDenied: not allowed")

    monkeypatch.setattr(sql, "watched_sql", refuse)
    act = load_activity(
        logs=[_watched_folder(tmp_path)],
        access_key=KEY,
        engine=EngineOptions(kind="duckdb"),
        watch=WATCHED_CALLS,
        **{k: pd.Timestamp(v, tz="UTC") for k, v in WATCH_WINDOW.items()},
    )
    assert act.watched is None
    assert act.watched_unread == "the duckdb query of those calls failed: AccessDenied: not allowed"
    [issue] = [i for i in act.issues if i.source == "others' logging calls"]
    assert "were not read: the duckdb query of those calls failed" in issue.problem
    assert "is not known" in issue.problem
    # more of them than the limit (--max-rows, WATCHED_ROWS at least): not loaded, said so
    monkeypatch.undo()
    monkeypatch.setattr(events, "WATCHED_ROWS", 2)
    act = load_activity(
        logs=[tmp_path / "logs"],
        access_key=KEY,
        engine=EngineOptions(kind="duckdb", max_rows=0),
        watch=WATCHED_CALLS,
        **{k: pd.Timestamp(v, tz="UTC") for k, v in WATCH_WINDOW.items()},
    )
    assert act.watched is None
    assert act.watched_unread is not None and "matched more than 2 rows" in act.watched_unread
    assert any(i.source == "others' logging calls" for i in act.issues)


def test_the_file_loader_reads_anyone_elses_watched_calls_apart(tmp_path: Path) -> None:
    """``load_logs(watch=…)``: the calls of those names by anyone but the key, in the same pass
    — in a file without the key's bytes, in a file whose name is spelled with a \\u escape, in
    a file of another shape — kept apart from the key's frame; the key's own stay in it; calls
    outside the window are not kept."""
    from torinvest.impairment import WATCHED_CALLS
    from torinvest.sources.logs import load_logs

    folder = tmp_path / "logs"
    folder.mkdir()
    mine = [stop_logging(T)]
    theirs = admin_stop("2023-07-10T12:40:00Z")
    escaped = as_admin(real(DELETE_TRAIL), "2023-07-10T12:41:00Z")
    spaced = as_admin(gd(DISABLE), "2023-07-10T12:42:00Z")
    before = admin_stop("2023-06-01T00:00:00Z")  # outside the window
    (folder / "a.json").write_text(json.dumps({"Records": mine}, separators=(",", ":")))
    (folder / "b.json").write_text(json.dumps({"Records": [theirs, before]}, separators=(",", ":")))
    text = json.dumps({"Records": [escaped]}, separators=(",", ":"))
    (folder / "c.json").write_text(text.replace('"DeleteTrail"', '"Delete\\u0054rail"'))
    (folder / "d.json").write_text(json.dumps({"Records": [spaced]}, indent=2))
    res = load_logs(
        folder,
        access_keys=KEY,
        start="2023-07-01",
        end="2023-07-17",
        watch=WATCHED_CALLS,
        progress=False,
        workers=1,
    )
    assert res.frame["event_name"].astype(str).tolist() == ["StopLogging"]  # the key's only
    assert res.watched is not None
    got = res.watched.sort_values("event_time")
    assert got["event_name"].astype(str).tolist() == [
        "StopLogging",
        "DeleteTrail",
        "UpdateDetector",
    ]
    assert set(got["user_name"].astype(str)) == {ADMIN}
    # not asked: not looked for (None, never an empty "nobody did")
    assert load_logs(folder, access_keys=KEY, progress=False, workers=1).watched is None


def test_another_trail_than_the_one_read_is_a_note() -> None:
    read = Reading(trail_files=True, trail_names=("org-trail",))
    found = impairments(frame(stop_logging(T)), read)
    assert not found.issues
    assert "another trail than the one read" in found.notes[0]
    assert "org-trail" in found.notes[0]
    # the trail read, named by its digest files: an issue saying so
    named = impairments(frame(stop_logging(T)), Reading(trail_files=True, trail_names=(TRAIL,)))
    assert "their digest files name it" in named.issues[0].problem


def test_lookup_events_only_has_no_gap_but_says_the_trail_was_stopped() -> None:
    found = impairments(frame(stop_logging(T), gd(DISABLE)), LOOKUP_ONLY)
    # StopLogging does not stop Event history: no issue, a note; GuardDuty still blinded
    assert [i.source for i in found.issues] == [GUARDDUTY_SOURCE]
    [note] = found.notes
    assert "stopped logging" in note and "no gap in it after" in note


def test_attacker_written_names_are_shown_inert() -> None:
    rec = stop_logging(T, trail="t\x1b[2J\u202eevil")
    [issue] = impairments(frame(rec), LOG_FILES).issues
    assert "\x1b" not in issue.problem and "\u202e" not in issue.problem
    assert "\\x1b" in issue.problem


# --------------------------------------------------------------------------------------------
# the investigation (the notebooks' Python API), both engines; the command
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stopped_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case with the key stopping the trail at 12:29:31 (from Tor) — a failed
    DeleteTrail of it before — and disabling GuardDuty's detector at 12:28; the log files
    delivered after 12:30 gone."""
    root = tmp_path_factory.mktemp("stopped") / "case"
    shutil.copytree(CASE.root, root)
    day = root / DAY.relative_to(CASE.root)
    for f in root.glob("cloudtrail/AWSLogs/*/CloudTrail/*/2023/07/10/*.json.gz"):
        if f.name.split("_")[3] > "20230710T1230Z":
            f.unlink()
    records = [
        stop_logging(T),
        as_key(real(DELETE_TRAIL), "2023-07-10T12:25:00Z", ok=False),
        gd(DISABLE, "2023-07-10T12:28:00Z"),
    ]
    records[1]["errorCode"] = "TrailNotFoundException"
    records[1]["errorMessage"] = f"Unknown trail: {TRAIL} for the user: 123837392027"
    name = "218007301253_CloudTrail_us-east-1_20230710T1230Z_ImPaIrEdLoGgInG.json.gz"
    (day / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return root


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_the_investigation_reads_a_stopped_trail_as_incomplete(
    stopped_case: Path, engine: str
) -> None:
    src = investigation.sources_from_parameters(case_dir=str(stopped_case), engine=engine)
    inv = investigation.investigate(FINDING, src)
    stopped = [i for i in inv.data_issues if i.source == CLOUDTRAIL_SOURCE]
    [issue] = stopped  # the failed DeleteTrail says nothing
    assert issue.problem.startswith(
        f"trail {TRAIL} stopped logging at {T} (StopLogging by {KEY} from Tor IP {TOR_IP})"
    )
    data = investigation.summary(inv)
    assert data["reading"]["state"] == "incomplete"
    assert {"source": CLOUDTRAIL_SOURCE, "problem": issue.problem} in data["data_issues"]
    keys = [e for e in data["impaired_logging"] if not e["another_principal"]]
    entry, blinded = sorted(keys, key=lambda e: e["event_name"] != "StopLogging")
    # the case's background by another principal (Stratus Red Team's trails, created in the
    # window, and their buckets; its log group): not what was read — nothing said of it
    assert not [e for e in data["impaired_logging"] if e["another_principal"]]
    assert entry["event_name"] == "StopLogging" and entry["issue"] and entry["ended"] is None
    assert blinded["event_name"] == "UpdateDetector" and blinded["issue"]
    # "no derived key" is not known past T; a re-run reads the same: not retried
    assert data["derived_keys_search"]["status"] == "partial"
    assert CLOUDTRAIL_SOURCE not in {i["source"] for i in data["activity_issues"]}
    # GuardDuty disabled: the related-findings search is partial after 12:28, never "looked"
    [blind] = [i for i in inv.data_issues if i.source == GUARDDUTY_SOURCE]
    assert "disabled" in blind.problem
    campaign.look_around(inv)
    assert inv.related is not None
    search = investigation.summary(inv)["related_findings_search"]
    assert search["status"] == "partial"
    assert blind.to_dict() in search["not_searched"]
    assert "GuardDuty was impaired (1 call(s), in the data issues)" in inv.related.describe()
    assert investigation.summary(inv)["data_issues"].count(blind.to_dict()) == 1


@pytest.fixture(scope="module")
def restarted_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case with the key stopping the trail at 12:29:31 and starting it at 13:01:31,
    and deleting another trail at 12:29:31, creating it again at 13:10 and starting it at
    13:14:31 — every call from Tor."""
    root = tmp_path_factory.mktemp("restarted") / "case"
    shutil.copytree(CASE.root, root)
    day = root / DAY.relative_to(CASE.root)
    arn = f"arn:aws:cloudtrail:us-east-1:123837392027:trail/{DELETED}"
    records = [
        stop_logging(T),
        as_key(real(START_LOGGING), "2023-07-10T13:01:31Z", name=TRAIL),
        as_key(real(DELETE_TRAIL), T),
        as_key(real(CREATE_TRAIL), "2023-07-10T13:10:00Z"),
        as_key(real(START_LOGGING), "2023-07-10T13:14:31Z", name=arn),
    ]
    name = "218007301253_CloudTrail_us-east-1_20230710T1230Z_ReStArTeDlOgGiNg.json.gz"
    (day / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return root


@pytest.mark.parametrize(
    "engine",
    [{"engine": "files"}, {"engine": "duckdb"}, {"engine": "duckdb", "max_rows": 10}],
    ids=["files", "duckdb", "duckdb-counted"],
)
def test_the_gaps_span_is_the_same_counted_in_the_engine(
    restarted_case: Path, engine: dict[str, Any]
) -> None:
    """Counted in the engine (over --max-rows) the rows are the sensitive calls — and the trail
    calls that end a gap (StartLogging, CreateTrail) with them: the same spans as every row
    loaded (was: the StartLogging not loaded, both gaps 'to the window's end')."""
    src = investigation.sources_from_parameters(case_dir=str(restarted_case), **engine)
    inv = investigation.investigate(FINDING, src)
    assert inv.counted == ("max_rows" in engine)
    stopped, deleted = sorted(
        (i.problem for i in inv.data_issues if i.source == CLOUDTRAIL_SOURCE),
        key=lambda p: "was deleted" in p,
    )
    assert f"until StartLogging by {KEY} from Tor IP {TOR_IP} at 2023-07-10T13:01:31Z" in stopped
    assert "at 2023-07-10T13:10:00Z and StartLogging by" in deleted
    assert "(0 h 45 min): the gap is that span" in deleted
    assert "window's end" not in stopped + deleted
    if inv.counted:  # the engine's line says which rows are not sensitive calls
        assert "(and 3 trail call(s) that end a gap in the logging)" in (
            inv.activity.engine_summary or ""
        )


def test_a_gap_counted_in_the_engine_says_what_was_looked_at() -> None:
    """No later call undid it, counted in the engine: the issue says the calls that end a gap
    were loaded (never "would not be seen" and a gap to the window's end as a guess)."""
    counted = Reading(**{**_reading_fields(LOG_FILES), "counted": True})
    [issue] = impairments(frame(stop_logging(T)), counted).issues
    assert (
        "in what was read undid it (counted in the engine: the sensitive calls were loaded, "
        "and with them the trail calls that end a gap — StartLogging, CreateTrail —, so none "
        "of the key's is missed): the gap runs to the window's end"
    ) in issue.problem


def _reading_fields(reading: Reading) -> dict[str, Any]:
    return {f: getattr(reading, f) for f in Reading.__dataclass_fields__}


def test_the_calls_that_end_a_gap_are_loaded_counted_in_the_engine() -> None:
    """Every call that ends a gap is a sensitive call or loaded with them (GAP_ENDING_CALLS)."""
    from torinvest.catalogue import GAP_ENDING_CALLS, shipped_catalogue
    from torinvest.impairment.model import RESTORING

    cat = shipped_catalogue()
    loaded = set(zip(cat["event_source"], cat["event_name"], strict=True))
    loaded |= {(source, name) for name, source in GAP_ENDING_CALLS}
    assert not RESTORING - loaded, RESTORING - loaded


def test_the_trail_named_by_its_digest_files_tells_another_trail(
    stopped_case: Path, tmp_path: Path
) -> None:
    case = tmp_path / "case"
    shutil.copytree(stopped_case, case)
    write_digests(case / "cloudtrail", "us-east-1", first=date(2023, 7, 10), last=date(2023, 7, 10))
    src = investigation.sources_from_parameters(case_dir=str(case))
    inv = investigation.investigate(FINDING, src)
    assert inv.activity.file_counts is not None
    assert inv.activity.file_counts.trail_names == [TRAIL]
    [issue] = [i for i in inv.data_issues if i.source == CLOUDTRAIL_SOURCE]
    assert "the trail whose log files were read: their digest files name it" in issue.problem


def test_the_command_says_incomplete_and_names_the_stopped_trail(
    stopped_case: Path, tmp_path: Path
) -> None:
    code, out, err = run(
        "investigate", FINDING, "--case", str(stopped_case), "--out", str(tmp_path / "out"),
        "--ledger", str(tmp_path / "ledger.jsonl"), f"--regions={REGIONS}",
    )  # fmt: skip
    assert code == 0, err
    line = out.splitlines()[0]
    assert "INCOMPLETE: 3 DATA ISSUE(S)" in line and "complete" not in line.replace(
        "INCOMPLETE", ""
    )
    assert any(
        f"{CLOUDTRAIL_SOURCE}: trail {TRAIL} stopped logging at {T}" in i for i in issues(err)
    )
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    problems = {i["problem"] for i in data["data_issues"]}
    assert {e["text"] for e in data["impaired_logging"] if e["issue"]} <= problems
    assert data["related_findings_search"]["status"] == "partial"


def test_a_reading_of_saved_lookup_events_answers_has_no_gap(tmp_path: Path) -> None:
    """A case folder of saved ``lookup-events`` answers (Event history): StopLogging does not
    stop it — no issue of a gap, the trail's stop said in a reading note."""
    case = tmp_path / "case"
    shutil.copytree(CASE.root, case, ignore=shutil.ignore_patterns("cloudtrail"))
    mine = [r for r in _background().values() if r["userIdentity"].get("accessKeyId") == KEY]
    events = [lookup_event(r) for r in [*mine, stop_logging(T)]]
    (case / "cloudtrail").mkdir()
    (case / "cloudtrail" / "lookup-events.json").write_text(json.dumps({"Events": events}))
    inv = investigation.investigate(
        FINDING, investigation.sources_from_parameters(case_dir=str(case))
    )
    assert "StopLogging" in set(inv.events["event_name"].astype(str))
    assert not [i for i in inv.data_issues if i.source == CLOUDTRAIL_SOURCE]
    data = investigation.summary(inv)
    [note] = [n for n in data["reading_notes"] if "stopped logging" in n]
    assert "this reading is LookupEvents' Event history" in note and "no gap in it" in note
    assert data["impaired_logging"][0]["issue"] is False


def test_the_impairing_calls_are_sensitive_calls_naming_what_they_acted_on() -> None:
    """Every call read here is in the sensitive-actions catalogue too (the card lists it), with
    its target: a log group deleted names the log group."""
    from torinvest.analysis import sensitive_events
    from torinvest.catalogue import shipped_catalogue
    from torinvest.impairment.model import CALLS

    cat = shipped_catalogue()
    listed = set(zip(cat["event_source"], cat["event_name"], strict=True))
    assert not CALLS - listed, CALLS - listed
    rows = sensitive_events(frame(as_key(real(DELETE_LOG_GROUP), T)), targets=True)
    assert rows["target"].tolist() == ["log group /stratus-red-team/vpc-flow-logs"]
