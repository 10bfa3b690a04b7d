"""Ctrl-C (SIGINT) and SIGTERM stop a long command promptly, whatever it waits on.

Each test starts ``torinvest`` in a process of its own against the local fakes, waits until the
command is waiting (botocore's retry backoff in worker threads, a DuckDB query, …), sends the
signal and checks the way out: exit 130 (143 for SIGTERM), ``torinvest: interrupted`` (or
``terminated (SIGTERM)``), no traceback, nothing left that looks complete. One test per
mechanism, parametrized over the commands and signals that reach it.

The bounds are generous: the wait interrupted is made ten times longer than the bound (a 60 s
retry delay, a query that would run for minutes), so a command that waits it out fails the test
whatever the machine's speed, and one that stops at once passes on a busy machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fake_aws import FakeAws
from tests.signals import as_from_a_terminal

#: these tests stop commands in their retry waits: the waits are real (tests/conftest.py)
pytestmark = pytest.mark.real_retry_waits

REPO = Path(__file__).resolve().parents[2]
#: The delay botocore's retry handler is made to answer (standard mode waits up to 20 s).
RETRY_DELAY = 60.0
#: How long the command may take to end after the signal: far less than what it waited on.
BOUND = 10.0
#: Signals and the way out each must take.
SIGNALS = [
    pytest.param(signal.SIGINT, 130, "torinvest: interrupted", id="SIGINT"),
    pytest.param(signal.SIGTERM, 143, "torinvest: terminated (SIGTERM)", id="SIGTERM"),
]

#: ``python -c`` prelude: botocore's retry backoff made RETRY_DELAY long (it is random, 0–20 s).
LONG_RETRIES = f"""
import sys
import botocore.retries.standard as standard
standard.ExponentialBackoff.delay_amount = lambda self, context: {RETRY_DELAY}
from torinvest.cli import main
sys.exit(main())
"""


class Interrupted:
    """What a command said and did when it was sent a signal."""

    def __init__(self, code: int, out: str, err: str, took: float) -> None:
        self.code, self.out, self.err, self.took = code, out, err, took


def interrupt(
    argv: list[str],
    ready: Callable[[], bool],
    sig: int,
    *,
    cwd: Path,
    prelude: str = LONG_RETRIES,
    env: dict[str, str] | None = None,
) -> Interrupted:
    """Run ``torinvest ARGV`` (after ``prelude``), send ``sig`` once ``ready()``; how it ended."""
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), environ.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-c", prelude, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=environ,
        preexec_fn=as_from_a_terminal,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"ended before it was interrupted ({proc.returncode}): {err}")
            assert time.monotonic() < deadline, "never got to the wait to interrupt"
            time.sleep(0.05)
        time.sleep(0.3)  # into the wait
        proc.send_signal(sig)
        sent = time.monotonic()
        try:
            out, err = proc.communicate(timeout=3 * BOUND)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"still running {3 * BOUND:.0f} s after the signal: {err[-2000:]}")
        return Interrupted(proc.returncode, out, err, time.monotonic() - sent)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def assert_way_out(result: Interrupted, code: int, line: str) -> None:
    assert result.code == code, result.err
    assert line in result.err and "Traceback" not in result.err + result.out, result.err
    assert result.took < BOUND, (result.took, result.err)


def regions_asked(fake: FakeAws, service_op: str, regions: list[str]) -> Callable[[], bool]:
    """Ready once every region was asked ``service_op`` (each worker is then in its backoff)."""
    return lambda: all(fake.calls(service_op, region=r) for r in regions)


REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


@pytest.mark.parametrize(("sig", "code", "line"), SIGNALS)
@pytest.mark.parametrize(
    ("argv", "service", "operation"),
    [
        pytest.param(
            ["findings", "--regions", ",".join(REGIONS)],
            "guardduty",
            "ListDetectors",
            id="findings",
        ),
        pytest.param(
            [
                "investigate",
                "8ac2f0c1c3f0b62bf8e9d8a1a1b2c3d4",
                "--regions",
                ",".join(REGIONS),
                "--out",
                "r",
            ],
            "guardduty",
            "ListDetectors",
            id="investigate",
        ),
        pytest.param(
            ["investigate", "--all-open", "--regions", ",".join(REGIONS), "--out", "reports"],
            "guardduty",
            "ListDetectors",
            id="all-open",
        ),
    ],
)
def test_botocore_retry_waits_in_region_threads_end_at_the_signal(
    fake_aws: FakeAws,
    tmp_path: Path,
    argv: list[str],
    service: str,
    operation: str,
    sig: int,
    code: int,
    line: str,
) -> None:
    """Every region throttled: each region's thread sleeps botocore's retry backoff (made 60 s
    here; standard mode waits up to 20 s an attempt, ten attempts). The signal stops the command
    within seconds — the main thread was interrupted, but leaving the regions' thread pool (and
    the interpreter's exit) waited for every backoff to end: a minute and more."""
    for region in REGIONS:
        fake_aws.guardduty(region).add_detector()
    fake_aws.fail(service, "*", "ThrottlingException")
    result = interrupt(argv, regions_asked(fake_aws, operation, REGIONS), sig, cwd=tmp_path)
    assert_way_out(result, code, line)
    asked = len(fake_aws.requests)
    time.sleep(0.5)
    assert len(fake_aws.requests) == asked  # nothing asked after the exit (no thread left)


def test_map_regions_interrupted_without_the_command_ends_its_threads_backoff(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library alone (a notebook: the kernel handles SIGINT, torinvest's command does not
    run): a KeyboardInterrupt in the thread that waits for the regions ends their botocore
    backoff too, and no region's thread is left."""
    import threading

    import botocore.retries.standard as standard

    from torinvest.aws import Aws

    monkeypatch.setattr(
        standard.ExponentialBackoff, "delay_amount", lambda self, context: RETRY_DELAY
    )
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # without the stop: one wait, then the end
    fake_aws.fail("guardduty", "*", "ThrottlingException")
    aws = Aws()
    asked = regions_asked(fake_aws, "ListDetectors", REGIONS)
    sent: list[float] = []

    def press_ctrl_c() -> None:
        while not asked():
            time.sleep(0.05)
        time.sleep(0.3)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, to the main thread

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        aws.map_regions(lambda r: aws.client("guardduty", r).list_detectors(), REGIONS)
    assert time.monotonic() - sent[0] < BOUND
    assert not [t for t in threading.enumerate() if t.name.startswith("torinvest-aws")]


@pytest.mark.parametrize("mode", ["standard", "adaptive", "legacy"])
def test_every_retry_mode_gets_the_stoppable_wait(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The retry handler botocore registers in each mode is the one wrapped (a botocore that
    registers it otherwise fails here, not silently), and a throttled call in the main thread
    is still retried, after its wait."""
    from torinvest.aws import Aws
    from torinvest.aws.session import _RetryWait

    monkeypatch.setenv("AWS_RETRY_MODE", mode)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    client = Aws().client("guardduty", "us-east-1")
    emitter = client.meta.events._emitter
    assert isinstance(emitter._unique_id_handlers["retry-config-guardduty"]["handler"], _RetryWait)
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.fail("guardduty", "*", "ThrottlingException", times=1)
    assert client.list_detectors()["DetectorIds"]
    assert len(fake_aws.calls("ListDetectors")) == 2


#: ``python -c`` prelude: every DuckDB query made to run for minutes (a count over 2·10¹¹
#: rows before its rows come), and a file ``querying`` written as it starts.
LONG_DUCKDB_QUERY = """
import pathlib, sys
from torinvest.sources.sql import duckdb as engine
sql = engine.DuckDBEngine._sql
def long(self, *args, **kwargs):
    pathlib.Path("querying").touch()
    return (f"SELECT * FROM ({sql(self, *args, **kwargs)}) WHERE (SELECT count(*) "
            "FROM range(200000000000) t(i) WHERE i % 7 = 3) > 0")
engine.DuckDBEngine._sql = long
from torinvest.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize(("sig", "code", "line"), SIGNALS)
@pytest.mark.parametrize("earlier", [False, True], ids=["new-output", "earlier-output"])
def test_a_long_duckdb_query_is_interrupted_and_writes_nothing(
    tmp_path: Path, sig: int, code: int, line: str, earlier: bool
) -> None:
    """`events --engine duckdb` in a query that would run for minutes: the signal interrupts
    the query (DuckDB does not look at Python's signals: Ctrl-C waited for its end) and nothing
    is written — an earlier export is left as it was, and said to be an earlier one; with none,
    the command says that it wrote nothing."""
    from torinvest.case import sample_case

    out = tmp_path / "ev.csv"
    if earlier:
        out.write_text("earlier\n")
    argv = ["events", "--case", str(sample_case().root), "--access-key", "AKIATFQR7NSCUXC3DDDP"]
    argv += ["--engine", "duckdb", "--out", str(out)]
    result = interrupt(
        argv, (tmp_path / "querying").exists, sig, cwd=tmp_path, prelude=LONG_DUCKDB_QUERY
    )
    assert_way_out(result, code, line)
    if earlier:
        assert out.read_text() == "earlier\n"
        assert "ev.csv was not written: the file there is an earlier export" in result.err
    else:
        assert not out.exists()
        assert "ev.csv was not written: the run was stopped before it was" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["querying", *(["ev.csv"] * earlier)]
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_under_the_command_a_signal_stops_retry_waits_in_any_worker_thread(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch, sig: int
) -> None:
    """Not only the regions' threads: any thread calling AWS with torinvest's clients (the S3
    listings' and downloads' pools) ends its botocore backoff when the command gets Ctrl-C or
    SIGTERM, raising Stopped (no ``except Exception`` takes it for a failed call), and makes no
    call after it."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import botocore.retries.standard as standard

    from torinvest.aws import Aws
    from torinvest.children import sigterm_interrupts
    from torinvest.stopping import Stopped, stop_on_signals

    monkeypatch.setattr(
        standard.ExponentialBackoff, "delay_amount", lambda self, context: RETRY_DELAY
    )
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # without the stop: one wait, then the end
    fake_aws.fail("guardduty", "*", "ThrottlingException")
    client = Aws().client("guardduty", "us-east-1")
    sent: list[float] = []

    def signal_once_both_wait() -> None:
        while len(fake_aws.calls("ListDetectors")) < 2:
            time.sleep(0.05)
        time.sleep(0.3)
        sent.append(time.monotonic())
        os.kill(os.getpid(), sig)

    threading.Thread(target=signal_once_both_wait, daemon=True).start()
    with (
        stop_on_signals(),
        sigterm_interrupts(),
        pytest.raises(KeyboardInterrupt),
        ThreadPoolExecutor(2) as pool,
    ):
        futures = [pool.submit(client.list_detectors) for _ in range(2)]
        futures[0].result()
    assert time.monotonic() - sent[0] < BOUND
    assert all(isinstance(f.exception(), Stopped) for f in futures)
    assert len(fake_aws.calls("ListDetectors")) == 2


@pytest.fixture
def silent_endpoint() -> Iterator[tuple[str, list[socket.socket]]]:
    """An endpoint that accepts every connection and never answers (a hung proxy, a black
    hole): its URL and the connections it holds."""
    import threading

    held: list[socket.socket] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed at the end of the test
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", held
    server.close()
    for conn in held:
        conn.close()


@pytest.mark.parametrize(("sig", "code", "line"), SIGNALS)
def test_regions_waiting_for_an_answer_never_hold_the_exit(
    tmp_path: Path,
    silent_endpoint: tuple[str, list[socket.socket]],
    sig: int,
    code: int,
    line: str,
) -> None:
    """Every region's call sent to an endpoint that never answers: the signal ends the command
    within seconds — it waited for botocore's read timeout (60 s), since no stop reaches a
    thread blocked in a read; such a thread is no longer waited for (it makes no call after
    its answer)."""
    url, held = silent_endpoint
    argv = ["findings", "--regions", ",".join(REGIONS)]
    env = {"AWS_ENDPOINT_URL_GUARDDUTY": url}
    result = interrupt(argv, lambda: len(held) >= len(REGIONS), sig, cwd=tmp_path, env=env)
    assert_way_out(result, code, line)
