"""CloudTrail log files in a folder or an S3 prefix → the events frame (fetch → normalize).

:func:`load_logs` reads every shape of ``CASE/cloudtrail/``: log files (``*.json.gz`` /
``*.json``, ``{"Records": [...]}``) in the S3 key layout or flat, ``aws cloudtrail lookup-events``
output (``{"Events": [...]}``), and JSON lines of records (``.jsonl`` / ``.ndjson``, gzipped or
not, with extra keys such as Logstash's ``@timestamp``). Sources are a local file or folder, or
``s3://bucket/prefix``.

Key layouts (both are narrowed by account, region and day *before* reading; S3 lists only the
day prefixes needed)::

    AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<time>_<id>.json.gz
    AWSLogs/<o-org>/<account>/CloudTrail/<region>/YYYY/MM/DD/...        (organization trail)

``CloudTrail-Digest/`` is skipped. Flat folders are narrowed by the file names CloudTrail gives.
A day folder is read when it is within the window ±1 day (records arrive late into the next
day's folder). A source above its trail (a bucket root, ``s3://bucket/some/``, a case folder)
is searched for every ``AWSLogs/`` folder below it, and each is narrowed (S3: Delimiter
listings, :data:`DISCOVERY_MAX_DEPTH` levels; the folders found are named). A source that gives
no file to read is an issue saying why: no CloudTrail log file there at all (:data:`NO_LOGS_S3`,
:data:`NO_LOGS_LOCAL`), or none in the window/regions (:data:`NO_MATCH`) — never "no events".
An object that cannot be downloaded is an issue saying what it needs (:func:`download_problem`:
``s3:GetObject``, ``kms:Decrypt`` for an SSE-KMS bucket); one archived in S3 Glacier (the listing
says so: it is not downloaded) or an Intelligent-Tiering archive tier is not read until
restored, said once per region folder (:mod:`.archive`); :class:`FileCounts` counts the files
listed, read, failed (and why) and left out by the narrowing.

Filtering to access keys searches the decompressed bytes before parsing: in a compact
``{"Records":[...]}`` file whose end is whole only the records that contain the key are parsed
(none when the key's bytes are not in it). The rows are those a full parse would give
(``userIdentity.accessKeyId`` is one of the keys): a cut that does not parse as one whole
record makes the file be parsed whole. (The one case the cut cannot tell apart is a record that
embeds a list of complete CloudTrail records, each opening with ``{"eventVersion":``, in its own
fields; CloudTrail writes none.) Files of other shapes (lookup-events output, JSON lines) and
log files whose end is not whole are parsed whole, so that a key-filtered read reports every
problem a full read reports: a file that could not be read cannot be shown not to hold the key.
(The one damage only a full read sees: a log file whose opening and end are whole but whose
middle is not JSON, or holds entries that are not records, away from the key's records — a
gzip file's CRC catches bytes changed after it was written, so it was written so.)

Many files are decompressed and parsed in worker processes that return Arrow pieces (a log
file straight from its bytes, :func:`~torinvest.sources.records.log_file_table`; other shapes
and the records a key filter keeps through :func:`~torinvest.sources.records.records_table`); a
few files are read in this process. The pieces come back as Arrow IPC through a private folder
in ``/dev/shm`` (through the result pipe where there is none).
Nothing valid is lost because something beside it is bad; each problem is one
:class:`~torinvest.errors.DataIssue` naming the file (the line for JSON lines, the event IDs for
records):

- a path in a folder that cannot be looked at (:func:`torinvest.paths.walk_files`: a link to a
  missing target or that loops, a folder that cannot be listed, a named pipe);
- a file that cannot be read, a truncated or corrupt gzip, a document that is not CloudTrail,
  invalid JSON (the whole records of a damaged ``{"Records": [...]}`` file are kept:
  :func:`~torinvest.sources.records.salvage_log_file`);
- a file larger than ``max_file_bytes`` (:data:`DEFAULT_MAX_FILE_BYTES`) once decompressed: not
  read (inflation stops at the limit; a local or S3 file larger on disk is not read at all), so
  that a decompression bomb cannot exhaust memory;
- invalid UTF-8 bytes: replaced with U+FFFD, the records kept and named
  (:func:`~torinvest.sources.records.repair_utf8`);
- records without a usable ``eventTime``: kept with an NA time whatever the window (they cannot
  be shown to be outside it) and named;
- different records sharing an ``eventID``: all kept and named
  (:func:`~torinvest.sources.records.duplicate_issues`); copies of one record are kept once.

The frame is the events frame of :mod:`torinvest.sources.records` (columns: event_time,
event_id, event_name, event_source, aws_region, source_ip, user_agent, error_code,
outcome_unknown, error_message, read_only, event_type, access_key_id, principal_id, user_type, user_name, arn,
account_id, recipient_account_id, session_issuer_arn, mfa_authenticated, request_parameters,
response_elements, derived, source = ``logs``, origin = the file path or ``s3://`` URL).

The package, one module per step (imports go down this list): :mod:`.model` (the result,
narrowing, options and counts passed around), :mod:`.archive` (log files archived in S3
Glacier), :mod:`.coverage` (the regions and days the
dated layout shows were not there: data issues), :mod:`.versions` (a versioned bucket: log and
digest files deleted or rewritten there, read from their first version and said),
:mod:`.digests` and :mod:`.writes` (the
trail's digest files, and each file's write time against the time in its name: files planted
or rewritten), :mod:`.listing` (local and S3 listing, the key layout, :func:`list_logs`), :mod:`.prefilter` (the key filter on bytes), :mod:`.read` (one
file: limits, gzip, UTF-8), :mod:`.batch` (a worker task, small files grouped, pieces through
``/dev/shm``), :mod:`.pool` (tasks, worker processes, S3 downloads), :mod:`.load`
(:func:`load_logs`). This module re-exports every public name it had as one module (and the
private one tests reach for, ``_LogGroup``: the same objects); a test that changes a module's
setting sets it on the module that reads it (``pool.BATCH_BYTES``).
"""

from torinvest.sources.logs.archive import (
    ARCHIVE_CLASSES,
    archived_issue,
    fold_archived,
)
from torinvest.sources.logs.batch import GROUP_RECORDS, SPILL_ROOT, read_batch
from torinvest.sources.logs.batch import _LogGroup as _LogGroup
from torinvest.sources.logs.listing import (
    ACCOUNT_RE,
    DISCOVERY_MAX_DEPTH,
    DISCOVERY_MAX_LISTINGS,
    FILE_NAME_RE,
    LOG_SUFFIXES,
    NO_LOGS_LOCAL,
    NO_LOGS_S3,
    NO_MATCH,
    ORG_RE,
    SKIP_FOLDERS,
    TRAIL_FOLDER,
    Listing,
    LogListing,
    Under,
    archived_under,
    key_layout,
    list_local,
    list_logs,
    list_s3,
    listed_under,
    parse_s3_url,
)
from torinvest.sources.logs.load import (
    MAX_DERIVED_PASSES,
    file_failures,
    file_states,
    keep_regions,
    load_logs,
    subset,
)
from torinvest.sources.logs.model import (
    DAY_MARGIN,
    DEFAULT_MAX_FILE_BYTES,
    S3_THREADS,
    SOURCE,
    BatchOut,
    FileCounts,
    KeyLayout,
    KnownRegions,
    LogFile,
    LogsResult,
    Narrowing,
    ReadOptions,
)
from torinvest.sources.logs.pool import (
    BATCH_BYTES,
    GET_OBJECT_NEEDS,
    SEQUENTIAL_MAX_BYTES,
    SEQUENTIAL_MAX_FILES,
    TASKS_PER_WORKER,
    WORKER_MMAP_THRESHOLD,
    WORKER_TRIM_THRESHOLD,
    default_workers,
    download_problem,
)
from torinvest.sources.logs.read import (
    DATA_CATEGORY,
    FileTooLargeError,
    answer_regions_of,
    count_data_events,
    data_events_of,
    file_accounts,
    gunzip,
    log_group_copy_of,
    lookup_answer_of,
    lookup_scope_of,
    read_local,
    read_log_records,
    read_log_table,
    too_large,
)

__all__ = [
    "ACCOUNT_RE",
    "ARCHIVE_CLASSES",
    "BATCH_BYTES",
    "DATA_CATEGORY",
    "DAY_MARGIN",
    "DEFAULT_MAX_FILE_BYTES",
    "DISCOVERY_MAX_DEPTH",
    "DISCOVERY_MAX_LISTINGS",
    "FILE_NAME_RE",
    "GET_OBJECT_NEEDS",
    "GROUP_RECORDS",
    "LOG_SUFFIXES",
    "MAX_DERIVED_PASSES",
    "NO_LOGS_LOCAL",
    "NO_LOGS_S3",
    "NO_MATCH",
    "ORG_RE",
    "S3_THREADS",
    "SEQUENTIAL_MAX_BYTES",
    "SEQUENTIAL_MAX_FILES",
    "SKIP_FOLDERS",
    "SOURCE",
    "SPILL_ROOT",
    "TASKS_PER_WORKER",
    "TRAIL_FOLDER",
    "WORKER_MMAP_THRESHOLD",
    "WORKER_TRIM_THRESHOLD",
    "BatchOut",
    "FileCounts",
    "FileTooLargeError",
    "KeyLayout",
    "KnownRegions",
    "Listing",
    "LogFile",
    "LogListing",
    "LogsResult",
    "Narrowing",
    "ReadOptions",
    "Under",
    "answer_regions_of",
    "archived_issue",
    "archived_under",
    "count_data_events",
    "data_events_of",
    "default_workers",
    "download_problem",
    "file_accounts",
    "file_failures",
    "file_states",
    "fold_archived",
    "gunzip",
    "keep_regions",
    "key_layout",
    "list_local",
    "list_logs",
    "list_s3",
    "listed_under",
    "load_logs",
    "log_group_copy_of",
    "lookup_answer_of",
    "lookup_scope_of",
    "parse_s3_url",
    "read_batch",
    "read_local",
    "read_log_records",
    "read_log_table",
    "subset",
    "too_large",
]
