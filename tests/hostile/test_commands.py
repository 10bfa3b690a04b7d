"""Every command the kit suggests (printed, stored in summary.json, shown in a notebook) parses
back as printed, also when a value in it starts with ``-``: a user named ``--out=/tmp/x`` (IAM
allows ``+=,.@_-`` in names), a profile, a path. Options carry their values attached
(``--flag=value``), which torinvest's argparse and the AWS CLI both read as one value."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pandas as pd
import pytest

from torinvest import campaign, notebooks
from torinvest.actions.plan import Action
from torinvest.case import sample_case
from torinvest.cli import build_parser
from torinvest.cli.demo import next_steps
from torinvest.parameters import sources_from_parameters
from torinvest.report.batch import investigate_command
from torinvest.runner import verdict_command

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
WINDOW = (pd.Timestamp("2023-06-26T12:17:08Z"), pd.Timestamp("2023-07-17T12:20:04Z"))
#: values that look like options: argparse would take each for one, or refuse it (not "--"
#: alone: Python 3.11's argparse reads "--opt=--" as an empty list, whatever the form)
HOSTILE = ["--out=/tmp/x", "-h", "--username", "-", "-x y", "--x"]


def parsed(command: str) -> argparse.Namespace:
    """``command`` as a shell splits it, parsed by torinvest's own parser (a usage error fails
    the test: SystemExit)."""
    argv = shlex.split(command)
    assert argv[0] == "torinvest"
    return build_parser().parse_args(argv[1:])


@pytest.mark.parametrize("name", HOSTILE)
def test_the_ip_pivot_command_of_a_caller_named_like_an_option_parses_back(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "-logs"
    logs.mkdir()
    src = sources_from_parameters(case_dir=str(sample_case().root), logs=[str(logs)])
    command = campaign.command_for({"user_name": name}, src, WINDOW, {})
    args = parsed(command or "")
    assert args.command == "events" and args.username == name
    assert args.out == "events-by-username.parquet"
    assert args.case == [str(sample_case().root)]  # events --case is repeatable
    with_key = parsed(campaign.command_for({"access_key_id": KEY}, src, WINDOW, {}) or "")
    assert with_key.access_key == KEY and with_key.out == f"events-{KEY}.parquet"
    found = parsed(campaign.command_for({"access_key_id": KEY}, src, WINDOW, {KEY: FINDING}) or "")
    assert (found.command, found.finding_id) == ("investigate", FINDING)


@pytest.mark.parametrize("name", ["sess\n", "a\x1b[31mb", "x" * 129])
def test_no_ip_pivot_command_searches_a_user_name_events_refuses(name: str) -> None:
    """A caller known only by a user name ``events --username`` refuses (a control character,
    a trailing newline, too long: a forged record's) gets no command, not one failing with a
    usage error; a key beside it still gets its command."""
    src = sources_from_parameters(case_dir=str(sample_case().root))
    assert campaign.command_for({"user_name": name}, src, WINDOW, {}) is None
    row = {"user_name": name, "access_key_id": KEY}
    assert parsed(campaign.command_for(row, src, WINDOW, {}) or "").access_key == KEY


@pytest.mark.parametrize("value", HOSTILE)
def test_investigate_notebook_verdict_and_demo_commands_parse_back(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = parsed(investigate_command(FINDING, profile=value, out_dir=value))
    assert args.profile == value and args.out == str(Path(value) / f"finding-{FINDING}")
    args = parsed(investigate_command(FINDING, case_dir=value))
    assert args.case == value
    args = parsed(notebooks.notebook_command(FINDING, profile=value, out=tmp_path / "nb"))
    assert args.profile == value
    args = parsed(notebooks.notebook_command(None, case_dir=str(tmp_path / value)))
    assert args.triage and args.case == str((tmp_path / value).resolve())
    args = parsed(verdict_command(FINDING, "malicious", ledger=value))
    assert (args.status, args.ledger) == ("malicious", value)
    steps = [line.strip() for line in next_steps(FINDING, value).splitlines()]
    commands = [parsed(line) for line in steps if line.startswith("torinvest ")]
    assert [(a.command, a.case) for a in commands] == [("investigate", value), ("notebook", value)]


@pytest.mark.parametrize("user", ["-foo", "--out=/tmp/x", "=,.@_-+"])
def test_the_aws_cli_commands_of_a_plan_carry_each_value_attached(user: str) -> None:
    """``aws iam … --user-name -foo`` would be read by the AWS CLI as an option: each value is
    attached to its option with ``=`` (a JSON value too), and reads back whole."""
    action = Action(
        "iam",
        "PutUserPolicy",
        {"UserName": user, "PolicyName": "-p", "PolicyDocument": {"Version": "2012-10-17"}},
        why="deny",
        region="us-east-1",
    )
    argv = shlex.split(action.cli())
    assert argv[:3] == ["aws", "iam", "put-user-policy"]
    options = dict(token.split("=", 1) for token in argv[3:])  # every option holds its value
    assert options == {
        "--region": "us-east-1",
        "--user-name": user,
        "--policy-name": "-p",
        "--policy-document": '{"Version":"2012-10-17"}',
    }
