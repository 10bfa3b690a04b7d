"""torinvest.imports: import work that buys torinvest nothing is put off until it is used."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

#: IRIs and IRI references, valid and not, and the formats to check them as.
CASES = [
    ["http://example.com/\u00fcber?q=1#top", "iri"],
    ["not an iri", "iri"],
    ["http://[::1", "iri"],
    ["a/b?c", "iri-reference"],
    ["/a b", "iri-reference"],
]

_PROBE = """
import json, sys
if sys.argv[1] == "torinvest":
    import torinvest
import nbformat, plotly.io, jsonschema
on_import = "lark" in sys.modules
checker = jsonschema.FormatChecker()
answers = [checker.conforms(value, form) for value, form in json.loads(sys.argv[2])]
print(json.dumps({"on_import": on_import, "answers": answers, "after": "lark" in sys.modules}))
"""


def _probe(first: str) -> dict[str, object]:
    ran = subprocess.run(
        [sys.executable, "-c", _PROBE, first, json.dumps(CASES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(ran.stdout)  # type: ignore[no-any-return]


@pytest.mark.skipif(
    importlib.util.find_spec("rfc3987_syntax") is None, reason="rfc3987_syntax is not installed"
)
def test_the_iri_grammars_are_built_when_a_format_check_needs_them_not_on_import() -> None:
    """nbformat (which papermill and plotly import: each report's kernel) imports jsonschema,
    which imports rfc3987_syntax, which builds 38 grammars: 1.2 s of CPU. After torinvest, they
    are built when an ``iri`` check first needs them, and the checks answer as without it."""
    plain, deferred = _probe("jsonschema"), _probe("torinvest")
    assert plain["on_import"] is True  # what torinvest puts off
    assert deferred["on_import"] is False
    assert deferred["answers"] == plain["answers"] == [True, False, False, True, False]
    assert deferred["after"] is True


@pytest.mark.skipif(
    importlib.util.find_spec("rfc3987_syntax") is None, reason="rfc3987_syntax is not installed"
)
def test_the_iri_module_imported_by_name_or_by_submodule_is_the_real_one() -> None:
    """Imported by name, the stand-in builds nothing until used; its submodule imports as the
    package's, and the package is then the real one."""
    code = """
import sys
import torinvest
import rfc3987_syntax
from rfc3987_syntax import is_valid_syntax
assert "lark" not in sys.modules
import rfc3987_syntax.syntax_helpers as helpers
assert helpers.is_valid_syntax("iri", "http://example.com/") is True
assert is_valid_syntax("iri", "no iri") is False
assert sys.modules["rfc3987_syntax"].syntax_helpers is helpers
print("ok")
"""
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and ran.stdout == "ok\n", ran.stderr
