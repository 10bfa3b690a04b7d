"""What the command imports before it does anything: only what the command run needs.

Each case runs the CLI in a process of its own and lists which of the heavy modules were
imported. The process is forked from an interpreter that has imported only the floor below
(pandas, pyarrow, boto3/botocore, numpy: none of them a watched module, which it checks) and
nothing of torinvest: what a case finds imported, the command imported. Importing the floor is
most of a fresh interpreter's cost, paid once per module instead of once per case. ``python -m``
still runs in a fresh interpreter. Not timed: the start-up time is a benchmark
(benchmarks/bench_startup.py).

Still imported by every command, on purpose: pandas, pyarrow, boto3/botocore (the floor the
``events`` command needs; ``--start``/``--end`` are parsed into pandas timestamps),
``torinvest.post.base`` (the destination syntax ``--to``/``--post`` check),
``torinvest.verdict`` (the statuses ``--status`` offers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from torinvest.case import sample_case
from torinvest.schema import iso_utc

#: Libraries no command needs to build its parser: notebooks and reports, HTTP posting, SQL
#: translation and engines, Tor list parsing.
HEAVY_LIBRARIES = (
    "sqlglot",
    "httpx",
    "papermill",
    "nbconvert",
    "nbformat",
    "plotly",
    "ipywidgets",
    "duckdb",
    "stem",
)
#: torinvest's modules that a command imports when it runs, never to parse its arguments.
HEAVY_MODULES = (
    "torinvest.investigation",
    "torinvest.actions",
    "torinvest.events",
    "torinvest.pivot",
    "torinvest.report",
    "torinvest.post.engine",
    "torinvest.sources.sql",
    "torinvest.sources.lookup",
    "torinvest.sources.logs",
    "torinvest.sources.records",
    "torinvest.tor",
    "torinvest.findings",
)

#: Run ``main(argv)`` (argv from the command line, as JSON), stdout and stderr captured, and
#: print the exit status and the watched modules that were imported, as JSON.
_PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys

    argv, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    from torinvest.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv, out=out, err=err)
        except SystemExit as e:  # --help
            code = e.code
    loaded = [m for m in watched if m in sys.modules]
    print(json.dumps({"code": code, "loaded": loaded, "out": out.getvalue(), "err": err.getvalue()}))
    """
)


#: The fork server: imports the floor every command imports (and no torinvest module), prints
#: which of the watched modules that loaded (none, or the cases would prove nothing), then for
#: each request line ``[code, args, env, cwd, out, err]`` forks a child that runs ``code`` as
#: ``python -c code *args`` would (in that environment and folder, its stdout and stderr in
#: the files ``out`` and ``err``) and answers the child's exit status on a line.
_SERVER = textwrap.dedent(
    """
    import atexit, json, os, sys, traceback

    import boto3, botocore.session, numpy, pandas, pyarrow  # the floor: no torinvest module

    print(json.dumps([m for m in json.loads(sys.argv[1]) if m in sys.modules]), flush=True)
    for line in sys.stdin:
        code, args, env, cwd, out, err = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: `python -c code *args`, from here on
            status = 1
            try:
                for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, out, os.O_WRONLY),
                                       (2, err, os.O_WRONLY)):
                    os.dup2(os.open(path, mode | (os.O_CREAT if fd else 0), 0o600), fd)
                os.environ.clear()
                os.environ.update(env)
                os.chdir(cwd)
                sys.argv = ["-c", *args]
                try:
                    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
                    status = 0
                except SystemExit as e:
                    status = e.code if isinstance(e.code, int) else (e.code is not None)
                atexit._run_exitfuncs()
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        print(json.dumps(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])), flush=True)
    """
)


class ForkServer:
    """Runs ``python -c CODE ARGS…`` in a child forked from :data:`_SERVER`."""

    def __init__(self, watched: tuple[str, ...], scratch: Path) -> None:
        self.scratch = scratch
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, json.dumps(watched)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        #: the watched modules the floor imported
        self.floor = json.loads(self.proc.stdout.readline())
        self.runs = 0

    def run(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        """What ``subprocess.run([python, "-c", code, *args])`` would give, from a fork."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.runs += 1
        out, err = self.scratch / f"{self.runs}.out", self.scratch / f"{self.runs}.err"
        request = [code, list(args), dict(os.environ), os.getcwd(), str(out), str(err)]
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, f"the fork server ended (status {self.proc.poll()})"
        done = subprocess.CompletedProcess(
            [sys.executable, "-c", code, *args],
            json.loads(answer),
            out.read_text(encoding="utf-8", errors="replace") if out.exists() else "",
            err.read_text(encoding="utf-8", errors="replace") if err.exists() else "",
        )
        return done

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def forks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """One fork server for the module's cases; the floor it imports loads no watched module."""
    server = ForkServer((*HEAVY_LIBRARIES, *HEAVY_MODULES), tmp_path_factory.mktemp("forks"))
    try:
        assert server.floor == [], f"importing the floor loaded watched modules: {server.floor}"
        yield server
    finally:
        server.close()


def _run(forks: ForkServer, argv: list[str], watched: tuple[str, ...]) -> dict[str, object]:
    proc = forks.run(_PROBE, json.dumps(argv), json.dumps(watched))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_and_parser_import_no_heavy_module(forks: ForkServer) -> None:
    """``import torinvest.cli`` and building every command's parser import none of them."""
    watched = (*HEAVY_LIBRARIES, *HEAVY_MODULES)
    probe = textwrap.dedent(
        """
        import json, sys
        import torinvest.cli

        torinvest.cli.build_parser()
        print(json.dumps([m for m in json.loads(sys.argv[1]) if m in sys.modules]))
        """
    )
    proc = forks.run(probe, json.dumps(watched))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_the_notebook_templates_check_imports_no_heavy_module(forks: ForkServer) -> None:
    """``tools/check_notebooks.py`` (``make lint``, CI, pre-commit) reads the templates'
    parameters through :mod:`torinvest.notebooks` (``DEFAULTS``, ``template_problems``): that
    imports the parameter classes, not the investigation, the analysis or the sources."""
    watched = (*HEAVY_LIBRARIES, *HEAVY_MODULES)
    probe = textwrap.dedent(
        """
        import json, sys
        from torinvest.notebooks import DEFAULTS, template_problems

        print(json.dumps([m for m in json.loads(sys.argv[1]) if m in sys.modules]))
        """
    )
    proc = forks.run(probe, json.dumps(watched))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_a_scheduled_runs_report_worker_imports_no_heavy_module(forks: ForkServer) -> None:
    """A report worker of ``torinvest post``'s pool is spawned: it imports what it unpickles,
    :func:`torinvest.post.state.investigate_one` — not the investigation, the report or the
    sources with it (its ``investigate`` imports what it needs)."""
    watched = (*HEAVY_LIBRARIES, *HEAVY_MODULES)
    probe = textwrap.dedent(
        """
        import json, pickle, sys
        from torinvest.post import state

        pickle.loads(pickle.dumps(state.investigate_one))
        print(json.dumps([m for m in json.loads(sys.argv[1]) if m in sys.modules]))
        """
    )
    proc = forks.run(probe, json.dumps(watched))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["events", "--help"],
        ["investigate", "--help"],
        ["post", "--help"],
        ["actions", "--help"],
        ["verdicts", "--ledger", "/nonexistent/torinvest-ledger.jsonl"],
        ["investigate", "x", "--out", "o", "--post", "nowhere:1"],  # a usage error (exit 2)
    ],
    ids=[
        "help",
        "events-help",
        "investigate-help",
        "post-help",
        "actions-help",
        "verdicts",
        "usage",
    ],
)
def test_help_and_light_commands_import_no_heavy_module(argv: list[str], forks: ForkServer) -> None:
    result = _run(forks, argv, (*HEAVY_LIBRARIES, *HEAVY_MODULES))
    assert result["code"] in (0, 2)
    assert result["loaded"] == []
    if argv[-1] == "--help":
        assert "usage: torinvest" in str(result["out"])


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_events_imports_no_report_post_or_sql_translation(
    engine: str, tmp_path: Path, forks: ForkServer
) -> None:
    """``torinvest events`` on the sample case writes its file without importing notebooks,
    charts, HTTP posting, the investigation or SQL translation (sqlglot: Athena only)."""
    out = tmp_path / "events.parquet"
    argv = ["events", "--case", str(sample_case().root), "--engine", engine, "--out", str(out)]
    watched = (
        "sqlglot",
        "httpx",
        "papermill",
        "nbconvert",
        "nbformat",
        "plotly",
        "ipywidgets",
        "stem",
        "torinvest.investigation",
        "torinvest.report",
        "torinvest.post.engine",
        "torinvest.actions",
        "duckdb",
    )
    result = _run(forks, argv, watched)
    assert result["code"] == 0, result["err"]
    assert "2,928 events" in str(result["out"]) and out.stat().st_size > 0
    assert result["loaded"] == (["duckdb"] if engine == "duckdb" else [])


def test_athena_sql_still_translated(tmp_path: Path, forks: ForkServer) -> None:
    """The translation imports sqlglot when it is made: ``--print-sql`` for Athena is Trino."""
    argv = [
        "events",
        "--engine",
        "athena",
        "--athena-database",
        "db",
        "--access-key",
        "AKIAIOSFODNN7EXAMPLE",
        "--start",
        "2023-07-10",
        "--end",
        "2023-07-11",
        "--print-sql",
        "--out",
        str(tmp_path / "x.parquet"),
    ]
    result = _run(forks, argv, ("sqlglot",))
    assert result["code"] == 0, result["err"]
    assert result["loaded"] == ["sqlglot"]
    assert "from_iso8601_timestamp" in str(result["out"]).lower()


@pytest.mark.parametrize("module", ["torinvest", "torinvest.cli"])
def test_python_dash_m_runs_the_command(module: str, tmp_path: Path) -> None:
    """``python -m torinvest`` (and ``-m torinvest.cli``) is the ``torinvest`` command, where
    the scripts folder is not on PATH: its errors and exit statuses too."""
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = [sys.executable, "-m", module]
    done = subprocess.run([*run, "--version"], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout.split()[0]) == (0, "torinvest"), done.stderr
    done = subprocess.run(
        [*run, "findings", "--case", str(tmp_path / "nope")],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1 and done.stderr.startswith("torinvest: error: case folder")


def test_events_lookup_imports_no_log_reader_or_sql_engine(
    fake_aws: FakeAws, moto: str, tmp_path: Path, forks: ForkServer
) -> None:
    """``torinvest events --lookup`` reads no log file: it writes its file without importing
    the log files' reader or the SQL engines (0.25–0.8 s of its start before the first
    request, on a machine loaded 0–5× over its cores), nor notebooks, charts or posting."""
    now = pd.Timestamp.now(tz="UTC").floor("s") - pd.Timedelta(days=2)
    key = "AKIATFQR7NSCUXC3DDDP"
    fake_aws.cloudtrail("eu-west-1").add_records(
        [
            {
                "eventVersion": "1.08",
                "eventID": f"id-{i}",
                "eventTime": iso_utc(now + pd.Timedelta(minutes=i)),
                "eventName": "ListBuckets",
                "eventSource": "s3.amazonaws.com",
                "awsRegion": "eu-west-1",
                "sourceIPAddress": "185.220.101.34",
                "userIdentity": {"type": "IAMUser", "accessKeyId": key},
            }
            for i in range(3)
        ]
    )
    fake_aws.set_lookup_rate(None)
    out = tmp_path / "events.parquet"
    argv = ["events", "--lookup", "--regions", "eu-west-1", "--access-key", key]
    argv += ["--start", iso_utc(now - pd.Timedelta(hours=1)), "--end", iso_utc(now)[:10]]
    argv += ["--no-cache", "--out", str(out)]
    watched = (*HEAVY_LIBRARIES, *HEAVY_MODULES)
    result = _run(forks, argv, watched)
    assert result["code"] == 0, result["err"]
    assert "3 events" in str(result["out"]) and out.stat().st_size > 0
    needed = ["torinvest.events", "torinvest.sources.lookup", "torinvest.sources.records"]
    assert result["loaded"] == needed  # of HEAVY_MODULES; none of HEAVY_LIBRARIES


#: ``torinvest investigate`` on the sample case, stopped as its kernel is launched (the launch
#: raises KeyboardInterrupt: no kernel starts, the command ends as after Ctrl-C): prints the exit
#: status and which watched modules were imported by then, as JSON.
_AT_KERNEL_LAUNCH = textwrap.dedent(
    """
    import contextlib, io, json, sys

    argv, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    from torinvest.cli import main
    from torinvest.report import kernel

    made, seen = kernel.kernel_manager_class, []

    def stopping(said=None):
        class Stopping(made(said)):
            async def _async_launch_kernel(self, kernel_cmd, **kw):
                seen.append([m for m in watched if m in sys.modules])
                raise KeyboardInterrupt

        return Stopping

    kernel.kernel_manager_class = stopping
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, out=out, err=err)
    print(json.dumps({"code": code, "seen": seen, "err": err.getvalue()}))
    """
)


def test_investigate_launches_its_kernel_before_papermill_is_imported(
    tmp_path: Path, forks: ForkServer
) -> None:
    """The report's kernel is launched before the command imports papermill and nbclient and
    reads the notebook with them: it comes up (the interpreter, ipykernel: 1-2 s) while they
    load, not after."""
    argv = ["investigate", "6dde0a8f8d46f6acad893b30f905e97c", "--case", str(sample_case().root)]
    argv += ["--out", str(tmp_path / "r"), "--ledger", str(tmp_path / "l.jsonl")]
    watched = ("papermill", "nbclient", "nbconvert")
    proc = forks.run(_AT_KERNEL_LAUNCH, json.dumps(argv), json.dumps(watched))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 130, result["err"]  # stopped at the launch, as by Ctrl-C
    assert result["seen"] == [[]], result["err"]  # launched once, none of them imported yet
