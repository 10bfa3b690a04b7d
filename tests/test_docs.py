"""The documentation links only what exists: every relative link and image in README.md and
docs/*.md names a file of the repository, and every #anchor a heading of the file it points to."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def links(path: Path) -> list[str]:
    """The link targets of a Markdown file (code blocks and code spans left out)."""
    text = _CODE.sub("", _FENCE.sub("", path.read_text(encoding="utf-8")))
    return _LINK.findall(text)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for heading in _HEADING.findall(text):
        plain = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", plain).replace(" ", "-")
        n, candidate = 0, slug
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_name_files_that_exist(doc: Path) -> None:
    broken = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, …
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists() or ROOT not in (path, *path.parents):
            broken.append(f"{target}: no such file in the repository")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert broken == []


def test_the_checker_sees_links_and_anchors(tmp_path: Path) -> None:
    """The link finder and GitHub's anchors, on the shapes the docs use."""
    doc = tmp_path / "x.md"
    doc.write_text(
        "# Organization scale: DuckDB and Athena\n## summary.json\n"
        '[a](docs/DESIGN.md) ![b](img/x.png "t") [c](#summaryjson) [d](https://e.org)\n'
        "`[not](a-link.md)`\n```\n[nor](this.md)\n```\n"
    )
    assert links(doc) == ["docs/DESIGN.md", "img/x.png", "#summaryjson", "https://e.org"]
    assert anchors(doc) == {"organization-scale-duckdb-and-athena", "summaryjson"}


#: ``torinvest WORD …`` in a code span or block where a shell would run it (first in the span
#: or line, after ``$``, ``bin/``, ``|``, ``&&``, ``;``, ``(`` or cron's ``*``; not prose such as
#: "where torinvest could look"): a command line, options up to the span's or line's end.
_COMMAND = re.compile(
    r"(?:^|(?<=`)|(?<=bin/)|(?<=[$|&;(*] ))\s*torinvest ([a-z][a-z-]*)([^`\n]*)", re.M
)
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def command_lines(path: Path) -> list[tuple[str, str]]:
    """``(command, rest of the line)`` of every ``torinvest …`` command in the code spans and
    code blocks of a Markdown file (prose that merely names torinvest is left out)."""
    text = path.read_text(encoding="utf-8")
    code = [m.group(0) for m in _FENCE.finditer(text)]
    code += [m.group(0) for m in _CODE.finditer(_FENCE.sub("", text))]
    return [(m.group(1), m.group(2)) for chunk in code for m in _COMMAND.finditer(chunk)]


def parser_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of ``parser`` and of its subcommands (``tor check``…)."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= parser_options(sub)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_and_options_exist(doc: Path) -> None:
    """A command the docs show (``torinvest answer`` was one) is a command of ``torinvest``, and
    each ``--option`` on its line is one of that command's: a user who copies it gets no
    'invalid choice' or 'unrecognized arguments'."""
    from torinvest.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    wrong = []
    for command, rest in command_lines(doc):
        if command not in commands.choices:
            wrong.append(f"torinvest {command}: no such command")
            continue
        known = parser_options(commands.choices[command])
        wrong += [f"torinvest {command} {o}: no such option" for o in _OPTION.findall(rest)
                  if o not in known]  # fmt: skip
    assert wrong == []


def test_the_command_finder_sees_commands_not_prose(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "run `torinvest answer` or `no finding where torinvest could look`\n"
        "```console\ntorinvest findings --json | head\n$ torinvest tor check 1.2.3.4 --at X\n"
        "*/15 * * * * torinvest investigate --all-open\nExecStart=/v/bin/torinvest post OUT\n"
        "Description=torinvest every 15 minutes\n```\n"
    )
    assert [c for c, _ in command_lines(doc)] == [
        "findings", "tor", "investigate", "post", "answer"
    ]  # fmt: skip


def test_the_readme_states_the_defaults_the_options_have() -> None:
    """The defaults the README gives are the ones ``torinvest/options.py`` defines (the window,
    the Tor tolerance, the size limit of a log file, the row limit of the SQL engines, the
    ranges of every numeric option)."""
    from torinvest import options

    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"`--lookback-days` (default {options.DEFAULT_LOOKBACK_DAYS})" in readme
    assert f"`--lookahead-days` (default {options.DEFAULT_LOOKAHEAD_DAYS})" in readme
    assert f"within the tolerance (default {options.DEFAULT_TOLERANCE_HOURS} h)" in readme
    assert f"more than **{options.DEFAULT_MAX_FILE_BYTES >> 20} MiB once decompressed**" in readme
    assert f"default {options.DEFAULT_MAX_ROWS:,} — about 1 GB" in readme
    assert f"cell timeout ({options.CELL_TIMEOUT // 60:g} minutes a cell;" in readme
    for name, allowed in options.NUMBER_RANGES.items():
        if name == "cell_timeout":  # no option (said above)
            continue
        said = rf"`--{name.replace('_', '-')}`(?:/`--[a-z-]+`)? {re.escape(allowed.span())}\b"
        assert re.search(said, readme), name


#: What a documented command's placeholders stand for when it is parsed: a finding ID, an
#: access key (``AKIA…``), an account in an ARN (``arn:aws:iam::ACCOUNT:role/ir``), a
#: ServiceNow record (``servicenow:incident:SYS_ID``).
_PLACEHOLDERS = {
    "FINDING_ID": "6dde0a8f8d46f6acad893b30f905e97c",
    "AKIA…": "AKIAIOSFODNN7EXAMPLE",
    "ASIA…": "ASIAIOSFODNN7EXAMPLE",
    "::ACCOUNT:": "::123456789012:",
    ":SYS_ID": ":0123456789abcdef0123456789abcdef",
}


def block_commands(path: Path) -> list[str]:
    """Every ``torinvest …`` command line of the code blocks of a Markdown file (a line
    continued with ``\\`` joined to the next), from ``torinvest`` to the end of the line."""
    text = path.read_text(encoding="utf-8")
    found = []
    for block in _FENCE.finditer(text):
        body = block.group(0).replace("\\\n", " ")
        found += [m.group(0).strip() for m in _COMMAND.finditer(body)]
    return found


def command_argv(line: str) -> list[str]:
    """The arguments a documented command line stands for: the comment and shell redirections
    dropped, optional parts (``[--force]``, ``[--out DIR]``) given, an elided ``…`` left out,
    placeholders made values (:data:`_PLACEHOLDERS`)."""
    import shlex

    for placeholder, value in _PLACEHOLDERS.items():
        line = line.replace(placeholder, value)
    line = re.sub(r"(?<=\s)…(?=\s|$)", "", line)  # "FINDING_ID … --out": options elided
    words = shlex.split(line, comments=True)[1:]  # after "torinvest"
    words = [w.strip("[]") for w in words if not re.match(r"^[0-9]*>", w)]
    return [w for w in words if w]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_command_lines_parse(doc: Path) -> None:
    """Each ``torinvest …`` line of a code block, pasted with its placeholders filled in, is
    accepted by torinvest's own parser and its argument checks (the options given together,
    the value of each, the positional arguments): no usage error, exit 2, for a documented
    example."""
    from torinvest.cli import build_parser
    from torinvest.cli.args import check_arguments
    from torinvest.errors import TorinvestError

    wrong = []
    for line in block_commands(doc):
        argv = command_argv(line)
        parser = build_parser()
        try:
            check_arguments(parser.parse_args(argv))
        except SystemExit:
            wrong.append(f"{line}: argparse refuses {argv}")
        except TorinvestError as e:
            wrong.append(f"{line}: {e}")
    assert wrong == []


def test_the_command_line_reader_fills_placeholders_and_drops_shell_syntax() -> None:
    line = ("torinvest investigate FINDING_ID … --out OUT [--force] [--out2 DIR]  # note\n").strip()
    assert command_argv(line) == [
        "investigate", "6dde0a8f8d46f6acad893b30f905e97c", "--out", "OUT", "--force", "--out2",
        "DIR",
    ]  # fmt: skip
    assert command_argv("torinvest findings --json >>/var/log/t.log 2>&1") == [
        "findings", "--json"
    ]  # fmt: skip
    commands = block_commands(ROOT / "README.md")
    assert len(commands) > 30 and any(c.startswith("torinvest tor check") for c in commands)
    assert any("--post-each securityhub --env-file" in c for c in commands)  # a continued line
