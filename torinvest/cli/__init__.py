"""The ``torinvest`` command.

Exit status: 0 when the command produced its result (data issues, if any, are printed on
stderr, and a partial answer says so on a ``torinvest: note: partial result:`` line); when it
could not, the status of the error that stopped it (``exit_status``, set per error class in
:mod:`torinvest.errors`: 3 could not look, 4 not found, 5 refused, 6 a run that failed, 7 busy,
1 anything else), with one ``torinvest: error:`` line saying why and what to do; 2 for a usage
error; 141 when the reader of its output went away (``| head -1``), silently, as coreutils
commands do. An unexpected exception (a bug) is one line, ``torinvest: error: internal error:
…`` (exit 1); ``-v`` prints its traceback.

``main`` parses the arguments, then each command calls the library once (papermill's cli is the
model): one module per command, each with ``add_parser`` (its arguments) and ``cmd_*`` (the
call and what it prints)::

    findings     torinvest findings       the Tor findings and the key each names
    events       torinvest events         a key's CloudTrail activity as one frame
    demo         torinvest demo           the sample case's findings
    investigate  torinvest investigate    the report of a finding (or of every open one)
    notebook     torinvest notebook       a working copy of a notebook for JupyterLab
    verdicts     torinvest verdict(s)     record a verdict; list them
    actions      torinvest actions        the archive or remediation plan (dry run unless --execute)
    post         torinvest post           a report posted to Jira, ServiceNow, Security IR, Hub
    athena_ddl   torinvest athena-ddl     the CREATE TABLE of a trail's bucket
    tor          torinvest tor            refresh the exit lists, check an IP

Beside them: ``args`` (argument groups shared by several commands, their value parsers, and the
AWS access, engine and sources they name) and ``output`` (:func:`print_issues`, the one place
that prints data issues). Rules belong in the library, where notebooks and tests reach them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from torinvest import __version__
from torinvest.aws import check_profile
from torinvest.aws.session import CONNECT_TIMEOUT_ENV
from torinvest.children import Terminated, sigterm_interrupts
from torinvest.cli import (
    actions,
    athena_ddl,
    demo,
    events,
    findings,
    investigate,
    notebook,
    post,
    tor,
    verdicts,
)
from torinvest.cli.actions import cmd_actions
from torinvest.cli.args import (
    LEDGER_HELP,
    UsageError,
    aws_from_args,
    check_arguments,
    engine_from_args,
)
from torinvest.cli.athena_ddl import cmd_athena_ddl
from torinvest.cli.demo import cmd_demo
from torinvest.cli.events import cmd_events
from torinvest.cli.findings import (
    FINDING_JSON_KEYS,
    cmd_findings,
    format_table,
    load_findings,
    located_records,
    print_gap,
    print_notes,
)
from torinvest.cli.investigate import cmd_investigate, run_options
from torinvest.cli.notebook import cmd_notebook
from torinvest.cli.output import print_issues
from torinvest.cli.tor import cmd_tor_check, cmd_tor_refresh
from torinvest.cli.verdicts import cmd_verdict, cmd_verdicts, format_verdicts
from torinvest.errors import (
    EXIT_ERROR,
    CouldNotLookError,
    DataIssue,
    TorinvestError,
    same_problem,
)
from torinvest.progress import said_to
from torinvest.safety import term_safe
from torinvest.stopping import stop_on_signals

#: The commands, in the order ``torinvest --help`` lists them.
COMMANDS = (
    findings, events, demo, investigate, notebook, verdicts, actions, post, athena_ddl, tor
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torinvest",
        allow_abbrev=False,
        description="Investigate GuardDuty TorIPCaller findings: locate the key, pull its "
        "CloudTrail activity, chart it by source IP, record a verdict.",
    )
    parser.add_argument("--version", action="version", version=f"torinvest {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    for command_parser in sub.choices.values():
        _store_once(command_parser)
    return parser


class _StoreOnce(argparse._StoreAction):
    """An option that takes one value: given twice is a usage error naming it (argparse keeps
    the last silently — a second ``--case`` or ``--regions`` replaced the first)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given = namespace.__dict__.setdefault("_given_once", set())
        if self.dest in given:
            parser.error(
                f"{'/'.join(self.option_strings)} given more than once (it takes one value; "
                "say it once)"
            )
        given.add(self.dest)
        super().__call__(parser, namespace, values, option_string)


def _store_once(parser: argparse.ArgumentParser) -> None:
    """Make every single-valued option of ``parser`` and its subcommands a :class:`_StoreOnce`
    (repeatable options say so: ``action="append"``), and take options only as spelled in full.

    argparse takes any unambiguous prefix of an option by default: ``--finding ID --verdict
    malicious`` read as ``--finding-changed-ok`` (a safety check switched off) beside the finding
    ID, and an option added later would change what an old prefix means. A prefix is an
    unrecognized argument instead (a usage error, exit 2)."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if type(action) is argparse._StoreAction and action.option_strings:
            action.__class__ = _StoreOnce
        elif isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _store_once(child)


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _timeout_of(args: argparse.Namespace) -> Iterator[None]:
    """``--connect-timeout`` for every client of the command, the notebooks' kernels too (they
    inherit the environment); the variable as it was afterwards (``main`` may run again in
    the same process: a notebook, the tests)."""
    value = getattr(args, "connect_timeout", None)
    if value is None:
        yield
        return
    before = os.environ.get(CONNECT_TIMEOUT_ENV)
    os.environ[CONNECT_TIMEOUT_ENV] = f"{value:g}"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CONNECT_TIMEOUT_ENV, None)
        else:
            os.environ[CONNECT_TIMEOUT_ENV] = before


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command ``argv`` names (None: the process's command line) and return its exit
    status (module docstring).

    Run as the program (``argv`` None: the ``torinvest`` script, ``python -m torinvest``), the
    objects the process holds are moved out of the garbage collector's reach
    (:func:`gc.freeze`) twice: once its arguments are parsed — the modules imported by then
    (pandas, pyarrow, botocore: some 80,000 objects of 110,000) live until the exit, and each
    full collection of the command's own work no longer traverses them (0.35–0.45 s a
    collection on a loaded machine, 0.05–0.2 s after) — and as it ends, so that the
    interpreter's exit skips them in its last collections (measured: 0.3–1.0 s of a run's exit,
    counted in every command's time, ``events --lookup`` against the rate limit included).
    Called with ``argv`` (the tests, a notebook), the collector is left as it was."""
    try:
        return _main(argv, out=out, err=err)
    finally:
        if argv is None:
            gc.freeze()


def _main(argv: Sequence[str] | None, *, out: TextIO | None, err: TextIO | None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:  # `torinvest --help | head -1`
        return _closed_pipe(out)
    if argv is None:  # the program: what it imported to get here lives until its exit (main)
        gc.freeze()
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="torinvest: %(levelname)s: %(name)s: %(message)s",
        stream=err,
    )
    if args.verbose < 2:  # a stopped report leaves the kernel client's tasks failed: noise
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        # papermill logs a kernel that died starting as ERROR, also when another kernel then
        # runs the report (torinvest.report.kernel); a report that fails is said by torinvest
        logging.getLogger("papermill").setLevel(logging.CRITICAL)
    try:
        try:
            check_arguments(args)  # the values no argparse type can check, in every command
            if getattr(args, "profile", None):
                check_profile(args.profile)  # a mistyped profile fails now, whatever the command
            # kill PID, a timeout, systemctl stop: Ctrl-C's way out; both stop worker threads too
            # long work says where it is on stderr, also off a terminal (torinvest.progress)
            with stop_on_signals(), sigterm_interrupts(), said_to(err), _timeout_of(args):
                code = int(args.func(args, out, err) or 0)
        except BaseException:  # whatever stopped the command: what it leaves is said first
            if getattr(args, "on_failure", None) is not None:
                args.on_failure(args, err)
            raise
        out.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except TorinvestError as e:  # its class says which failure: the exit status says it too
        if isinstance(e, CouldNotLookError) and _differ(e.issues):
            print_issues(e.issues, err)
        print(f"torinvest: error: {term_safe(e)}", file=err)
        return e.exit_status  # options that cannot go together (UsageError among them): 2
    except Terminated as e:
        print(f"torinvest: terminated (SIGTERM){_stopped_said(e)}", file=err)
        return TERMINATED_STATUS
    except KeyboardInterrupt as e:
        print(f"torinvest: interrupted{_stopped_said(e)}", file=err)
        return 130
    except BrokenPipeError:
        return _closed_pipe(out)
    except Exception as e:  # the last line of defence: a bug, said in one line
        return _internal_error(e, args, err)


def _stopped_said(stop: KeyboardInterrupt) -> str:
    """What the interrupted command says it did and did not do (the notes a command added to
    the interruption: ``actions --execute`` says what it changed), after a colon; "" when none."""
    notes = [str(n) for n in getattr(stop, "__notes__", None) or ()]
    return f": {term_safe('; '.join(notes))}" if notes else ""


def _differ(issues: Sequence[DataIssue]) -> bool:
    """Whether the issues say more than their first one (not N times the same problem)."""
    return len(issues) > 1 and not same_problem(issues)


#: Exit status after SIGTERM: what a command killed by it reports (128 + 15).
TERMINATED_STATUS = 143
#: Exit status when the reader of the output went away (``torinvest … | head -1``): what a
#: coreutils command killed by SIGPIPE reports (128 + 13), without a message.
BROKEN_PIPE_STATUS = 141


def _closed_pipe(out: TextIO) -> int:
    """The reader closed the pipe: stop quietly. stdout is pointed at /dev/null so that the
    interpreter's last flush of what was buffered fails silently too."""
    if out is sys.stdout:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # pragma: no cover - no file descriptor to redirect
            pass
    return BROKEN_PIPE_STATUS


def _internal_error(error: Exception, args: argparse.Namespace, err: TextIO) -> int:
    """An unexpected exception: one line (and the traceback with -v), exit status 1."""
    if args.verbose:
        traceback.print_exception(error, file=err)
    first = (str(error).strip().splitlines() or [""])[0]
    print(
        f"torinvest: error: internal error: {type(error).__name__}: {term_safe(first, limit=300)} "
        "(this is a bug; run with -v to see the traceback)",
        file=err,
    )
    return EXIT_ERROR


__all__ = [
    "BROKEN_PIPE_STATUS",
    "COMMANDS",
    "FINDING_JSON_KEYS",
    "LEDGER_HELP",
    "UsageError",
    "aws_from_args",
    "build_parser",
    "cmd_actions",
    "cmd_athena_ddl",
    "cmd_demo",
    "cmd_events",
    "cmd_findings",
    "cmd_investigate",
    "cmd_notebook",
    "cmd_tor_check",
    "cmd_tor_refresh",
    "cmd_verdict",
    "cmd_verdicts",
    "engine_from_args",
    "format_table",
    "format_verdicts",
    "load_findings",
    "located_records",
    "main",
    "print_gap",
    "print_issues",
    "print_notes",
    "run_options",
]
