"""The investigation's options are defined once (:mod:`torinvest.options`): the investigate
command, the notebook's parameters cell, the report's parameters and
``sources_from_parameters`` name the same options with the same defaults, and an option given
on the command line reaches what it is for (``--athena-table`` → the Athena query).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import shutil
from pathlib import Path
from typing import Any

import papermill
import pytest

from tests.sources.sql.helpers import Recorder, athena_results, moto_post
from torinvest import report
from torinvest.aws.ids import access_key_id_shape, is_access_key_id
from torinvest.case import sample_case
from torinvest.cli import build_parser
from torinvest.cli.investigate import run_options
from torinvest.investigation import InvestigateParameters, investigate, sources_from_parameters
from torinvest.notebooks import DEFAULTS, INVESTIGATE, notebook_path
from torinvest.options import DEFAULT_MAX_ROWS, EngineOptions, RunOptions
from torinvest.sources.sql import DuckDBEngine, load_sql

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
NOTEBOOK_PY = Path(__file__).parent.parent / "notebooks" / "investigate.py"
#: Notebook parameters that are not options of a run: the finding, and the report's files.
NOT_RUN_OPTIONS = {"finding_id", "summary_path", "export_dir"}
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

    decided = {"verdict_status", "analyst", "rationale", "suppress", "summary_path", "export_dir"}
    wanted = set(parameter_defaults()) - decided - {"finding_id", "case_dir"}
    changed = RunOptions(
        profile="p",
        regions="eu-west-1",
        role_arn="arn:aws:iam::111122223333:role/r",
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


def test_every_run_option_has_its_investigate_argument_with_the_same_default() -> None:
    parser = build_parser()
    args = parser.parse_args(["investigate", FINDING, "--out", "x"])
    assert run_options(args) == RunOptions()
    changed = {
        "case_dir": ["--case", "DIR"],
        "profile": ["--profile", "p"],
        "regions": ["--regions", "eu-west-1"],
        "role_arn": ["--role-arn", "arn:aws:iam::111122223333:role/r"],
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
    assert set(changed) | NOT_PARAMETERS == {f.name for f in dataclasses.fields(RunOptions)}
    for name, argv in changed.items():
        got = run_options(parser.parse_args(["investigate", FINDING, "--out", "x", *argv]))
        assert getattr(got, name) != getattr(RunOptions(), name), name


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


def test_investigate_athena_table_reaches_the_athena_query(moto: str, tmp_path: Path) -> None:
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
    results = [athena_results(table, dict(query.columns)) for query, table in recorder.outputs]
    moto_post(f"{moto}/moto-api/static/athena/query-results", {"results": results})
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
    assert ids
    for query_id in ids:
        sql = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Query"]
        assert '"org_trail"' in sql and "cloudtrail_logs" not in sql
    assert "athena:security.org_trail" in inv.activity.sources
