"""Attacker-written text is data: helpers that keep it inert in terminals, CSV and HTML.

CloudTrail ``userAgent``, ``requestParameters``, user and role names, and anything read from a
findings file can be written by the attacker. Every place that shows such text goes through one
of these functions.
"""

from __future__ import annotations

import html
import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: First characters that make a spreadsheet read a cell as a formula (ASCII, full-width and the
#: small forms that NFKC-normalize to them).
_FORMULA_TRIGGERS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63")


def term_safe(value: object, *, limit: int | None = None) -> str:
    """Text for a terminal: control characters, ANSI escapes and bidi overrides shown escaped."""
    text = "" if value is None else str(value)
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    text = text.replace("\n", "\\n")
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def csv_safe(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula: text whose first character is a
    formula trigger (``= + - @`` or their full-width and small forms ``＝＋－＠﹦﹢﹣``), a control
    character (tab, CR, LF, …), or whitespace or invisible characters before a trigger, gets a
    leading ``'``. Other values are returned as they are."""
    if not isinstance(value, str) or not value:
        return value
    if _is_control(value[0]):
        return "'" + value
    for ch in value:
        if not _ignored_before_formula(ch):
            return "'" + value if ch in _FORMULA_TRIGGERS else value
    return value


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def _ignored_before_formula(ch: str) -> bool:
    """Characters a spreadsheet may skip before reading a cell as a formula."""
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp")


def html_text(value: object) -> str:
    """Text for interpolation into HTML or Markdown: escaped, quotes included."""
    return html.escape("" if value is None else str(value), quote=True)
