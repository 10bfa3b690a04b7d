"""The investigation's options are defined once (:mod:`torinvest.options`): the investigate
command, the notebook's parameters cell, the report's parameters and
``sources_from_parameters`` name the same options with the same defaults, and an option given
on the command line reaches what it is for (``--athena-table`` → the Athena query).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import shutil
from pathlib import Path
from typing import Any

import papermill
import pytest

from tests.fake_aws import AthenaRegion
from tests.sources.sql.helpers import Recorder, athena_results
from torinvest import report
from torinvest.aws.ids import access_key_id_shape, is_access_key_id
from torinvest.case import sample_case
from torinvest.cli import build_parser, main
from torinvest.cli.investigate import run_options
from torinvest.errors import InputError
from torinvest.impairment import WATCHED_CALLS
from torinvest.investigation import InvestigateParameters, investigate, sources_from_parameters
from torinvest.notebooks import DEFAULTS, INVESTIGATE, notebook_path
from torinvest.options import DEFAULT_MAX_ROWS, NUMBER_RANGES, EngineOptions, RunOptions
from torinvest.sources.sql import DuckDBEngine, load_sql, watched_sql

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
NOTEBOOK_PY = Path(__file__).parent.parent / "notebooks" / "investigate.py"
#: Notebook parameters that are not options of a run: the finding, and the report's files
#: (the findings the command fetched among them).
NOT_RUN_OPTIONS = {"finding_id", "summary_path", "export_dir", "fetched_findings"}
#: Run options that are not notebook parameters (how the report is run).
NOT_PARAMETERS = {"cell_timeout"}


def plain(value: Any) -> Any:
    """A default as the notebook writes it: None and "" alike, tuples as lists."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return list(value)
    return value


def parameter_defaults() -> dict[str, Any]:
    return {
        f.name: plain(f.default if f.default is not dataclasses.MISSING else f.default_factory())
        for f in dataclasses.fields(InvestigateParameters)
    }


def test_the_notebooks_parameters_cell_is_the_parameter_class() -> None:
    found = papermill.inspect_notebook(str(notebook_path(INVESTIGATE)))
    cell = {name: ast.literal_eval(p["default"]) for name, p in found.items()}
    assert cell == parameter_defaults() == dict(DEFAULTS[INVESTIGATE])
    assert {name: p["inferred_type_name"] for name, p in found.items()} == {
        f.name: str(f.type) for f in dataclasses.fields(InvestigateParameters)
    }


def test_run_options_are_the_notebook_parameters_with_the_same_defaults() -> None:
    options = {
        f.name: plain(getattr(RunOptions(), f.name))
        for f in dataclasses.fields(RunOptions)
        if f.name not in NOT_PARAMETERS
    }
    params = {k: v for k, v in parameter_defaults().items() if k not in NOT_RUN_OPTIONS}
    assert options == params


def test_the_report_passes_every_notebook_parameter(tmp_path: Path) -> None:
    given = report.parameters(FINDING, tmp_path, RunOptions())
    assert set(given) == set(parameter_defaults())
    checked = InvestigateParameters.check(given)  # each of the right type
    assert {k: v for k, v in dataclasses.asdict(checked).items() if k not in NOT_RUN_OPTIONS} == {
        k: v for k, v in parameter_defaults().items() if k not in NOT_RUN_OPTIONS
    }


def test_a_working_copy_carries_every_option_the_analyst_gave(tmp_path: Path) -> None:
    """``torinvest notebook``'s parameters: every run option that is a notebook parameter,
    except what the analyst decides in the notebook (the verdict) and the report's files."""
    from torinvest.notebooks import investigation_parameters

    decided = {
        "verdict_status",
        "analyst",
        "rationale",
        "suppress",
        "supersede",
        "finding_changed_ok",
        "summary_path",
        "export_dir",
    }
    # the fetched findings' file: only when the command fetched them (test_investigate)
    wanted = set(parameter_defaults()) - decided - {"finding_id", "case_dir", "fetched_findings"}
    changed = RunOptions(
        profile="p",
        regions="eu-west-1",
        role_arn="arn:aws:iam::111122223333:role/r",
        external_id="ext-1",
        logs=("L",),
        exit_lists=("E",),
        lookback_days=3,
        lookahead_days=3,
        tolerance_hours=3,
        follow_derived=False,
        ledger="F",
        engine="athena",
        athena_database="d",
        athena_table="t",
        athena_workgroup="w",
        athena_output="s3://o/",
        max_rows=5,
        max_file_mb=5,
        geoip=("G.mmdb",),
    )
    given = investigation_parameters(FINDING, changed)
    assert set(given) - {"finding_id"} == wanted, wanted ^ (set(given) - {"finding_id"})


def test_sources_from_parameters_takes_the_notebooks_source_options_and_defaults() -> None:
    defaults = parameter_defaults()
    signature = inspect.signature(sources_from_parameters).parameters
    for name, p in signature.items():
        assert name in defaults, f"{name} is not a notebook parameter"
        assert plain(p.default) in (defaults[name], ()) or (name, p.default) == (
            "logs",
            (),
        ), name
    # the notebook passes each of them (the parameter is not read and dropped)
    calls = [
        node
        for node in ast.walk(ast.parse(NOTEBOOK_PY.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "sources_from_parameters"
    ]
    (call,) = calls
    assert {k.arg for k in call.keywords} == set(signature)


#: Each run option, changed from its default on the command line.
OPTION_ARGV: dict[str, list[str]] = {
    "case_dir": ["--case", "DIR"],
    "profile": ["--profile", "p"],
    "regions": ["--regions", "eu-west-1"],
    "role_arn": ["--role-arn", "arn:aws:iam::111122223333:role/r"],
    "external_id": ["--role-arn", "arn:aws:iam::111122223333:role/r", "--external-id", "ext-1"],
    "logs": ["--logs", "L"],
    "exit_lists": ["--exit-list", "E"],
    "lookback_days": ["--lookback-days", "3"],
    "lookahead_days": ["--lookahead-days", "3"],
    "tolerance_hours": ["--tolerance-hours", "3"],
    "follow_derived": ["--no-follow-derived"],
    "verdict_status": ["--verdict", "malicious"],
    "analyst": ["--analyst", "a"],
    "rationale": ["--rationale", "r"],
    "suppress": ["--suppress"],
    "supersede": ["--verdict", "malicious", "--supersede"],
    "finding_changed_ok": ["--verdict", "malicious", "--finding-changed-ok"],
    "ledger": ["--ledger", "F"],
    "engine": ["--engine", "athena"],
    "athena_database": ["--athena-database", "d"],
    "athena_table": ["--athena-table", "t"],
    "athena_workgroup": ["--athena-workgroup", "w"],
    "athena_output": ["--athena-output", "s3://o/"],
    "max_rows": ["--max-rows", "5"],
    "max_file_mb": ["--max-file-mb", "5"],
    "geoip": ["--geoip", "G.mmdb"],
}


def test_every_run_option_has_its_investigate_argument_with_the_same_default() -> None:
    parser = build_parser()
    args = parser.parse_args(["investigate", FINDING, "--out", "x"])
    assert run_options(args) == RunOptions()
    changed = OPTION_ARGV
    assert set(changed) | NOT_PARAMETERS == {f.name for f in dataclasses.fields(RunOptions)}
    for name, argv in changed.items():
        got = run_options(parser.parse_args(["investigate", FINDING, "--out", "x", *argv]))
        assert getattr(got, name) != getattr(RunOptions(), name), name


#: The run options that name the investigation's sources and evidence (every command that
#: builds an investigation takes them alike: investigate, actions, verdict).
SOURCE_OPTIONS = {
    "case_dir", "profile", "regions", "role_arn", "external_id", "logs", "exit_lists", "lookback_days",
    "lookahead_days", "tolerance_hours", "follow_derived", "engine", "athena_database",
    "athena_table", "athena_workgroup", "athena_output", "max_rows", "max_file_mb", "geoip",
}  # fmt: skip
#: Each command that builds an investigation, as the parser takes it (with what it requires).
INVESTIGATING_COMMANDS = {
    "investigate": ["investigate", FINDING, "--out", "x"],
    "actions": ["actions", FINDING, "--plan", "remediate"],
    "verdict": ["verdict", FINDING, "--status", "malicious"],
}


def test_every_command_that_investigates_takes_the_same_source_options() -> None:
    """actions and verdict read the evidence as investigate does: each source option (--logs,
    --engine and its options, the window…) is accepted by all three and reaches the same run
    option, so that a hint naming one (\"--logs s3://…\") holds for each command."""
    from torinvest.cli.args import source_options

    parser = build_parser()
    argvs = {name: argv for name, argv in OPTION_ARGV.items() if name in SOURCE_OPTIONS}
    assert set(argvs) == SOURCE_OPTIONS
    for command, head in INVESTIGATING_COMMANDS.items():
        base = source_options(parser.parse_args(head))
        for name, argv in argvs.items():
            got = source_options(parser.parse_args([*head, *argv]))
            want = getattr(
                run_options(parser.parse_args([*INVESTIGATING_COMMANDS["investigate"], *argv])),
                name,
            )
            assert getattr(got, name) == want != getattr(base, name), (command, name)


def test_one_row_limit_default() -> None:
    from torinvest import events
    from torinvest.sources import sql

    assert events.DEFAULT_MAX_ROWS is sql.DEFAULT_MAX_ROWS is DEFAULT_MAX_ROWS
    assert EngineOptions().max_rows == RunOptions().max_rows == DEFAULT_MAX_ROWS


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("AKIAIOSFODNN7EXAMPLE", True),
        ("ASIATFQR7NSCNGEI5QNT", True),
        ("A" * 128, True),
        ("a" * 16, False),  # IAM's pattern is [\w]+, but AWS issues upper case and digits
        ("akiaiosfodnn7example", False),
        ("AKIA_IOSFODNN7EXAMPLE", False),
        ("A" * 15, False),
        ("A" * 129, False),
        ("AKIAIOSFODNN7EXAMPL\u00c9", False),  # \w is ASCII here
        ("AKIAIOSFODNN7EXAMPLE\n", False),
        ("AKIA-IOSFODNN7EXAMPLE", False),
        ("AKIA'; DROP TABLE x; --", False),
        (None, False),
    ],
)
def test_the_access_key_id_is_iams_shape_in_upper_case(value: object, valid: bool) -> None:
    shape = access_key_id_shape()
    assert (shape.min, shape.max, shape.pattern.pattern) == (16, 128, "[\\w]+")
    assert is_access_key_id(value) is valid


def test_investigate_athena_table_reaches_the_athena_query(
    fake_athena: AthenaRegion, tmp_path: Path
) -> None:
    """`--athena-table X` → RunOptions → the notebook's parameters → its checked parameters →
    sources_from_parameters → the query Athena is sent."""
    case = tmp_path / "case"
    shutil.copytree(sample_case().root / "findings", case / "findings")
    # Athena's answers: the investigation's queries, each with no row (as DuckDB gives them)
    recorder = Recorder(DuckDBEngine(sample_case().cloudtrail))
    recorder.count_first = True  # as Athena
    with recorder.engine:
        load_sql(
            recorder, access_keys=KEY, start="2000-01-01", end="2000-01-02", follow_derived=True
        )
        # anyone else's calls that impair logging: one more query (none there)
        watched_sql(recorder, WATCHED_CALLS, keys={KEY}, start="2000-01-01", end="2000-01-02")
    results = [athena_results(table, dict(query.columns)) for query, table in recorder.outputs]
    fake_athena.add_answers(*results)
    argv = ["investigate", FINDING, "--case", str(case), "--out", str(tmp_path / "out")]
    argv += ["--engine", "athena", "--athena-database", "security", "--athena-table", "org_trail"]
    argv += ["--max-rows", "0"]
    options = run_options(build_parser().parse_args(argv))
    params = InvestigateParameters.check(report.parameters(FINDING, tmp_path / "out", options))
    names = inspect.signature(sources_from_parameters).parameters
    sources = sources_from_parameters(**{n: getattr(params, n) for n in names})
    inv = investigate(FINDING, sources)
    client = sources.logs_aws.client("athena")  # type: ignore[union-attr]
    ids = client.list_query_executions()["QueryExecutionIds"]
    assert len(ids) == len(results)  # every query the recorder saw, and no other
    assert sorted(ids) == sorted(e.query_id for e in fake_athena.executions)
    for query_id in ids:
        sql = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Query"]
        assert '"org_trail"' in sql and "cloudtrail_logs" not in sql
    assert "athena:security.org_trail" in inv.activity.sources


# --------------------------------------------------------------------------------------------
# numeric options: one range each, checked alike by the CLI, the notebook and the report
# --------------------------------------------------------------------------------------------
#: Values no numeric option takes: not finite, or far beyond any sane bound.
NOT_SANE = ("nan", "inf", "-inf", "1e400", "1e12", "-1e12")


def numeric_arguments() -> list[tuple[list[str], str, str]]:
    """Every (subcommand path, --option, dest) of the CLI whose dest is a numeric option."""
    found: list[tuple[list[str], str, str]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
            elif action.type in (int, float):
                raise AssertionError(f"{' '.join(path)} {action.option_strings}: a bare number")
            elif action.dest in NUMBER_RANGES and action.option_strings:
                found.append((path, action.option_strings[-1], action.dest))

    walk(build_parser(), [])
    return found


def parse_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Parse a command line: (0, "") or argparse's exit status and message."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0), capsys.readouterr().err
    return 0, ""


def test_every_numeric_option_of_every_command_is_checked() -> None:
    found = numeric_arguments()
    assert {dest for _, _, dest in found} == set(NUMBER_RANGES) - {"cell_timeout"}
    commands = {(" ".join(path), option) for path, option, _ in found}
    assert {("investigate", "--lookback-days"), ("tor check", "--tolerance-hours")} <= commands
    assert ("events", "--max-workers") in commands


@pytest.mark.parametrize("value", NOT_SANE)
def test_no_numeric_option_takes_a_value_that_is_not_finite_or_sane(
    value: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for path, option, dest in numeric_arguments():
        code, err = parse_cli([*path, f"{option}={value}"], capsys)
        assert code == 2, (path, option, value)  # a usage error, before any work
        assert f"argument {option}: " in err and NUMBER_RANGES[dest].describe() in err, err
        # the notebook's check and the report's agree
        if dest in parameter_defaults():
            with pytest.raises(InputError, match=f"parameter {dest}: "):
                InvestigateParameters.check({dest: value})
            with pytest.raises(InputError, match=f"parameter {dest}: "):
                InvestigateParameters.check({dest: float(value)})
        if dest in {f.name for f in dataclasses.fields(RunOptions)}:
            options = RunOptions(case_dir=str(sample_case().root), **{dest: float(value)})
            with pytest.raises(InputError, match=f"--{dest.replace('_', '-')} "):
                report.validate(FINDING, tmp_path / "out", options)
    assert not (tmp_path / "out").exists()


def test_the_cli_and_the_notebook_take_the_same_range(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for path, option, dest in numeric_arguments():
        allowed = NUMBER_RANGES[dest]
        step = 1 if allowed.integer else 0.5
        for value, valid in (
            (allowed.low, True),
            (allowed.high, True),
            (allowed.low - step, False),
            (allowed.high + step, False),
        ):
            text = str(int(value)) if allowed.integer else str(value)
            code, _ = parse_cli([*path, f"{option}={text}"], capsys)
            # 0 or a later usage error (a missing argument), never the option's own
            assert (code == 0 or option not in capsys.readouterr().err) if valid else code == 2
            if dest in parameter_defaults():
                if valid:
                    InvestigateParameters.check({dest: text})
                else:
                    with pytest.raises(InputError, match=f"parameter {dest}: "):
                        InvestigateParameters.check({dest: text})


def test_investigate_refuses_a_window_beyond_its_bound_before_a_kernel(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    case = str(sample_case().root)
    for option in ("--lookback-days", "--lookahead-days", "--tolerance-hours"):
        for value in ("nan", "inf", "1e12"):
            argv = ["investigate", FINDING, "--case", case, "--out", str(tmp_path / "o")]
            with pytest.raises(SystemExit) as exited:
                main([*argv, f"{option}={value}"], out=out, err=err)
            assert exited.value.code == 2
    assert not (tmp_path / "o").exists()
    # the library refuses them too, with a clear InputError (not OutOfBoundsTimedelta)
    sources = sources_from_parameters(case_dir=case)
    with pytest.raises(InputError, match="parameter lookback_days: 1e\\+12 is more than 3,650"):
        investigate(FINDING, sources, lookback_days=1e12)
    with pytest.raises(InputError, match="parameter tolerance_hours: 'nan' is not a finite"):
        investigate(FINDING, sources, tolerance_hours=float("nan"))
