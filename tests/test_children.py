"""Worker processes end with the process that started them (:mod:`torinvest.children`).

Each test starts a "parent" Python process that starts workers the way torinvest does (the log
loader's pool of forked readers; a scheduled run's pool of spawned report workers), waits until
every worker is busy (each writes its process ID, then sleeps as a long report or a large file
would), kills the parent alone with SIGKILL — what a job scheduler's timeout or ``kill -9`` does,
no signal reaching the workers — and checks that every worker is gone soon after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.signals import as_from_a_terminal

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's"
)

REPO = Path(__file__).resolve().parents[1]
#: How long the workers may outlive their parent (they are sent SIGTERM at once).
GRACE_SECONDS = 15.0


def _sleeping_report(finding_id: str, folder: Path) -> None:
    """A report that takes far longer than the test: says its process ID, then sleeps."""
    (folder / f"{os.getpid()}.pid").write_text(finding_id)
    time.sleep(300)


def _report_in_a_kernel(finding_id: str, folder: Path) -> None:
    """A notebook run by papermill whose kernel says its process ID, then sleeps."""
    import nbformat
    import papermill

    (folder / f"{os.getpid()}.pid").write_text(finding_id)
    code = (
        f"import os, time, pathlib; pathlib.Path({str(folder)!r}, f'{{os.getpid()}}.pid')"
        ".write_text('kernel'); time.sleep(300)"
    )
    notebook = folder / f"{finding_id}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), notebook)
    papermill.execute_notebook(
        notebook, folder / f"{finding_id}.out.ipynb", kernel_name="python3", progress_bar=False
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (ended, not yet reaped by init) counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill_parent_then_check_workers(script: str, pids: Path, workers: int) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(pids.glob("*.pid"))) < workers:
            if parent.poll() is not None:
                pytest.fail(f"the parent ended early: {parent.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                pytest.fail("the workers did not start within 120 s")
            time.sleep(0.1)
        started = [int(p.stem) for p in pids.glob("*.pid")]
        assert all(_alive(pid) for pid in started)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + GRACE_SECONDS
    while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in started if _alive(pid)]
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent by {GRACE_SECONDS:.0f} s"


def test_a_scheduled_runs_report_workers_end_when_the_run_is_killed(tmp_path: Path) -> None:
    script = f"""
        from pathlib import Path
        from torinvest.post.state import Work, _Runner
        from tests.test_children import _sleeping_report

        runner = _Runner(2, _sleeping_report)
        for fid in ("finding-a", "finding-b"):
            runner.start(Work(fid, True, False, "new"), Path({str(tmp_path)!r}))
        runner.finished()  # waits: the reports never end
    """
    _kill_parent_then_check_workers(script, tmp_path, 2)


def test_a_report_workers_kernel_ends_with_it(tmp_path: Path) -> None:
    script = f"""
        from pathlib import Path
        from torinvest.post.state import Work, _Runner
        from tests.test_children import _report_in_a_kernel

        runner = _Runner(2, _report_in_a_kernel)
        runner.start(Work("finding-a", True, False, "new"), Path({str(tmp_path)!r}))
        runner.start(Work("finding-b", True, False, "new"), Path({str(tmp_path)!r}))
        runner.finished()
    """
    _kill_parent_then_check_workers(script, tmp_path, 4)  # two workers, their two kernels


def test_the_log_loaders_readers_end_when_the_load_is_killed(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in range(4):  # enough bytes that the load starts its worker processes
        name = f"123456789012_CloudTrail_us-east-1_20240101T00{n}0Z_abcdef{n}.json.gz"
        (logs / name).write_bytes(os.urandom(1_200_000))
    pids = tmp_path / "pids"
    pids.mkdir()
    script = f"""
        import os, time
        from pathlib import Path
        import torinvest.sources.logs.pool as pool
        from torinvest.sources.logs import load_logs

        def reading_a_huge_file(batch, options, folder):
            (Path({str(pids)!r}) / f"{{os.getpid()}}.pid").write_text("reading")
            time.sleep(300)

        pool._read_batch_packed = reading_a_huge_file  # the forked readers inherit it
        load_logs(Path({str(logs)!r}), progress=False, workers=2)
    """
    _kill_parent_then_check_workers(script, pids, 2)


def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (children, grandchildren…), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _kernels(pids: set[int]) -> set[int]:
    """The Jupyter kernels among ``pids`` (those still running)."""
    found = set()
    for pid in pids:
        try:
            if b"ipykernel_launcher" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except OSError:
            continue
    return found


@pytest.mark.parametrize(
    ("how", "jobs"),
    [("SIGTERM", 1), ("SIGTERM", 2), ("Ctrl-C", 1)],
)
def test_a_stopped_scheduled_run_writes_its_index_and_leaves_nothing_running(
    tmp_path: Path, how: str, jobs: int
) -> None:
    """``investigate --all-open`` stopped halfway — SIGTERM to it alone (a scheduler's timeout,
    ``kill PID``, ``systemctl stop``) or Ctrl-C (SIGINT to its process group): it says which and
    exits with 143 or 130, without a traceback (its own or a kernel's), its index is written with
    the reports it stopped as ``interrupted``, and no worker or kernel is left. It does not wait
    for the reports to finish."""
    from torinvest.case import sample_case

    out = tmp_path / "out"
    command = ["investigate", "--all-open", "--case", str(sample_case().root), "--out", str(out)]
    command += ["--jobs", str(jobs), "--ledger", str(tmp_path / "ledger.jsonl")]
    run = subprocess.Popen(
        [sys.executable, "-m", "torinvest.cli", *command],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal gives a command
        preexec_fn=as_from_a_terminal,
    )
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    # the workers (--jobs 1: none, the reports run in the command's process) and a kernel, once
    # started (counting jobs + 1 processes waited, with --jobs 1, for the first report to end
    # and the second's kernel to start; with --jobs 2 it stopped before any kernel started)
    processes = jobs + 1 if jobs > 1 else 1
    while (
        not (len(seen) >= processes and _kernels(seen))
        and run.poll() is None
        and time.monotonic() < deadline
    ):
        seen |= _descendants(run.pid)
        time.sleep(0.05)
    assert run.poll() is None, "the reports ended before the run could be stopped"
    assert _kernels(seen), "no kernel started within 120 s"
    time.sleep(1.0)  # the kernels are running the notebooks
    seen |= _descendants(run.pid)
    if how == "SIGTERM":
        run.send_signal(signal.SIGTERM)
    else:
        os.killpg(run.pid, signal.SIGINT)
    try:
        said, err = run.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail(f"the run did not end within 60 s of {how}: it waited for its reports")
    text = err.decode()
    if how == "SIGTERM":
        assert (run.returncode, "torinvest: terminated (SIGTERM)" in text) == (143, True), text
    else:
        assert (run.returncode, "torinvest: interrupted" in text) == (130, True), text
    assert "Traceback" not in text + said.decode()
    assert '"interrupted"' in (out / "index.json").read_text()
    deadline = time.monotonic() + GRACE_SECONDS
    while any(_alive(p) for p in seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in seen if _alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes {left} outlived the stopped run"


@pytest.mark.parametrize("how", ["Ctrl-C", "SIGTERM"])
def test_a_stopped_log_load_ends_its_readers_without_waiting_for_their_reads(
    tmp_path: Path, how: str
) -> None:
    """``events --logs`` stopped while its worker processes read (Ctrl-C: SIGINT to the whole
    process group; SIGTERM: to the command alone) says so and exits with 130 or 143 at once,
    without a traceback (its own or a worker's): the queued reads are cancelled and the running
    ones stopped — before, leaving the pool waited for every queued read, and an interpreter
    whose readers were still busy never exited. No reader and no spill folder is left."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in range(8):  # enough bytes that the load starts its worker processes
        name = f"123456789012_CloudTrail_us-east-1_20240101T00{n}0Z_abcdef{n}.json.gz"
        (logs / name).write_bytes(os.urandom(1_200_000))
    pids = tmp_path / "pids"
    pids.mkdir()
    script = f"""
        import os, sys, time
        from pathlib import Path
        import torinvest.sources.logs.load as load
        import torinvest.sources.logs.pool as pool
        from torinvest.cli import main

        def reading_a_huge_file(batch, options, folder):
            (Path({str(pids)!r}) / f"{{os.getpid()}}.pid").write_text(str(folder))
            time.sleep(300)

        pool._read_batch_packed = reading_a_huge_file  # the forked readers inherit it
        load.default_workers = lambda: 2  # two readers, however many CPUs
        sys.exit(main())
    """
    command = ["events", "--logs", str(logs), "--start", "2024-01-01", "--end", "2024-01-02"]
    command += ["--out", str(tmp_path / "events.csv")]
    run = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *command],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
        preexec_fn=as_from_a_terminal,
    )
    deadline = time.monotonic() + 120
    while len(list(pids.glob("*.pid"))) < 2:  # both readers are busy
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "the readers did not start within 120 s"
        time.sleep(0.05)
    readers = [int(p.stem) for p in pids.glob("*.pid")]
    spill = {p.read_text() for p in pids.glob("*.pid")} - {"None"}
    if how == "SIGTERM":
        run.send_signal(signal.SIGTERM)
    else:
        os.killpg(run.pid, signal.SIGINT)
    try:
        said, err = run.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        pytest.fail(f"the load did not end within 60 s of {how}: it waited for its readers")
    finally:
        left = [pid for pid in readers if _alive(pid)]
        for pid in left:  # do not leave them to the next test
            os.kill(pid, signal.SIGKILL)
    expected = (143, "torinvest: terminated (SIGTERM)") if how == "SIGTERM" else (130, "")
    assert run.returncode == expected[0], err
    assert (expected[1] or "torinvest: interrupted") in err
    assert "Traceback" not in err + said
    assert not left, f"readers {left} outlived the stopped load"
    assert not any(os.path.exists(folder) for folder in spill)
    assert not (tmp_path / "events.csv").exists()
