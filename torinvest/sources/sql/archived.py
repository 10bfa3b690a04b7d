"""An Athena table's log files archived in S3 Glacier: Athena skips them without a word.

Athena does not read a table's ``GLACIER`` and ``DEEP_ARCHIVE`` objects — restored ones too,
unless the table's ``read_restored_glacier_objects`` property is ``true`` — and says nothing of
them: a day whose log files a lifecycle rule archived reads as no record, one half archived as
fewer. Where the credentials can read the table's definition (Athena ``GetTableMetadata``:
``athena:GetTableMetadata``, ``glue:GetTable``) and list its LOCATION (``s3:ListBucket``), the
day folders the queries read — the window's days (±1, the ``date`` partitions read) × the
regions × the accounts, at most :data:`MAX_PREFIXES` — are listed (ListObjectsV2, pages of
1,000, the storage class and restore status each object's entry gives), and the archived log
files found are named, one issue per region folder
(:func:`~torinvest.sources.logs.archive.fold_archived`), also on days that do hold records.
When that cannot be done (denied, a LOCATION not in the trail's layout, too many folders), a
note says the archived files, if any, are not known.

Athena reads each object's current version only: in a bucket keeping versions (S3 Versioning,
as AWS recommends for a trail's bucket), a log file an attacker deleted (a delete marker) is not
in the table, and one rewritten reads in its forged version — without a word. The same listing
says so (:func:`~torinvest.sources.logs.listed_under`): the bucket's versioning is asked once
(GetBucketVersioning, ``s3:GetBucketVersioning``); where it keeps versions, the day folders are
listed with ListObjectVersions in the place of ListObjectsV2 (``s3:ListBucketVersions``; as
many calls where nothing was deleted or rewritten), the rewritten files compared with their
first version (two downloads each, at most
:data:`~torinvest.sources.logs.versions.MAX_COMPARED`), and the deleted, rewritten and lost
files named one issue per region folder in the words of
:func:`~torinvest.sources.logs.versions.version_issues`, saying Athena read the current
versions and to read the folder with the files engine, which reads the first ones. A refusal of
either call is an issue: those files were not looked for.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from torinvest.errors import AwsError, DataIssue, InputError
from torinvest.sources.logs import ACCOUNT_RE, Narrowing, fold_archived, listed_under
from torinvest.sources.logs.versions import version_issues

#: Day folders listed at most (each one ListObjectsV2, pages of 1,000 objects).
MAX_PREFIXES = 400
#: What a folded issue of the table's archived files adds (``fold_archived``'s ``reader``).
SKIPPED = (
    " (Athena skips archived objects without a word: restored, they are read once the table's "
    "read_restored_glacier_objects property is true)"
)
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_TRAIL_ROOT = re.compile(r"/AWSLogs/(?:o-[a-z0-9]{10,32}/)?$")
_ACCOUNT_ROOT = re.compile(r"/AWSLogs/(?:o-[a-z0-9]{10,32}/)?\d{12}/CloudTrail/$")


#: Who reads only each object's current version (:func:`version_issues`' ``reader``).
READER = "Athena"


def unseen_in_table(
    engine: Any,
    narrowing: Narrowing,
    regions: Collection[str],
    accounts: Collection[str],
) -> tuple[list[DataIssue], str | None]:
    """The issues naming the log files an Athena ``engine``'s queries of ``narrowing`` did not
    see in the folders they read (``regions``, ``accounts``: those asked, else those to look
    at): archived in S3 Glacier, deleted or rewritten in a bucket keeping versions, and what
    could not be asked of the bucket's versions; and a note when the folders could not be
    listed at all (why; None when they were)."""
    where = engine.location
    unknown = (
        f"{where}: whether log files of the window are archived in S3 Glacier (Athena skips "
        "them without a word: their days read as fewer records, or none), or deleted or "
        "rewritten in a bucket keeping versions (Athena reads current versions only), is not "
        "known"
    )
    try:
        parameters = _table_parameters(engine)
        prefixes = day_prefixes(parameters, narrowing, regions, accounts)
    except AwsError as e:
        return [], f"{unknown}: the table's definition could not be read ({e.message})"
    except InputError as e:
        return [], f"{unknown}: {e}"
    try:
        under = listed_under(engine.aws, prefixes, versions=True)
    except AwsError as e:
        return [], f"{unknown}: its LOCATION could not be listed ({e.message})"
    issues = fold_archived(under.archived, SKIPPED)
    for _bucket, found in sorted(under.found.items()):
        issues += version_issues(found, reader=READER)
    issues += [_unlooked(*u) for u in under.unlooked]
    return issues, None


def _unlooked(bucket: str, permission: str, why: str) -> DataIssue:
    """The issue of a bucket whose versions could not be asked about or listed."""
    if permission == "s3:GetBucketVersioning":
        head = f"whether the bucket keeps versions could not be asked ({permission}: {why})"
        grant = "s3:GetBucketVersioning and s3:ListBucketVersions"
        did = ", if it does,"
    else:
        head = f"the bucket keeps versions, but listing them was refused ({permission}: {why})"
        grant = permission
        did = ""
    return DataIssue(
        f"s3://{bucket} (versions)",
        f"{head}: {READER} reads only each object's current version, so log files of the "
        f"window deleted or rewritten there{did} were not looked for — a deleted one is not in "
        "the table, a rewritten one reads in its forged version; grant "
        f"{grant} to have them named, or read the table's LOCATION with --logs and --engine "
        "files or duckdb (they read each one's first version)",
    )


def _table_parameters(engine: Any) -> Mapping[str, str]:
    """The table's parameters (GetTableMetadata, asked once per engine: :meth:`~.athena.
    AthenaEngine.metadata`)."""
    return dict(engine.metadata().get("Parameters") or {})


def day_prefixes(
    parameters: Mapping[str, str],
    narrowing: Narrowing,
    regions: Collection[str],
    accounts: Collection[str],
) -> list[str]:
    """The ``s3://`` day folders of the table the window's queries read: its partition
    projection's ``storage.location.template`` (``…/${account}/CloudTrail/${region}/${date}``,
    as :func:`~torinvest.sources.sql.ddl.athena_ddl` writes it) filled in, else its
    ``location`` when that is a trail's ``AWSLogs/`` (or an account's ``…/CloudTrail/``)
    folder. Raises InputError saying why there are none to list."""
    first, last = narrowing.first_day, narrowing.last_day
    days = narrowing.days()
    if first is None or last is None or not days:
        raise InputError("the window has no day")
    template = parameters.get("storage.location.template") or ""
    location = parameters.get("location") or ""
    if not template:
        if _TRAIL_ROOT.search(location):
            template = location + "${account}/CloudTrail/${region}/${date}"
        elif _ACCOUNT_ROOT.search(location):
            template = location + "${region}/${date}"
        else:
            raise InputError(
                f"its LOCATION {location or '(none)'} is not a trail's AWSLogs/ folder"
            )
    names = set(_PLACEHOLDER.findall(template))
    if not template.startswith("s3://") or names - {"account", "region", "date"}:
        raise InputError(f"its storage.location.template {template} is not a trail's layout")
    wanted = sorted(accounts)
    if "account" in names:
        projected = [
            a.strip() for a in (parameters.get("projection.account.values") or "").split(",")
        ]
        wanted = wanted or sorted(a for a in projected if ACCOUNT_RE.match(a))
        if not wanted:
            raise InputError("the accounts its folders are of are not known")
    regions = sorted(regions)
    if "region" in names and not regions:
        raise InputError("the regions to look at are not known")
    count = (len(wanted) if "account" in names else 1) * (len(regions) if "region" in names else 1)
    count *= len(days)
    if count > MAX_PREFIXES:
        raise InputError(
            f"{count:,} day folders to list is more than {MAX_PREFIXES:,} (a shorter window, "
            "fewer regions or accounts asks fewer)"
        )
    fmt = (parameters.get("projection.date.format") or "yyyy/MM/dd").replace("yyyy", "%Y")
    fmt = fmt.replace("MM", "%m").replace("dd", "%d")
    out: list[str] = []
    for account in wanted if "account" in names else [""]:
        for region in regions if "region" in names else [""]:
            for day in days:
                prefix = (
                    template.replace("${account}", account)
                    .replace("${region}", region)
                    .replace("${date}", day.strftime(fmt))
                )
                out.append(prefix.rstrip("/") + "/")
    return out
