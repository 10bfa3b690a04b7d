"""``torinvest post`` and ``investigate --post`` through their argument parsers (the CLI adds
them with add_arguments / add_investigate_arguments), and the env file."""

from __future__ import annotations

import argparse
import io
import os
import shutil
from pathlib import Path

import pytest

from tests.fake_tickets import FakeJira, FakeServiceNow
from tests.post.conftest import SYS_ID, variables
from torinvest.errors import InputError, OptionsError, TorinvestError
from torinvest.post import PostRefusedError
from torinvest.post import command as post_command
from torinvest.post.base import PostConfigError
from torinvest.post.env import environment, read_env_file


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torinvest post")
    post_command.add_arguments(p)
    return p


def env_file(tmp_path: Path, values: dict[str, str]) -> Path:
    path = tmp_path / "post.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = post_command.run(parser().parse_args(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_post_prints_one_line_per_destination(
    jira: FakeJira, servicenow: FakeServiceNow, report_dir: Path, tmp_path: Path
) -> None:
    f = env_file(tmp_path, variables(jira, servicenow))
    argv = [
        str(report_dir),
        "--to",
        "jira:SEC-1",
        "--to",
        f"servicenow:incident:{SYS_ID}",
        "--env-file",
        str(f),
    ]
    code, out, err = run(argv)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("posted to jira:SEC-1: 2 file(s) attached")
    assert lines[1].startswith(f"posted to servicenow:incident:{SYS_ID}: 2 file(s) attached")
    assert lines[2] == f"record: {report_dir.resolve() / 'posts.json'}"
    assert "torinvest: posting to jira:SEC-1 …" in err

    code, out, _ = run(argv)
    assert code == 0 and out.startswith("already posted to jira:SEC-1 at ")


def test_a_post_stopped_half_way_says_what_was_posted_and_how_to_finish(
    jira: FakeJira,
    servicenow: FakeServiceNow,
    report_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C while the second destination uploads: the first one's line (it was posted) and
    the one stopped are said before the interruption goes on — before, nothing but
    "interrupted" was said, as if nothing had been posted — and posting again finishes it."""
    import torinvest.post.http as http

    real = http.Http._send

    def ctrl_c_at_servicenows_upload(self, method, url, **kw):  # type: ignore[no-untyped-def]
        if method.upper() == "POST" and "/api/now/attachment" in str(url):
            raise KeyboardInterrupt
        return real(self, method, url, **kw)

    f = env_file(tmp_path, variables(jira, servicenow))
    argv = [str(report_dir), "--to", "jira:SEC-1", "--to", f"servicenow:incident:{SYS_ID}"]
    argv += ["--env-file", str(f)]
    with monkeypatch.context() as m:
        m.setattr(http.Http, "_send", ctrl_c_at_servicenows_upload)
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(KeyboardInterrupt):
            post_command.run(parser().parse_args(argv), out, err)
    said = err.getvalue()
    assert "torinvest: posted to jira:SEC-1: 2 file(s) attached" in said
    assert f"torinvest: stopped while posting to servicenow:incident:{SYS_ID}: " in said
    assert "post again to finish it" in said
    assert len(jira.issues["SEC-1"]["comments"]) == 1

    code, out_again, _ = run(argv)
    assert code == 0
    assert out_again.startswith("already posted to jira:SEC-1 at ")
    assert f"posted to servicenow:incident:{SYS_ID}: 2 file(s) attached" in out_again
    assert len(jira.issues["SEC-1"]["comments"]) == 1


def test_with_csv_attaches_the_tables(jira: FakeJira, report_dir: Path, tmp_path: Path) -> None:
    f = env_file(tmp_path, variables(jira))
    assert run([str(report_dir), "--to", "jira:SEC-1", "--with-csv", "--env-file", str(f)])[0] == 0
    names = [a["filename"].rsplit("-", 2)[1] for a in jira.issues["SEC-1"]["attachments"]]
    assert names == ["report", "summary", "events", "per_ip"]


def test_some_failing_is_a_partial_result_exit_0(
    jira: FakeJira, servicenow: FakeServiceNow, report_dir: Path, tmp_path: Path
) -> None:
    f = env_file(tmp_path, variables(jira, servicenow))
    jira.fail("get_issue", 404, body='{"errorMessages": ["Issue does not exist"], "errors": {}}')
    code, out, err = run(
        [
            str(report_dir),
            "--to",
            "jira:SEC-1",
            "--to",
            f"servicenow:incident:{SYS_ID}",
            "--env-file",
            str(f),
        ]
    )
    assert code == 0
    assert "posted to servicenow" in out
    assert (
        "torinvest: issue: jira:SEC-1: look up issue SEC-1: not found (HTTP 404): Issue does not exist\n"
        in err
    )
    assert "torinvest: hint: check the issue key" in err
    assert "torinvest: note: partial result: 1 of 2 destination(s) not posted (jira:SEC-1)" in err


def test_all_failing_is_an_error(jira: FakeJira, report_dir: Path, tmp_path: Path) -> None:
    f = env_file(tmp_path, variables(jira) | {"JIRA_API_TOKEN": "wrong"})
    with pytest.raises(TorinvestError, match=r"nothing posted: 1 of 1 destination\(s\) failed"):
        run([str(report_dir), "--to", "jira:SEC-1", "--env-file", str(f)])


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["dir", "--to", "jira:sec"], "bad destination 'jira:sec': jira takes an issue key"),
        (["dir", "--to", "slack:#soc"], "unknown destination 'slack:#soc'"),
        (["dir"], "the following arguments are required: --to"),
    ],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    p = argparse.ArgumentParser(prog="torinvest post")
    post_command.add_arguments(p)
    with pytest.raises(SystemExit) as e:
        p.parse_args(argv)
    assert e.value.code == 2
    assert said in capsys.readouterr().err


def test_an_incomplete_report_is_an_error(jira: FakeJira, report_dir: Path, tmp_path: Path) -> None:
    (report_dir / "summary.json").unlink()
    f = env_file(tmp_path, variables(jira))
    with pytest.raises(PostRefusedError, match=r"summary\.json is missing"):
        run([str(report_dir), "--to", "jira:SEC-1", "--env-file", str(f)])
    assert jira.requests == []


# -- env file
def test_env_file_forms(tmp_path: Path) -> None:
    path = tmp_path / "e.env"
    path.write_text(
        "# a comment\n\nexport JIRA_URL=https://x.atlassian.net  # the site\n"
        "JIRA_API_TOKEN='a b#c$HOME'\n"
        'SERVICENOW_PASSWORD="q\\"uote\\\\d"\n'
        "EMPTY=\n"
    )
    assert read_env_file(path) == {
        "JIRA_URL": "https://x.atlassian.net",
        "JIRA_API_TOKEN": "a b#c$HOME",  # no expansion, no comment inside quotes
        "SERVICENOW_PASSWORD": 'q"uote\\d',
        "EMPTY": "",
    }


def test_env_file_overrides_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIRA_URL", "https://old.example.com")
    monkeypatch.setenv("JIRA_EMAIL", "kept@example.com")
    f = env_file(tmp_path, {"JIRA_URL": "https://new.example.com"})
    env = environment(f)
    assert env["JIRA_URL"] == "https://new.example.com" and env["JIRA_EMAIL"] == "kept@example.com"


def test_an_env_file_cannot_set_what_only_the_process_environment_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Proxies, CA bundles and AWS_* are read by httpx and boto3 from the process environment:
    in the env file (a cron job's, where the environment is bare) they were silently ignored —
    a post around the proxy, or with another AWS profile. Refused, naming them, not their
    values; the same value as the environment's is harmless."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    values = {
        "JIRA_URL": "https://x.example.com",
        "https_proxy": "http://svc:pr0xy-Pa55@proxy.corp:3128",
        "AWS_PROFILE": "ir",
        "AWS_REGION": "eu-west-1",  # as the environment has it: fine
    }
    with pytest.raises(InputError) as raised:
        environment(env_file(tmp_path, values))
    said = str(raised.value) + str(raised.value.hint)
    assert "sets AWS_PROFILE, https_proxy, which posting cannot take" in said
    assert "pr0xy-Pa55" not in said and "proxy.corp" not in said and "ir," not in said
    assert "systemd's Environment=" in said

    monkeypatch.setenv("AWS_PROFILE", "ir")
    monkeypatch.setenv("https_proxy", values["https_proxy"])
    assert environment(env_file(tmp_path, values))["JIRA_URL"] == "https://x.example.com"


@pytest.mark.parametrize(
    "line",
    ["JIRA_API_TOKEN 'sekrit-value-1'", "JIRA_API_TOKEN='sekrit-value-1", "9X=sekrit-value-1"],
)
def test_a_bad_env_line_names_the_line_not_its_content(tmp_path: Path, line: str) -> None:
    path = tmp_path / "e.env"
    path.write_text(f"JIRA_URL=https://x\n{line}\n")
    with pytest.raises(InputError) as e:
        read_env_file(path)
    assert f"{path}:2: not a KEY=VALUE line" in str(e.value)
    assert "sekrit-value-1" not in str(e.value)


def test_a_missing_env_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read the env file .*nope.env: No such file"):
        environment(tmp_path / "nope.env")


def test_an_env_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "e.env"
    path.write_text("A=1\n")
    os.chmod(path, 0o644)
    read_env_file(path)
    assert "can be read by other users (mode 644): chmod 600" in caplog.text


# -- investigate --post
def investigate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torinvest investigate")
    p.add_argument("--ledger")
    post_command.add_investigate_arguments(p)
    return p


def test_investigate_checks_the_destinations_before_it_runs(tmp_path: Path) -> None:
    f = env_file(tmp_path, {"JIRA_URL": "https://x.atlassian.net"})
    args = investigate_parser().parse_args(["--post", "jira:SEC-1", "--env-file", str(f)])
    with pytest.raises(PostConfigError, match="no Jira credentials"):
        post_command.check_investigate_post(args)
    with pytest.raises(OptionsError, match="--post-with-csv goes with --post"):
        post_command.check_investigate_post(investigate_parser().parse_args(["--post-with-csv"]))
    post_command.check_investigate_post(investigate_parser().parse_args([]))  # nothing asked


def test_investigate_posts_a_complete_report_only(
    jira: FakeJira, report_dir: Path, tmp_path: Path
) -> None:
    f = env_file(tmp_path, variables(jira))
    args = investigate_parser().parse_args(
        ["--post", "jira:SEC-1", "--env-file", str(f), "--ledger", str(tmp_path / "l.jsonl")]
    )
    post_command.check_investigate_post(args)
    out, err = io.StringIO(), io.StringIO()
    assert post_command.post_after_investigate(args, report_dir, out, err) == 0
    assert out.getvalue().startswith("posted to jira:SEC-1")

    (report_dir / "manifest.json").unlink()  # as a run that failed half-way leaves it
    with pytest.raises(PostRefusedError, match="not a complete report"):
        post_command.post_after_investigate(args, report_dir, out, err)
    assert len(jira.calls("comment")) == 1
    no_post = investigate_parser().parse_args([])
    assert post_command.post_after_investigate(no_post, report_dir, out, err) == 0


@pytest.mark.slow
def test_a_report_investigate_wrote_is_posted(
    jira: FakeJira, tmp_path: Path, sample_report: Path
) -> None:
    """The real thing: `investigate` on the sample case (the session's run, copied), then its
    folder posted (6 MB of HTML)."""
    out = tmp_path / "out"
    args = investigate_parser().parse_args(
        ["--post", "jira:SEC-1", "--env-file", str(env_file(tmp_path, variables(jira))),
         "--ledger", str(tmp_path / "l.jsonl")]
    )  # fmt: skip
    post_command.check_investigate_post(args)
    shutil.copytree(sample_report, out)
    o, e = io.StringIO(), io.StringIO()
    assert post_command.post_after_investigate(args, out, o, e) == 0
    issue = jira.issues["SEC-1"]
    assert [a["data"] for a in issue["attachments"]] == [
        (out / "report.html").read_bytes(),
        (out / "summary.json").read_bytes(),
    ]
    text = issue["comments"][0]["body"]["content"][0]["content"][0]["text"]
    assert "Tor: 24 of 71 call(s) from Tor exits" in text and jira.violations == []


def test_post_each_goes_with_all_open_and_is_checked_first(tmp_path: Path) -> None:
    p = investigate_parser()
    p.add_argument("--all-open", action="store_true")
    post_command.add_batch_arguments(p)
    with pytest.raises(OptionsError, match="--post-each goes with --all-open"):
        post_command.check_batch_post(p.parse_args(["--post-each", "jira-new:sec"]))
    args = p.parse_args(
        ["--all-open", "--post-each", "jira-new:sec", "--env-file", str(env_file(tmp_path, {}))]
    )
    assert [t.text for t in args.post_each] == ["jira-new:SEC"]
    with pytest.raises(PostConfigError, match="jira-new:SEC: JIRA_URL not set"):
        post_command.check_batch_post(args)
