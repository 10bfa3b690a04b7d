"""Generate realistic CloudTrail log files for the benchmarks (seeded, cached).

Records are sampled from the real invictus-ir CloudTrail records shipped in
``tests/fixtures/cloudtrail/`` (96 event names, IAMUser / AssumedRole / AWSService callers,
errors, large ``responseElements``) and mutated per event: eventTime, eventID, requestID,
sourceIPAddress (a pool of public IPv4/IPv6 addresses next to the records' own service names),
userAgent (a pool of real SDK/CLI/console/Terraform agents with varied versions), the caller's
access key, principal and name (a pool of users and role sessions; ``--target-share`` of the
events use one target key, ``AKIA…``), string values inside ``requestParameters`` and the
credentials minted by STS calls.

Files use the account-trail key layout, compact ``{"Records":[…]}`` JSON, gzip level 6, as
CloudTrail writes them::

    <out>/logs-e<events>-f<files>-s<seed>-<version>/AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz

plus the ``CloudTrail-Digest`` files a trail with log file validation writes (one an hour per
region, naming each log file delivered in its hour with the SHA-256 of its content: a loader
given a window compares what it reads with them, as on a real trail) and a ``manifest.json``
(events, files, target key, bytes). ``python -m benchmarks.gen --help``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import random
import string
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "cloudtrail"
DEFAULT_OUT = ROOT / ".bench-data"
DEFAULT_EVENTS = 400_000
DEFAULT_FILES = 200
DEFAULT_SEED = 7
DEFAULT_TARGET_SHARE = 0.02
DEFAULT_DAYS = 3
#: In the cached data sets' names: bumped when what is generated changes (v2: digests name
#: their log files with real hashes).
DATA_VERSION = "v2"
ACCOUNT = "218007301253"
REGIONS = ("us-east-1", "eu-west-1")
START = datetime(2023, 7, 10, tzinfo=UTC)
TARGET_KEY = "AKIAQ3EGUNTLTARGET01"
TARGET_USER = "ci-deployer"
STS_MINTING = {"AssumeRole", "GetSessionToken", "GetFederationToken"}
GZIP_LEVEL = 6

USER_AGENTS = (
    "aws-cli/2.{minor}.{patch} Python/3.11.{py} Linux/5.15.0-{k}-generic exe/x86_64.ubuntu.22 "
    "prompt/off command/{cmd}",
    "aws-cli/1.{minor}.{patch} Python/3.8.{py} Darwin/22.{k}.0 botocore/1.{minor}.{patch}",
    "Boto3/1.{minor}.{patch} Python/3.10.{py} Linux/5.19.0-{k}-generic Botocore/1.{minor}.{patch}",
    "Boto3/1.{minor}.{patch} md/Botocore#1.{minor}.{patch} ua/2.0 os/linux#6.{k}.0 md/arch#x86_64 "
    "lang/python#3.12.{py} md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.{minor}.{patch}",
    "APN/1.0 HashiCorp/1.0 Terraform/1.{minor}.{py} (+https://www.terraform.io) "
    "terraform-provider-aws/5.{patch}.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.{k}.{py} os/linux lang/go#1.21.{py} md/GOOS#linux md/GOARCH#amd64 api/iam#1.{minor}.0",
    "aws-sdk-go/1.44.{patch} (go1.20.{py}; linux; amd64)",
    "aws-sdk-java/1.12.{patch} Linux/5.10.{k}-{py}.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/11.0.{py}+8",
    "aws-sdk-js/3.{patch}.0 os/darwin#22.{k}.0 lang/js md/nodejs#18.{py}.0 api/s3#3.{patch}.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/11{py}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:1{py}.0) Gecko/20100101 Firefox/1{py}.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.{py} Safari/605.1.15",
    "console.amazonaws.com",
    "signin.amazonaws.com",
    "s3.amazonaws.com",
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.{patch} Linux/5.10.{k}-{py}.amzn2int.x86_64]",
    "stratus-red-team_{uuid}",
    "python-requests/2.{minor}.{py}",
    "Pacu/1.{py}.{patch}",
)
CLI_COMMANDS = ("s3.ls", "iam.list-users", "sts.get-caller-identity", "ec2.describe-instances")
NAMES = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "backup-job",
)
ROLES = ("OrganizationAccountAccessRole", "deploy", "lambda-exec", "readonly-audit", "ec2-app")


@dataclass(frozen=True, slots=True)
class Manifest:
    """What was generated: enough for a benchmark to compute rates without reading the files."""

    root: str
    events: int
    files: int
    seed: int
    target_key: str
    target_events: int
    bytes_gz: int
    bytes_json: int
    days: int
    regions: list[str]


@dataclass(frozen=True, slots=True)
class FileSpec:
    index: int
    region: str
    day: int
    events: int
    seed: int
    target_share: float
    target_ips: int | None = None  # the target key's calls come from this many IPs (None: any)


#: User agents of the target key when its IPs are few (a service's few tools).
TARGET_AGENTS = 3


# --------------------------------------------------------------------------------------------
# templates
# --------------------------------------------------------------------------------------------
def load_templates(fixtures: Path = FIXTURES) -> list[bytes]:
    """The real invictus records in the fixtures, each as compact JSON bytes (deduplicated)."""
    seen: set[str] = set()
    out: list[bytes] = []
    files = [*sorted((fixtures / "invictus").glob("*.json")), fixtures / "invictus_sample.json"]
    for path in files:
        if not path.exists():
            continue
        for rec in orjson.loads(path.read_bytes())["Records"]:
            if rec.get("eventID") in seen:
                continue
            seen.add(rec.get("eventID"))
            out.append(orjson.dumps(rec))
    if not out:
        raise SystemExit(f"no template records under {fixtures}")
    return out


# --------------------------------------------------------------------------------------------
# pools
# --------------------------------------------------------------------------------------------
def _ip_pool(rng: random.Random, n: int = 3000) -> list[str]:
    pool: list[str] = []
    for _ in range(n):
        if rng.random() < 0.08:
            groups = [f"{rng.getrandbits(16):x}" for _ in range(4)]
            pool.append("2a0b:f4c2:" + ":".join(groups) + "::" + f"{rng.getrandbits(8):x}")
        else:
            first = rng.choice([3, 18, 23, 34, 45, 51, 54, 62, 77, 85, 91, 104, 109, 171, 185, 193])
            pool.append(
                f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            )
    return pool


def _ua_pool(rng: random.Random, n: int = 400) -> list[str]:
    out = []
    for _ in range(n):
        tpl = rng.choice(USER_AGENTS)
        out.append(
            tpl.format(
                minor=rng.randrange(10, 40),
                patch=rng.randrange(0, 200),
                py=rng.randrange(0, 20),
                k=rng.randrange(40, 90),
                cmd=rng.choice(CLI_COMMANDS),
                uuid=uuid.UUID(int=rng.getrandbits(128), version=4),
            )
        )
    return out


def _key(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(string.ascii_uppercase + "234567", k=16))


@dataclass(frozen=True, slots=True)
class Caller:
    type: str
    key: str
    principal: str
    arn: str
    name: str
    issuer: str | None


def _callers(rng: random.Random) -> list[Caller]:
    out = []
    for name in NAMES:
        principal = _key(rng, "AIDA")
        out.append(
            Caller(
                "IAMUser",
                _key(rng, "AKIA"),
                principal,
                f"arn:aws:iam::{ACCOUNT}:user/{name}",
                name,
                None,
            )
        )
    for role in ROLES:
        for _ in range(4):
            session = rng.choice(NAMES) + "-" + str(rng.randrange(10**9, 10**10))
            role_id = _key(rng, "AROA")
            out.append(
                Caller(
                    "AssumedRole",
                    _key(rng, "ASIA"),
                    f"{role_id}:{session}",
                    f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
                    session,
                    f"arn:aws:iam::{ACCOUNT}:role/{role}",
                )
            )
    return out


TARGET = Caller(
    "IAMUser",
    TARGET_KEY,
    "AIDAQ3EGUNTLTARGET01",
    f"arn:aws:iam::{ACCOUNT}:user/{TARGET_USER}",
    TARGET_USER,
    None,
)


# --------------------------------------------------------------------------------------------
# mutation
# --------------------------------------------------------------------------------------------
_ALNUM = string.ascii_lowercase + string.digits


def _mutate_strings(node: Any, rng: random.Random) -> Any:
    """Vary string leaves (IDs, names) so that values are not copies of a few templates."""
    if isinstance(node, dict):
        return {k: _mutate_strings(v, rng) for k, v in node.items()}
    if isinstance(node, list):
        return [_mutate_strings(v, rng) for v in node]
    if isinstance(node, str) and len(node) > 6 and rng.random() < 0.5:
        return node[:-5] + "".join(rng.choices(_ALNUM, k=5))
    return node


def _set_caller(rec: dict[str, Any], caller: Caller, rng: random.Random) -> None:
    ui = rec.get("userIdentity")
    if not isinstance(ui, dict) or ui.get("type") not in ("IAMUser", "AssumedRole"):
        return
    new: dict[str, Any] = {
        "type": caller.type,
        "principalId": caller.principal,
        "arn": caller.arn,
        "accountId": ACCOUNT,
        "accessKeyId": caller.key,
    }
    if caller.type == "IAMUser":
        new["userName"] = caller.name
    ctx = ui.get("sessionContext")
    if caller.issuer is not None:
        role_name = caller.issuer.rsplit("/", 1)[-1]
        ctx = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": caller.principal.split(":")[0],
                "arn": caller.issuer,
                "accountId": ACCOUNT,
                "userName": role_name,
            },
            "webIdFederationData": {},
            "attributes": {
                "creationDate": rec.get("eventTime"),
                "mfaAuthenticated": "false",
            },
        }
    if ctx:
        new["sessionContext"] = ctx
    if "invokedBy" in ui:
        new["invokedBy"] = ui["invokedBy"]
    rec["userIdentity"] = new


def _is_ip(value: Any) -> bool:
    return isinstance(value, str) and value[:1].isdigit()


def make_record(
    template: bytes,
    *,
    when: datetime,
    region: str,
    caller: Caller,
    rng: random.Random,
    ips: list[str],
    agents: list[str],
) -> dict[str, Any]:
    rec: dict[str, Any] = orjson.loads(template)
    rec["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    rec["awsRegion"] = region
    rec["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if "requestID" in rec:
        rec["requestID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    rec["recipientAccountId"] = ACCOUNT
    _set_caller(rec, caller, rng)
    if _is_ip(rec.get("sourceIPAddress")):
        rec["sourceIPAddress"] = rng.choice(ips)
        if isinstance(rec.get("userAgent"), str):
            rec["userAgent"] = rng.choice(agents)
    if isinstance(rec.get("requestParameters"), dict):
        rec["requestParameters"] = _mutate_strings(rec["requestParameters"], rng)
    creds = (rec.get("responseElements") or {}).get("credentials")
    if rec.get("eventName") in STS_MINTING and isinstance(creds, dict):
        creds["accessKeyId"] = _key(rng, "ASIA")
        creds["sessionToken"] = "".join(rng.choices(_ALNUM, k=len(creds.get("sessionToken", ""))))
    return rec


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def _plan(
    events: int, files: int, seed: int, share: float, days: int, target_ips: int | None = None
) -> list[FileSpec]:
    base, extra = divmod(events, files)
    specs = []
    for i in range(files):
        specs.append(
            FileSpec(
                index=i,
                region=REGIONS[i % len(REGIONS)],
                day=(i * days) // files,
                events=base + (1 if i < extra else 0),
                seed=seed * 1_000_003 + i,
                target_share=share,
                target_ips=target_ips,
            )
        )
    return specs


def _file_name(spec: FileSpec, when: datetime, rng: random.Random) -> str:
    stamp = when.strftime("%Y%m%dT%H%MZ")
    suffix = "".join(rng.choices(string.ascii_letters + string.digits, k=16))
    return f"{ACCOUNT}_CloudTrail_{spec.region}_{stamp}_{suffix}.json.gz"


def _day_prefix(kind: str, region: str, day: datetime) -> str:
    return f"AWSLogs/{ACCOUNT}/{kind}/{region}/{day:%Y/%m/%d}"


_TEMPLATES: list[bytes] = []


def _init_worker(templates: list[bytes]) -> None:
    _TEMPLATES[:] = templates


def write_file(spec: FileSpec, root: str) -> tuple[int, int, int]:
    """Write one log file; returns (target events, gz bytes, json bytes, what a digest says
    of it)."""
    rng = random.Random(spec.seed)
    pools = random.Random(12345)  # the same IPs, agents and callers in every file
    ips, agents, callers = _ip_pool(pools), _ua_pool(pools), _callers(pools)
    day = START + timedelta(days=spec.day)
    file_time = day + timedelta(minutes=rng.randrange(0, 24 * 60 - 5))
    records = []
    for _ in range(spec.events):
        when = file_time + timedelta(seconds=rng.uniform(-300, 300))
        caller = TARGET if rng.random() < spec.target_share else rng.choice(callers)
        few = caller is TARGET and spec.target_ips is not None
        records.append(
            make_record(
                rng.choice(_TEMPLATES),
                when=when,
                region=spec.region,
                caller=caller,
                rng=rng,
                ips=ips[: spec.target_ips] if few else ips,
                agents=agents[:TARGET_AGENTS] if few else agents,
            )
        )
    rng.shuffle(records)  # records within a file are unordered
    target = sum((r.get("userIdentity") or {}).get("accessKeyId") == TARGET_KEY for r in records)
    data = orjson.dumps({"Records": records})
    prefix = _day_prefix("CloudTrail", spec.region, day)
    folder = Path(root) / prefix
    folder.mkdir(parents=True, exist_ok=True)
    gz = gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    name = _file_name(spec, file_time, rng)
    (folder / name).write_bytes(gz)
    times = sorted(r["eventTime"] for r in records)
    entry = LogEntry(
        region=spec.region,
        delivered=file_time.isoformat(),
        key=f"{prefix}/{name}",
        sha256=hashlib.sha256(data).hexdigest(),
        oldest=times[0] if times else file_time.strftime(_ISO),
        newest=times[-1] if times else file_time.strftime(_ISO),
    )
    return target, len(gz), len(data), entry


@dataclass(frozen=True, slots=True)
class LogEntry:
    """What a digest file says of one log file (:func:`_write_digests`)."""

    region: str
    delivered: str  # when the file was delivered (the time in its name), ISO 8601
    key: str  # its S3 key under the bucket: AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/…
    sha256: str  # of its decompressed content, as CloudTrail's hashValue
    oldest: str
    newest: str


_ISO = "%Y-%m-%dT%H:%M:%SZ"
BUCKET = "bench-trail-bucket"
TRAIL = "org-trail"


def _write_digests(root: Path, days: int, entries: list[LogEntry]) -> None:
    """CloudTrail's digest files, as a trail with validation on writes them: one an hour per
    region, each naming the log files delivered in its hour with their SHA-256 (``hashValue``,
    of the decompressed content), written to the folder of the day its hour ends (so the last
    hour of a day is in the next day's folder). Loaders compare what they read with these
    hashes. Unsigned (a local copy has no ``x-amz-meta-signature``): read as a copy, "not
    verified"."""
    hours: dict[tuple[str, datetime], list[LogEntry]] = {}
    for e in entries:
        hour = datetime.fromisoformat(e.delivered).replace(minute=0, second=0, microsecond=0)
        hours.setdefault((e.region, hour), []).append(e)
    for region in REGIONS:
        for h in range(days * 24):
            start = START + timedelta(hours=h)
            end = start + timedelta(hours=1)
            files = sorted(hours.get((region, start), []), key=lambda e: e.key)
            folder = root / _day_prefix("CloudTrail-Digest", region, end)
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{ACCOUNT}_CloudTrail-Digest_{region}_{TRAIL}_{region}_{end:%Y%m%dT%H%M%SZ}.json.gz"
            digest = {
                "awsAccountId": ACCOUNT,
                "digestStartTime": start.strftime(_ISO),
                "digestEndTime": end.strftime(_ISO),
                "digestS3Bucket": BUCKET,
                "digestS3Object": f"{_day_prefix('CloudTrail-Digest', region, end)}/{name}",
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": max((e.newest for e in files), default=None),
                "oldestEventTime": min((e.oldest for e in files), default=None),
                "logFiles": [
                    {
                        "s3Bucket": BUCKET,
                        "s3Object": e.key,
                        "hashValue": e.sha256,
                        "hashAlgorithm": "SHA-256",
                        "newestEventTime": e.newest,
                        "oldestEventTime": e.oldest,
                    }
                    for e in files
                ],
            }
            (folder / name).write_bytes(gzip.compress(orjson.dumps(digest), mtime=0))


def generate(
    *,
    events: int = DEFAULT_EVENTS,
    files: int = DEFAULT_FILES,
    seed: int = DEFAULT_SEED,
    target_share: float = DEFAULT_TARGET_SHARE,
    days: int = DEFAULT_DAYS,
    out: Path = DEFAULT_OUT,
    workers: int = 2,
    target_ips: int | None = None,
) -> Manifest:
    """Generate the data set (or return the cached one with the same parameters).

    ``target_ips``: the target key calls from that many IPs with :data:`TARGET_AGENTS` user
    agents (a service's heavy, repetitive activity) instead of any of the pools'."""
    name = f"logs-e{events}-f{files}-s{seed}-{DATA_VERSION}"
    if target_ips is not None:
        name += f"-k{round(target_share * 100)}-t{target_ips}-d{days}"
    root = out / name
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        return Manifest(**json.loads(manifest_path.read_text()))
    templates = load_templates()
    specs = _plan(events, files, seed, target_share, days, target_ips)
    started = time.perf_counter()
    totals = [0, 0, 0]
    entries: list[LogEntry] = []
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(templates,)) as pool:
        for t, gz, js, e in pool.map(write_file, specs, [str(root)] * len(specs), chunksize=4):
            totals[0] += t
            totals[1] += gz
            totals[2] += js
            entries.append(e)
    _write_digests(root, days, entries)
    manifest = Manifest(
        root=str(root),
        events=events,
        files=files,
        seed=seed,
        target_key=TARGET_KEY,
        target_events=totals[0],
        bytes_gz=totals[1],
        bytes_json=totals[2],
        days=days,
        regions=list(REGIONS),
    )
    manifest_path.write_text(json.dumps(asdict(manifest), indent=2))
    log.info("generated %s in %.1fs", root, time.perf_counter() - started)
    return manifest


def window(manifest: Manifest) -> tuple[datetime, datetime]:
    """The days the data set covers, as an investigation's window (the loader then checks
    the log files against the digests, as it does on a real trail)."""
    return START, START + timedelta(days=manifest.days) - timedelta(microseconds=1)


def log_files(manifest: Manifest) -> Iterator[Path]:
    """The generated log files (not the digests), sorted."""
    yield from sorted(Path(manifest.root).glob("AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gen", description=__doc__)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--files", type=int, default=DEFAULT_FILES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--target-share", type=float, default=DEFAULT_TARGET_SHARE)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    m = generate(
        events=args.events,
        files=args.files,
        seed=args.seed,
        target_share=args.target_share,
        days=args.days,
        out=args.out,
    )
    print(json.dumps(asdict(m), indent=2))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
