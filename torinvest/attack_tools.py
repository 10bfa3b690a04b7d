"""Known attack and enumeration tools by their user agent: a table shipped as data
(``data/attack_tools.csv``: tool, kind, match, pattern, weight, source, note — one cited source
per row), checked on load (:func:`load_attack_tools`), and matched against user agents
(:func:`match_agents`).

A user agent is attacker-written text: it is only ever searched, never used as a pattern. The
patterns are the table's own, matched literally (``re.escape``): ``contains`` is a
case-insensitive substring, ``word`` the same with no letter right before or after it (``kali``
in ``Linux/6.1.0-kali7-amd64`` or ``exe/x86_64.kali.2023``, not in another word). A tool that
sends a common user agent (Pacu replaces a Kali/Parrot/Pentoo one with a random browser's;
CloudFox sends the AWS SDK for Go's) cannot be told from it and is not in the table.
"""

from __future__ import annotations

import csv
import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from torinvest.errors import InputError

log = logging.getLogger(__name__)

ATTACK_TOOLS_FILE = "attack_tools.csv"
ATTACK_TOOL_COLUMNS: tuple[str, ...] = (
    "tool",
    "kind",
    "match",
    "pattern",
    "weight",
    "source",
    "note",
)
MATCH_KINDS: tuple[str, ...] = ("contains", "word")
#: Only this many characters of a user agent are searched (CloudTrail keeps the user agent up
#: to 1 KB; a hostile file may hold more).
MAX_AGENT_CHARS = 4096


@dataclass(frozen=True, slots=True)
class AttackTool:
    """One row of the table: ``pattern`` matched as ``match`` says; ``weight`` of the signal
    when a call carries it; ``source`` the URL that shows the tool sends it."""

    tool: str
    kind: str
    match: str
    pattern: str
    weight: int
    source: str
    note: str
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        literal = re.escape(self.pattern)
        if self.match == "word":
            literal = rf"(?<![a-z]){literal}(?![a-z])"
        object.__setattr__(self, "regex", re.compile(literal, re.IGNORECASE))


def _row(path: str, line: int, row: dict[str, str]) -> AttackTool:
    def bad(problem: str) -> InputError:
        return InputError(
            f"{path}:{line}: {problem}",
            hint=f"columns: {', '.join(ATTACK_TOOL_COLUMNS)}; match is one of "
            f"{', '.join(MATCH_KINDS)}; weight a whole number 0–100; source an https:// URL",
        )

    values = {c: (row.get(c) or "").strip() for c in ATTACK_TOOL_COLUMNS}
    for c in ("tool", "kind", "match", "pattern", "weight", "source"):
        if not values[c]:
            raise bad(f"empty {c}")
    if values["match"] not in MATCH_KINDS:
        raise bad(f"match {values['match']!r} is not one of {', '.join(MATCH_KINDS)}")
    if not values["weight"].isdigit() or not 0 <= int(values["weight"]) <= 100:
        raise bad(f"weight {values['weight']!r} is not a whole number 0–100")
    if not values["source"].startswith("https://"):
        raise bad(f"source {values['source']!r} is not an https:// URL")
    if len(values["pattern"]) < 4:
        raise bad(f"pattern {values['pattern']!r} is shorter than 4 characters")
    return AttackTool(**{**values, "weight": int(values["weight"])})  # type: ignore[arg-type]


def load_attack_tools(path: str | Path | None = None) -> tuple[AttackTool, ...]:
    """The table (``path``: an analyst's own CSV with the same columns; default: the shipped
    one). A bad row is an :class:`InputError` naming the file and line."""
    if path is None:
        return shipped_attack_tools()
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(
            f"cannot read the attack-tools table {p}: {e}", hint="pass a UTF-8 CSV file"
        ) from None
    return _parse(str(p), text)


def _parse(name: str, text: str) -> tuple[AttackTool, ...]:
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in ATTACK_TOOL_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(
            f"{name}: missing column(s) {', '.join(missing)}",
            hint=f"the header is {','.join(ATTACK_TOOL_COLUMNS)}",
        )
    return tuple(_row(name, i, row) for i, row in enumerate(reader, start=2))


@functools.cache
def shipped_attack_tools() -> tuple[AttackTool, ...]:
    """The table shipped in the package (``torinvest/data/attack_tools.csv``), loaded once."""
    text = resources.files("torinvest").joinpath("data", ATTACK_TOOLS_FILE).read_text("utf-8")
    return _parse(f"torinvest/data/{ATTACK_TOOLS_FILE}", text)


def match_agent(agent: object, tools: Sequence[AttackTool] | None = None) -> list[AttackTool]:
    """The tools whose pattern one user agent carries (table order); a value that is not text
    matches nothing."""
    if not isinstance(agent, str) or not agent:
        return []
    text = agent[:MAX_AGENT_CHARS]
    return [t for t in (shipped_attack_tools() if tools is None else tools) if t.regex.search(text)]


def match_agents(
    agents: Iterable[object], tools: Sequence[AttackTool] | None = None
) -> dict[str, list[AttackTool]]:
    """Each distinct user agent that matches a tool → the tools (agents matching none are left
    out)."""
    table = shipped_attack_tools() if tools is None else tuple(tools)
    out: dict[str, list[AttackTool]] = {}
    for agent in agents:
        if isinstance(agent, str) and agent not in out:
            hits = match_agent(agent, table)
            if hits:
                out[agent] = hits
    return out
