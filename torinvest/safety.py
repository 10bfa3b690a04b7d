"""Attacker-written text is data: helpers that keep it inert in terminals, CSV and HTML.

CloudTrail ``userAgent``, ``requestParameters``, user and role names, and anything read from a
findings file can be written by the attacker. Every place that shows such text goes through one
of these functions.
"""

from __future__ import annotations

import html
import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def term_safe(value: object, *, limit: int | None = None) -> str:
    """Text for a terminal: control characters, ANSI escapes and bidi overrides shown escaped."""
    text = "" if value is None else str(value)
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    text = text.replace("\n", "\\n")
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def csv_safe(value: object) -> object:
    """A CSV cell that a spreadsheet will not run: text starting with = + - @ gets a leading '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def html_text(value: object) -> str:
    """Text for interpolation into HTML or Markdown: escaped, quotes included."""
    return html.escape("" if value is None else str(value), quote=True)
