"""Shared fixtures: no test reaches real AWS; moto and tests/fake_aws stand in for it.

- ``no_real_aws`` (autouse): fake credentials, empty AWS config files, no profile or endpoint
  overrides from the developer's shell, IMDS off, a dead proxy for anything that is not loopback
  (so subprocesses such as a papermill kernel fail fast too), and botocore's HTTP sender patched to
  raise :class:`~tests.fake_aws.RealAwsCallError` for any non-loopback URL. A call swallowed by an
  ``except Exception`` still fails the test at teardown. Yields the list of blocked URLs.
- ``moto_server`` (session) / ``moto`` (function): moto's server on a free loopback port; ``moto``
  resets its state and sets ``AWS_ENDPOINT_URL`` to it (S3, IAM, STS...).
- ``fake_aws_server`` (session) / ``fake_aws`` (function): :class:`~tests.fake_aws.FakeAws`, reset,
  with ``AWS_ENDPOINT_URL_GUARDDUTY``, ``_CLOUDTRAIL``, ``_ATHENA`` and ``_EC2`` (DescribeRegions:
  the account's enabled regions) set to it.
- ``fake_athena`` (function): the fake's Athena in the test region
  (:class:`~tests.fake_aws.AthenaRegion`: seed answers, polls, failures). moto serves no Athena.

- every botocore session of the test process (the tests' own ``boto3.client`` calls, made in a
  fresh default session each test, moto's) reads botocore's data files with the kit's shared
  loader (:func:`torinvest.aws.session.shared_loader`), as the kit's own sessions do: each file
  is parsed once per process, not once per test.
- ``quick_retry_waits`` (autouse): botocore's retry waits (:func:`torinvest.aws.session.retry_wait`)
  end at once in the test process (a stop asked is still raised; an endpoint found down still
  ends the wait): a retried call is retried as in use, without the seconds of back-off. A test
  of the wait itself is marked ``real_retry_waits``. Kernels and child processes wait as in use.

Each pytest-xdist worker is a process of its own, so it gets its own servers.
"""

from __future__ import annotations

import os
import shutil
import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.httpsession
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest

from tests.fake_aws import AthenaRegion, FakeAws, RealAwsCallError
from tests.once import made_once
from torinvest.aws.session import shared_loader

pytest_plugins = ["pytester"]  # test_fake_aws.py proves the guard fails a test

botocore.session.create_loader = shared_loader  # the module docstring

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: botocore's own HTTP sender, before the guard wraps it: for a test whose requests go to a
#: loopback proxy only (tests/test_unreachable.py checks the proxy of each request it lets
#: through; every other request goes to the guard).
UNGUARDED_SEND = botocore.httpsession.URLLib3Session.send
TEST_REGION = "us-east-1"


@pytest.fixture(scope="session")
def _empty_aws_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("aws") / "empty"
    path.write_text("")
    return path


@pytest.fixture(scope="session")
def _dead_proxy_url() -> Iterator[str]:
    """A loopback port that is bound but never listens: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(autouse=True)
def no_real_aws(
    monkeypatch: pytest.MonkeyPatch, _empty_aws_config: Path, _dead_proxy_url: str
) -> Iterator[list[str]]:
    """Make any attempt to reach real AWS fail the test, naming the URL."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": str(_empty_aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(_empty_aws_config),
        "AWS_REGION": TEST_REGION,
        "AWS_DEFAULT_REGION": TEST_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, _dead_proxy_url)
        monkeypatch.setenv(name.lower(), _dead_proxy_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    blocked: list[str] = []
    send = botocore.httpsession.URLLib3Session.send

    def guarded_send(self: botocore.httpsession.URLLib3Session, request: AWSPreparedRequest) -> Any:
        if urlsplit(request.url).hostname not in LOOPBACK_HOSTS:
            blocked.append(request.url)
            raise RealAwsCallError(f"test tried to reach real AWS: {request.method} {request.url}")
        return send(self, request)

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", guarded_send)
    yield blocked
    if blocked:
        pytest.fail(f"test tried to reach real AWS (blocked): {blocked}", pytrace=False)


@pytest.fixture(autouse=True)
def quick_retry_waits(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry waits end at once (the module docstring); not for ``real_retry_waits``."""
    if request.node.get_closest_marker("real_retry_waits") is not None:
        return
    from torinvest import stopping
    from torinvest.aws import session

    def quick(seconds: float, what: str, give_up: Callable[[], bool] | None = None) -> bool:
        stopping.check(what)
        return give_up is not None and give_up()

    monkeypatch.setattr(session, "retry_wait", quick)


def _post(url: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, data=b"", method="POST"), timeout=10):
        pass


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server (S3, IAM, STS...) on a free loopback port; yields its URL."""
    from moto.server import ThreadedMotoServer  # slow to import: only when a test needs it

    from tests.moto_s3 import quicken_moto

    quicken_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto with empty state, and ``AWS_ENDPOINT_URL`` pointing at it; yields its URL."""
    _post(f"{moto_server}/moto-api/reset")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


#: Test modules that run report kernels or many subprocesses, heaviest first (each one's share
#: of the slowest tests of two ``--durations=60`` listings of the whole suite, 2026-12-05).
#: :func:`pytest_collection_modifyitems` runs them first: a 50-80 s test that starts last
#: leaves the other workers (``-n 3``) idle to its end; started first, the many short tests fill in
#: around it (``make test`` uses ``--dist worksteal``: an idle worker takes tests queued on the
#: other). A module not listed runs after them, as collected; a name no longer there is
#: ignored: only the suite's wall time depends on this list.
HEAVY_FIRST: tuple[str, ...] = (
    "tests/test_notebooks.py",
    "tests/cli/test_investigate.py",
    "tests/test_exit_codes.py",
    "tests/report/test_report.py",
    "tests/post/test_cli.py",
    "tests/test_outcome.py",
    "tests/test_verdict_recheck.py",
    "tests/hostile/test_outputs.py",
    "tests/test_children.py",
    "tests/hostile/test_org_scale.py",
    "tests/hostile/test_report.py",
    "tests/report/test_browser.py",
    "tests/hostile/test_digests.py",
    "tests/hostile/test_findings_aws.py",
    "tests/test_campaign.py",
    "tests/test_finding_account.py",
    "tests/test_last_used.py",
    "tests/hostile/test_log_files.py",
    "tests/post/test_command.py",
    "tests/hostile/test_options.py",
    "tests/tor/test_tor.py",
    "tests/hostile/test_notebooks.py",
    "tests/hostile/test_answer_text.py",
    "tests/post/test_policy_unattended.py",
    "tests/cli/test_interrupts.py",
    "tests/test_sources_lookup.py",
    "tests/hostile/test_digest_signatures.py",
    "tests/sources/sql/test_duckdb.py",
    "tests/cli/test_geoip.py",
    "tests/tor/test_snapshot.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules of :data:`HEAVY_FIRST` first, in its order; each module's tests keep their
    order (a stable sort: module fixtures are set up once per worker as before). Every worker
    sorts the same collection the same way, as pytest-xdist requires."""
    rank = {name: index for index, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


#: The sample case's finding (tests.post.conftest.FINDING_ID, tests/fixtures/…).
SAMPLE_FINDING = "6dde0a8f8d46f6acad893b30f905e97c"


@pytest.fixture(scope="session")
def sample_investigation() -> Any:
    """The sample finding investigated in this process from the sample case with the default
    sources and options (``investigation.investigate``), once per worker for the modules that
    read it (several built their own, a few seconds each). Read only: a test that wants another
    one changes a copy (``dataclasses.replace``, ``frame.assign``), never this one."""
    from torinvest import investigation
    from torinvest.case import sample_case

    sources = investigation.sources_from_parameters(case_dir=str(sample_case().root))
    return investigation.investigate(SAMPLE_FINDING, sources)


@pytest.fixture(scope="session")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A complete report of the sample finding with the default options (a fresh ledger,
    ``ledger.jsonl`` beside the folder: no verdict), made once per test run by a real run (a
    kernel: the slow part), the xdist workers sharing it (:func:`tests.once.made_once`). Read
    it; a test that changes a report copies it first. Checked unchanged (its manifest) at the
    end of each worker's session."""
    from torinvest import report
    from torinvest.case import sample_case

    def make(folder: Path) -> None:
        options = report.RunOptions(
            case_dir=str(sample_case().root), ledger=str(folder / "ledger.jsonl")
        )
        report.run_report(SAMPLE_FINDING, folder / "report", options)
        assert report.folder_state(folder / "report", SAMPLE_FINDING).complete

    out = made_once(tmp_path_factory, "sample-report", make) / "report"
    yield out
    state = report.folder_state(out, SAMPLE_FINDING)
    assert state.complete, f"a test changed the shared sample report {out}: {state.why}"


@pytest.fixture(scope="session")
def fake_aws_server() -> Iterator[FakeAws]:
    with FakeAws() as fake:
        yield fake


@pytest.fixture
def fake_aws(fake_aws_server: FakeAws, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    """The GuardDuty/CloudTrail/Athena fake, reset, with the service endpoint variables pointing
    at it."""
    fake_aws_server.reset()
    # the fake's LookupEvents limit starts afresh, and so do the pacers (a pacer keeps the
    # answers of the test before, and would make this one's first calls wait for them)
    from torinvest.sources.lookup import pacer

    pacer._PACERS.clear()
    for service in ("GUARDDUTY", "CLOUDTRAIL", "ATHENA", "EC2"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", fake_aws_server.url)
    return fake_aws_server


@pytest.fixture
def quick_lookups(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The LookupEvents look-ups ``actions --execute`` makes to confirm a record
    (:mod:`torinvest.runner.confirm`) paced at 1,000 a second, and the fake's 2-a-second limit
    off (when the test uses it): for tests of what the runner does with the answers, not of
    the pacing (tests/hostile/test_actions_forged.py keeps both)."""
    from torinvest.runner import confirm
    from torinvest.sources.lookup.pacer import pacer_for

    monkeypatch.setattr(
        confirm, "pacer_for", lambda account, region: pacer_for(account, region, 1000.0)
    )
    if "fake_aws" in request.fixturenames:
        request.getfixturevalue("fake_aws").set_lookup_rate(None)


@pytest.fixture
def fake_athena(fake_aws: FakeAws) -> AthenaRegion:
    """Athena of the fake in the test region (``AWS_ENDPOINT_URL_ATHENA`` points at it)."""
    return fake_aws.athena(TEST_REGION)


@pytest.fixture(scope="session")
def _tor_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled exit lists' snapshot folder (:mod:`torinvest.tor.snapshot`), parsed and
    written once per test run (:func:`tests.once.made_once`), as an installation has it after
    its first Tor check. Parsing the lists costs about 1 s (10 s under load) in every process
    that finds no snapshot: each report kernel of a test, whose cache starts empty."""
    from torinvest.tor import lists

    def make(folder: Path) -> None:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TORINVEST_CACHE", str(folder))
            lists._bundled.__wrapped__()  # parses and writes, this process's cache untouched

    return made_once(tmp_path_factory, "tor-snapshot", make) / "bundled"


@pytest.fixture(autouse=True)
def isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _tor_snapshot: Path
) -> None:
    """Caches and the ledger go to a temporary folder, never the developer's home. The cache
    starts with the bundled exit lists' snapshot (a copy of :func:`_tor_snapshot`'s: a test
    may damage its own); tests/tor/test_snapshot.py removes it to test the parse."""
    root = tmp_path_factory.mktemp("state")
    if _tor_snapshot.is_dir():  # none when the lists parsed with an issue (never stored)
        shutil.copytree(_tor_snapshot, root / "cache" / "bundled")
    monkeypatch.setenv("TORINVEST_CACHE", str(root / "cache"))
    monkeypatch.setenv("TORINVEST_LEDGER", str(root / "ledger.jsonl"))
