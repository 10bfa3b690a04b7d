"""CloudTrail records → the events frame: the pure normalize step every CloudTrail source shares.

A CloudTrail source fetches raw records (log files, LookupEvents pages, query results) and hands
them here. This module only turns JSON into columns; it never touches the disk or AWS.

The events frame (:data:`torinvest.schema.EVENTS_COLUMNS`), one row per record:

====================== ====================== ================================================
column                 dtype                  from the record
====================== ====================== ================================================
event_time             datetime64[us, UTC]    eventTime (Logstash's ``@timestamp`` if absent)
event_id               string                 eventID (unique but for the records
                                              :func:`duplicate_issues` names)
event_name             category               eventName
event_source           category               eventSource
aws_region             category               awsRegion
source_ip              category               sourceIPAddress
user_agent             category               userAgent
error_code             category               errorCode
outcome_unknown        boolean                no errorCode and a record torinvest marked not
                                              whole (``torinvest:outcomeUnknown``: rebuilt from
                                              LookupEvents' own fields, or partial): neither
                                              succeeded nor failed (:mod:`torinvest.outcome`)
error_message          string                 errorMessage
read_only              boolean                readOnly
event_type             category               eventType
access_key_id          category               userIdentity.accessKeyId
principal_id           category               userIdentity.principalId
user_type              category               userIdentity.type
user_name              category               userIdentity.userName, else the session name
                                              (last part of the arn) of an AssumedRole or
                                              FederatedUser
arn                    category               userIdentity.arn
account_id             category               userIdentity.accountId
recipient_account_id   category               recipientAccountId
session_issuer_arn     category               userIdentity.sessionContext.sessionIssuer.arn
mfa_authenticated      boolean                …sessionContext.attributes.mfaAuthenticated
request_parameters     string                 requestParameters as compact JSON text
response_elements      string                 responseElements as compact JSON text
derived                boolean                the row's key was minted by the suspect key
                                              (NA when the load was not about a key)
source                 category               which source produced the row (logs, lookup…)
origin                 category               the file, s3:// URL or lookup:<region>
====================== ====================== ================================================

Missing values are NA, never ``""``. :func:`frame_from_tables` drops copies of a record (the
same ``event_id`` and the same content, :data:`SAME_RECORD_COLUMNS`; the first copy wins) and
sorts by ``event_time`` (stable, so ties keep load order; rows without a time go last).
Different records that share an ``event_id`` are all kept (:func:`duplicate_issues` reports
them), so ``event_id`` is unique unless such an issue says otherwise.

The work is split so that it can run in worker processes: :func:`records_table` builds one
Arrow table per batch of records (columns built directly from lists; low-cardinality columns
dictionary-encoded), :func:`frame_from_tables` concatenates tables and converts them to pandas
with categoricals built from the dictionary codes. :func:`normalize_records` does both.
:func:`log_file_table` gives a log file's table straight from its bytes (msgspec reads only the
fields the frame uses, requestParameters/responseElements as raw JSON text), and leaves any
file it cannot vouch for to :func:`parse_records` + :func:`records_table`.

Shapes understood by :func:`records_in`: ``{"Records": [...]}`` (log files), ``aws cloudtrail
lookup-events`` output ``{"Events": [...]}`` (each ``CloudTrailEvent`` is a JSON string of the
record), EventBridge "AWS API Call via CloudTrail" events, a list of records, or one record.

The package, one module per step (imports go down this list): :mod:`.columns` (the pieces'
schema and column groups), :mod:`.table` (records → a piece; filters), :mod:`.derived` (keys
minted by a key), :mod:`.logfile` (a log file's bytes → a piece, msgspec), :mod:`.documents`
(JSON documents → records; :mod:`.loggroup`: a trail's CloudWatch Logs copy, its
messages → records), :mod:`.frame` (pieces → the events frame, copies and conflicts).
This module re-exports every public name it had as one module (and the private ones tests
reach for: ``_arrays_arrow``, ``_arrays_python``, the same objects).
"""

from torinvest.sources.records.columns import (
    BOOLEAN_COLUMNS,
    CATEGORY_COLUMNS,
    COLUMN_NAMES,
    ID_HASH,
    MAX_DERIVED_DEPTH,
    MAX_DERIVED_ROUNDS,
    MINTING_EVENTS,
    SAME_RECORD_COLUMNS,
    SESSION_TYPES,
    STRING_COLUMNS,
    TABLE_SCHEMA,
    USABLE_TIME,
    NotCloudTrailError,
    is_record,
)
from torinvest.sources.records.derived import (
    FOLLOW_SOURCE,
    DerivedKey,
    derived_keys,
    early_use_issues,
    follow_minted,
    is_unfollowed,
    unfollowed_issue,
    unknown_mint_issue,
    unrecorded_issue,
)
from torinvest.sources.records.documents import (
    LOOKUP_FIELDS,
    PARTIAL_RECORD,
    REBUILT_RECORD,
    REPLACEMENT,
    LookupScope,
    answer_regions,
    answer_scope,
    cloudtrail_event_repairs,
    describe_document,
    filled_record,
    is_lookup_answer,
    log_group_copy,
    lookup_answer_scope,
    lookup_time,
    parse_json_lines,
    parse_records,
    record_from_lookup_fields,
    records_from_lines,
    records_in,
    repair_issue,
    repair_utf8,
    salvage_log_file,
    utf8_issue,
)
from torinvest.sources.records.frame import (
    NAMED_CONFLICTS,
    THREADED_ROWS,
    duplicate_issues,
    empty_frame,
    frame_from_tables,
    later_copies,
    normalize_records,
)
from torinvest.sources.records.jsontext import json_bytes
from torinvest.sources.records.logfile import (
    is_utf8,
    log_file_records,
    log_file_table,
    log_records_table,
)
from torinvest.sources.records.loggroup import (
    LOG_GROUP_NOTE,
    OLD_VERSIONS_ISSUE,
    has_old_versions,
)
from torinvest.sources.records.table import (
    NAMED_IDS,
    RECORD_TYPE,
    event_id_hash,
    filter_keys,
    filter_window,
    is_untimed_issue,
    records_table,
    untimed_issue,
)
from torinvest.sources.records.table import _arrays_arrow as _arrays_arrow
from torinvest.sources.records.table import _arrays_python as _arrays_python

__all__ = [
    "BOOLEAN_COLUMNS",
    "CATEGORY_COLUMNS",
    "COLUMN_NAMES",
    "FOLLOW_SOURCE",
    "ID_HASH",
    "LOG_GROUP_NOTE",
    "LOOKUP_FIELDS",
    "MAX_DERIVED_DEPTH",
    "MAX_DERIVED_ROUNDS",
    "MINTING_EVENTS",
    "NAMED_CONFLICTS",
    "NAMED_IDS",
    "OLD_VERSIONS_ISSUE",
    "PARTIAL_RECORD",
    "REBUILT_RECORD",
    "RECORD_TYPE",
    "REPLACEMENT",
    "SAME_RECORD_COLUMNS",
    "SESSION_TYPES",
    "STRING_COLUMNS",
    "TABLE_SCHEMA",
    "THREADED_ROWS",
    "USABLE_TIME",
    "DerivedKey",
    "LookupScope",
    "NotCloudTrailError",
    "answer_regions",
    "answer_scope",
    "cloudtrail_event_repairs",
    "derived_keys",
    "describe_document",
    "duplicate_issues",
    "early_use_issues",
    "empty_frame",
    "event_id_hash",
    "filled_record",
    "filter_keys",
    "filter_window",
    "follow_minted",
    "frame_from_tables",
    "has_old_versions",
    "is_lookup_answer",
    "is_record",
    "is_unfollowed",
    "is_untimed_issue",
    "is_utf8",
    "json_bytes",
    "later_copies",
    "log_file_records",
    "log_file_table",
    "log_group_copy",
    "log_records_table",
    "lookup_answer_scope",
    "lookup_time",
    "normalize_records",
    "parse_json_lines",
    "parse_records",
    "record_from_lookup_fields",
    "records_from_lines",
    "records_in",
    "records_table",
    "repair_issue",
    "repair_utf8",
    "salvage_log_file",
    "unfollowed_issue",
    "unknown_mint_issue",
    "unrecorded_issue",
    "untimed_issue",
    "utf8_issue",
]
