"""Athena's CloudTrail table: the DDL with partition projection that the Athena engine
(:mod:`torinvest.sources.sql.athena`) queries.

:func:`athena_ddl` writes AWS's documented CloudTrail table for Athena (the JSON SerDe with
``com.amazon.emr.cloudtrail.CloudTrailInputFormat``) partitioned by ``account``, ``region`` and
``date`` with partition projection (enum accounts and regions, ``yyyy/MM/dd`` days), for an
account trail (``AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/``) or an organization trail
(``AWSLogs/<o-id>/<acct>/…``). Nothing needs ``MSCK REPAIR`` or ``ALTER TABLE ADD PARTITION``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from torinvest.aws import validate_region
from torinvest.errors import InputError, OptionsError
from torinvest.sources.logs import ACCOUNT_RE, ORG_RE

DEFAULT_TABLE = "cloudtrail_logs"


#: Partition projection of the day folders: format, and the first day (CloudTrail's launch).
DATE_FORMAT = "yyyy/MM/dd"
FIRST_DAY = date(2013, 11, 1)


TABLE_NAME_RE = re.compile(r"\A[a-z0-9_]{1,255}\Z")
#: Prefixes and suffixes S3 reserves: no general purpose bucket has them (S3 User Guide,
#: "General purpose bucket naming rules").
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_rule_broken(name: str) -> str | None:
    """The general purpose bucket naming rule ``name`` breaks, else None: 3 to 63 lower-case
    letters, digits, ``.`` and ``-``; a letter or digit first and last; no ``..``; not an IP
    address; none of :data:`BUCKET_RESERVED_PREFIXES` and :data:`BUCKET_RESERVED_SUFFIXES`."""
    if not 3 <= len(name) <= 63:
        return f"it is {len(name)} characters long: a bucket name has 3 to 63"
    bad = next((c for c in name if c not in "abcdefghijklmnopqrstuvwxyz0123456789.-"), None)
    if bad is not None:
        return f"{bad!r} is not allowed: only lower-case letters, digits, '.' and '-'"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "it must begin and end with a letter or digit"
    if ".." in name:
        return "it has two adjacent periods"
    if re.fullmatch(r"[0-9]+(\.[0-9]+){3}", name):
        return "it is formatted as an IP address"
    for prefix in BUCKET_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"it starts with {prefix}, a prefix S3 reserves"
    for suffix in BUCKET_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"it ends with {suffix}, a suffix S3 reserves"
    return None


#: Columns of AWS's documented CloudTrail table for Athena (partition projection page).
CLOUDTRAIL_COLUMNS = """\
  eventversion STRING,
  useridentity STRUCT<
    type: STRING,
    principalid: STRING,
    arn: STRING,
    accountid: STRING,
    invokedby: STRING,
    accesskeyid: STRING,
    username: STRING,
    onbehalfof: STRUCT<
      userid: STRING,
      identitystorearn: STRING>,
    sessioncontext: STRUCT<
      attributes: STRUCT<
        mfaauthenticated: STRING,
        creationdate: STRING>,
      sessionissuer: STRUCT<
        type: STRING,
        principalid: STRING,
        arn: STRING,
        accountid: STRING,
        username: STRING>,
      ec2roledelivery: STRING,
      webidfederationdata: STRUCT<
        federatedprovider: STRING,
        attributes: MAP<STRING, STRING>>>>,
  eventtime STRING,
  eventsource STRING,
  eventname STRING,
  awsregion STRING,
  sourceipaddress STRING,
  useragent STRING,
  errorcode STRING,
  errormessage STRING,
  requestparameters STRING,
  responseelements STRING,
  additionaleventdata STRING,
  requestid STRING,
  eventid STRING,
  readonly STRING,
  resources ARRAY<STRUCT<
    arn: STRING,
    accountid: STRING,
    type: STRING>>,
  eventtype STRING,
  apiversion STRING,
  recipientaccountid STRING,
  serviceeventdetails STRING,
  sharedeventid STRING,
  vpcendpointid STRING,
  vpcendpointaccountid STRING,
  eventcategory STRING,
  addendum STRUCT<
    reason: STRING,
    updatedfields: STRING,
    originalrequestid: STRING,
    originaleventid: STRING>,
  sessioncredentialfromconsole STRING,
  edgedevicedetails STRING,
  tlsdetails STRUCT<
    tlsversion: STRING,
    ciphersuite: STRING,
    clientprovidedhostheader: STRING>"""
SERDE = "org.apache.hive.hcatalog.data.JsonSerDe"
INPUT_FORMAT = "com.amazon.emr.cloudtrail.CloudTrailInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


# --------------------------------------------------------------------------------------------
# table set-up
# --------------------------------------------------------------------------------------------
#: The characters a trail's key prefix is written with here: S3's safe characters (letters,
#: digits, ``!-_.*()``) and ``=``, ``/`` between folders. Others (``$``, ``'``, ``\``, ``%``,
#: spaces, ``?``, ``#``…) would be read as SQL, a projection template or an escape.
PREFIX_RE = re.compile(r"^[A-Za-z0-9!_.*()=/-]*$")
#: CloudTrail's limit on a trail's S3KeyPrefix.
MAX_PREFIX_CHARS = 200


def _prefix_parts(prefix: str) -> list[str]:
    """The folders of a trail's key prefix (``a/b/`` → ``a``, ``b``); an OptionsError for a
    prefix no trail has: a ``.`` or ``..`` folder (S3 does not resolve them: the LOCATION would
    hold them as they are), an empty folder (``a//b``), ``${`` (a projection template's
    placeholder), a character outside :data:`PREFIX_RE`, or longer than 200 characters."""
    hint = (
        "--prefix is the trail's S3 key prefix as CloudTrail shows it (aws cloudtrail "
        "describe-trails: S3KeyPrefix), folders of letters, digits and !-_.*()= separated by /"
    )
    if len(prefix) > MAX_PREFIX_CHARS:
        raise OptionsError(
            f"key prefix of {len(prefix)} characters: a trail's is at most {MAX_PREFIX_CHARS}",
            hint=hint,
        )
    if not PREFIX_RE.match(prefix):
        bad = next(c for c in prefix if not PREFIX_RE.match(c))
        raise OptionsError(f"invalid key prefix {prefix[:80]!r}: {bad!r} is not allowed", hint=hint)
    parts = prefix.strip("/").split("/") if prefix.strip("/") else []
    if any(p in ("", ".", "..") for p in parts):
        raise OptionsError(
            f"invalid key prefix {prefix[:80]!r}: an empty, '.' or '..' folder", hint=hint
        )
    return parts


def trail_location(bucket: str, prefix: str = "", org_id: str | None = None) -> str:
    """``s3://bucket/prefix/AWSLogs/`` (``…/AWSLogs/<o-id>/`` for an organization trail)."""
    broken = bucket_rule_broken(bucket)
    if broken:
        raise InputError(
            f"invalid bucket name {bucket[:80]!r}: {broken}",
            hint="give the trail's S3 bucket name (aws cloudtrail describe-trails: S3BucketName)",
        )
    if org_id is not None and not ORG_RE.match(org_id):
        raise InputError(f"invalid organization ID {org_id!r}", hint="o- and 10–32 characters")
    parts = [bucket, *_prefix_parts(prefix)]
    if parts[-1] != "AWSLogs":
        parts.append("AWSLogs")
    if org_id:
        parts.append(org_id)
    return "s3://" + "/".join(parts) + "/"


def athena_ddl(
    bucket: str,
    prefix: str = "",
    org_id: str | None = None,
    accounts: Sequence[str] = (),
    regions: Sequence[str] | None = None,
    table: str = DEFAULT_TABLE,
    database: str | None = None,
    first_day: date | str = FIRST_DAY,
) -> str:
    """The CREATE EXTERNAL TABLE for the trail's logs in ``s3://bucket/prefix``, partitioned by
    ``account``, ``region`` and ``date`` with partition projection.

    ``accounts`` (required) and ``regions`` are the projection's enum values (``regions``
    defaults to every region botocore knows for CloudTrail); ``org_id`` (``o-…``) makes it the
    table of an organization trail. ``date`` runs from ``first_day`` to NOW.
    """
    location = trail_location(bucket, prefix, org_id)
    account_list = sorted(set(accounts))
    bad = [a for a in account_list if not ACCOUNT_RE.match(a)]
    if not account_list or bad:
        raise InputError(
            f"invalid or missing accounts {bad or account_list!r}",
            hint="name the accounts whose logs the trail holds (12 digits each)",
        )
    region_list = sorted({validate_region(r) for r in regions or _cloudtrail_regions()})
    name = _table_name(table, database)
    start = first_day if isinstance(first_day, str) else f"{first_day:%Y/%m/%d}"
    properties = {
        "projection.enabled": "true",
        "projection.account.type": "enum",
        "projection.account.values": ",".join(account_list),
        "projection.region.type": "enum",
        "projection.region.values": ",".join(region_list),
        "projection.date.type": "date",
        "projection.date.format": DATE_FORMAT,
        "projection.date.range": f"{start},NOW",
        "projection.date.interval": "1",
        "projection.date.interval.unit": "DAYS",
        "storage.location.template": location + "${account}/CloudTrail/${region}/${date}",
    }
    props = ",\n".join(f"  '{k}'='{v}'" for k, v in properties.items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{CLOUDTRAIL_COLUMNS}\n)\n"
        "PARTITIONED BY (\n  `account` STRING,\n  `region` STRING,\n  `date` STRING)\n"
        f"ROW FORMAT SERDE '{SERDE}'\n"
        f"STORED AS INPUTFORMAT '{INPUT_FORMAT}'\n"
        f"OUTPUTFORMAT '{OUTPUT_FORMAT}'\n"
        f"LOCATION '{location}'\n"
        f"TBLPROPERTIES (\n{props})"
    )


def _table_name(table: str, database: str | None) -> str:
    for part in (table, database):
        if part is not None and not TABLE_NAME_RE.match(part):
            raise InputError(
                f"invalid Athena name {part!r}", hint="lower-case letters, digits and _"
            )
    return f"`{database}`.`{table}`" if database else f"`{table}`"


def _cloudtrail_regions() -> list[str]:
    """The aws partition's CloudTrail regions, from botocore's endpoint data (no session: a
    profile that does not exist, named by AWS_PROFILE, is no error for a DDL)."""
    from botocore.regions import EndpointResolver

    from torinvest.aws.loader import model_loader

    endpoints = model_loader().load_data("endpoints")
    return list(EndpointResolver(endpoints).get_available_endpoints("cloudtrail", "aws"))
