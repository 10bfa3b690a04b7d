"""Attacker-written text is data: helpers that keep it inert in terminals, CSV and HTML.

CloudTrail ``userAgent``, ``requestParameters``, user and role names, and anything read from a
findings file can be written by the attacker. Every place that shows such text goes through one
of these functions.
"""

from __future__ import annotations

import html
import re
import shlex
import unicodedata
from collections.abc import Iterable

#: Characters that can hide or reorder text: bidi embeddings, overrides, isolates and marks,
#: zero-width and invisible format characters (the soft hyphen, interlinear annotation marks,
#: the tag characters U+E0000–E007F that spell hidden ASCII), line and paragraph separators.
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
    "\ufff9-\ufffb\U000e0000-\U000e007f"
)
#: Every character a terminal or a page must show escaped: C0 (but tab and newline) and C1
#: controls (ESC, BEL, NEL…), and :data:`_INVISIBLE`.
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}]")
#: The same, and newline and tab too: as a regular expression's text (for ``Series.str``).
UNSEEN = f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]"
#: What a JSON serializer leaves raw (it escapes C0 controls already) that :data:`_CONTROL`
#: shows escaped: DEL, C1 controls and :data:`_INVISIBLE`.
_JSON_RAW_UNSEEN = re.compile(f"[\x7f-\x9f{_INVISIBLE}]")
#: First characters that make a spreadsheet read a cell as a formula (ASCII, full-width and the
#: small forms that NFKC-normalize to them).
_FORMULA_TRIGGERS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63")


def term_safe(value: object, *, limit: int | None = None) -> str:
    """Text for a terminal: control characters, ANSI escapes and bidi overrides shown escaped."""
    text = "" if value is None else str(value)
    text = _escape_unseen(text).replace("\n", "\\n")
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def visible_text(value: object) -> str:
    """Text with every :data:`_CONTROL` character as its Python escape (``\\x1b``, ``\\r``,
    ``\\u202e``) — newlines and tabs kept: a CSV cell as the report shows it, which neither
    ``cat`` on a terminal (an ESC sequence could erase the rows above it, a CR overwrite its
    row) nor a spreadsheet (a bidi override reorders a cell) lets act."""
    return _escape_unseen("" if value is None else str(value))


#: The characters :func:`csv_escape` writes as escapes (:data:`_CONTROL`'s, as a character
#: class's text), and the backslash it doubles: one before ``\\``, ``x``, ``u``, ``U``, ``r``
#: or one of those characters, the texts :func:`csv_unescape` reads as escapes.
_CONTROL_CLASS = f"\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}"
_CSV_ESCAPE = re.compile(f"[{_CONTROL_CLASS}]|\\\\(?=[\\\\xuUr{_CONTROL_CLASS}])")
#: What :func:`csv_unescape` reads back: ``\\`` and the escapes :func:`csv_escape` writes.
_CSV_UNESCAPE = re.compile(r"\\(?:(\\)|x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8})|(r))")


def csv_escape(value: object) -> str:
    """Text for a CSV cell read by eye (``cat``, ``column``, a spreadsheet), that gives the
    value back exactly (:func:`csv_unescape`): each :data:`_CONTROL` character — C0 (but tab
    and newline, kept) and C1 controls, bidi, zero-width and invisible characters — as its
    Python escape (``\\x1b``, ``\\r``, ``\\u202e``, ``\\U000e0041``), and a backslash the
    reverse would read as the start of one — before ``\\``, ``x``, ``u``, ``U``, ``r`` or such
    a character — doubled (``\\\\``). So an ESC character (written ``\\x1b``) and the four
    characters ``\\x1b`` (written ``\\\\x1b``) never read the same; any other backslash
    (``\\"`` in JSON text, ``C:\\Temp``) stays as it is."""
    text = "" if value is None else str(value)
    return _CSV_ESCAPE.sub(_csv_escaped, text)


def _csv_escaped(match: re.Match[str]) -> str:
    ch = match.group()
    return "\\\\" if ch == "\\" else ch.encode("unicode_escape").decode("ascii")


def csv_unescape(cell: str) -> str:
    """The text :func:`csv_escape` made ``cell`` from: ``\\\\`` is one ``\\``; ``\\xHH``,
    ``\\uHHHH``, ``\\UHHHHHHHH`` (lower-case hex) the character of that code point; ``\\r`` a
    carriage return; any other backslash itself."""
    return _CSV_UNESCAPE.sub(_csv_unescaped, cell)


def _csv_unescaped(match: re.Match[str]) -> str:
    if match.group(1):
        return "\\"
    if match.group(5):
        return "\r"
    return chr(int(match.group(2) or match.group(3) or match.group(4), 16))


#: What :func:`csv_safe` puts before a cell a spreadsheet could run, and before a cell that
#: already starts with it: one leading ``'`` in a CSV cell is always the guard.
CSV_GUARD = "'"


def csv_safe(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula: text whose first character is a
    formula trigger (``= + - @`` or their full-width and small forms ``＝＋－＠﹦﹢﹣``), a control
    character (tab, CR, LF, …), or whitespace or invisible characters before a trigger, gets a
    leading ``'`` (:data:`CSV_GUARD`) — and so does text that already starts with ``'``, so that
    the rule can be undone: a cell that starts with ``'`` had one ``'`` put before it, a cell
    that does not is the text itself (:func:`csv_unguard`; ``'=1`` was ``=1``, ``''=1`` was
    ``'=1``). Other values are returned as they are."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] == CSV_GUARD or _is_control(value[0]):
        return CSV_GUARD + value
    for ch in value:
        if not _ignored_before_formula(ch):
            return CSV_GUARD + value if ch in _FORMULA_TRIGGERS else value
    return value


def csv_unguard(cell: str) -> str:
    """The text :func:`csv_safe` made ``cell`` from: its one leading ``'`` removed, if any (a
    script reading a torinvest CSV back gets the values as written, before the guard)."""
    return cell[1:] if cell.startswith(CSV_GUARD) else cell


def csv_value(cell: str) -> str:
    """The value a text cell of a torinvest CSV file holds, exactly: the guard undone
    (:func:`csv_unguard`), then the escapes (:func:`csv_unescape`) — the reverse of
    ``csv_safe(csv_escape(value))``, which every CSV export writes."""
    return csv_unescape(csv_unguard(cell))


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def _ignored_before_formula(ch: str) -> bool:
    """Characters a spreadsheet may skip before reading a cell as a formula."""
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp")


def _escape_unseen(text: str) -> str:
    """``text`` with every :data:`_CONTROL` character as its Python escape (``\\x1b``,
    ``\\u202e``): visible, and unable to colour, reorder or hide what follows."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def json_inert(text: str) -> str:
    """JSON text (from any serializer) with DEL, C1 controls (CSI ``\\x9b``…) and the
    :data:`_INVISIBLE` characters (bidi overrides, zero-width, line separators) written as
    ``\\uXXXX`` escapes: ``cat`` or ``less`` of the file, or the JSON printed on a terminal,
    shows them inert, and a JSON reader decodes the very same text (an escape means the same
    character). Such characters can only be inside JSON strings, so nothing else changes."""
    return _JSON_RAW_UNSEEN.sub(lambda m: _json_escape(m.group()), text)


def _json_escape(ch: str) -> str:
    """``ch`` as a JSON escape: ``\\uXXXX``, or the UTF-16 surrogate pair JSON writes a
    character past U+FFFF as (a tag character: ``\\udb40\\udc41``)."""
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_inert_bytes(data: bytes) -> bytes:
    """:func:`json_inert` of UTF-8 JSON bytes (``orjson.dumps``'s)."""
    text = data.decode("utf-8")
    inert = json_inert(text)
    return data if inert == text else inert.encode("utf-8")


def html_text(value: object) -> str:
    """Text for interpolation into HTML or Markdown: markup escaped (quotes included), and
    control, bidi and zero-width characters shown escaped (``\\u202e``), so that a name from a
    finding, an event or a ledger can neither run, nor reorder or hide the text around it.
    Newlines and tabs are kept (HTML shows them as spaces)."""
    return html.escape(_escape_unseen("" if value is None else str(value)), quote=True)


#: A run of backticks (a Markdown code fence or code span is made of them).
_BACKTICKS = re.compile("`+")


def markdown_code_block(text: str) -> str:
    """``text`` as one fenced Markdown code block, shown character for character by any
    CommonMark or GitHub-flavoured renderer: no link, image, emphasis, heading or raw HTML in it
    is read as such (``[x](http://…)``, ``![](http://…/beacon.png)``, ``<img onerror>``). The
    fence is one backtick longer than the longest run of backticks in ``text`` (at least three),
    so no line of the text can close it; a renderer that shows plain text shows the text between
    two fence lines. ``text`` keeps its characters (escape control characters first:
    :func:`term_safe`)."""
    longest = max((len(m.group()) for m in _BACKTICKS.finditer(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def markdown_block_overhead(text: str) -> int:
    """How many characters :func:`markdown_code_block` adds to ``text`` (its two fences)."""
    return len(markdown_code_block(text)) - len(text)


#: What a backtick in attacker-written text becomes in prose (:func:`prose_safe`): its escape.
PROSE_BACKTICK = "\\x60"


def prose_safe(value: object) -> str:
    """Attacker-written text (a user agent, a user name, an event name, a key or an address read
    from a forged log) for prose that holds commands between backticks — ``summary.json``'s
    ``why``, ``problem`` and ``detail``, the cards that show them: each backtick written as its
    escape (:data:`PROSE_BACKTICK`, ``\\x60``), so that the text can neither open nor close a
    command (:func:`torinvest.shown.cut_prose` keeps a backticked run whole, to be copied and
    run): a user agent that says to run a command between backticks reads as the attacker's
    text, never as a command torinvest suggests. Everything else as it is."""
    return ("" if value is None else str(value)).replace("`", PROSE_BACKTICK)


def prose_word(value: object) -> str:
    """``value`` as one shell word of a command quoted in prose (between backticks):
    :func:`shlex.quote`'s, but a word holding a backtick (a forged user name) in ANSI-C quoting
    (``$'…'``, POSIX.1-2024, bash, zsh), each backtick written ``\\x60``: the command then
    holds no backtick of its own, stays one command in the prose and runs with the value as it
    is."""
    text = "" if value is None else str(value)
    if "`" not in text:
        return shlex.quote(text)
    inner = "".join("\\x60" if ch == "`" else "\\" + ch if ch in "\\'" else ch for ch in text)
    return f"$'{inner}'"


def prose_command(args: Iterable[object]) -> str:
    """``shlex.join`` of ``args`` with each word by :func:`prose_word`: a command line to quote
    in prose between backticks."""
    return " ".join(prose_word(a) for a in args)


def option(flag: str, value: object) -> str:
    """``--flag=value``, one argument of a suggested command line: a value that starts with
    ``-`` (a user named ``--out=/tmp/x``: IAM allows ``+=,.@_-`` in names) is then never read
    as an option, by torinvest's argparse or the AWS CLI (both take ``--flag=value``). Quote the
    result for the shell (``shlex.join``) as any argument."""
    return f"{flag}={value}"


#: The characters a shell word may hold unquoted (a suggested command's argument).
_SHELL_PLAIN = re.compile(r"[A-Za-z0-9_./:@=,+-]+")


def shell_word(value: object) -> str:
    """``value`` as one shell word: as it is when it holds only :data:`_SHELL_PLAIN`
    characters, else single-quoted (a ``'`` inside as ``'"'"'``), so that pasting a suggested
    command runs that command only, whatever a finding or an event named (``$(…)``, ``;``,
    backticks, a newline)."""
    text = "" if value is None else str(value)
    if _SHELL_PLAIN.fullmatch(text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def cli_option(flag: str, value: object) -> str:
    """``--flag=value`` (:func:`option`) with the value as one shell word (:func:`shell_word`):
    an argument of a command line printed for an analyst to paste."""
    return f"{flag}={shell_word(value)}"
