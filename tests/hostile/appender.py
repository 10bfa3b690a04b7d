"""What a process of tests/hostile/test_outputs.py's concurrent-append test runs: a module of its
own, so that a spawned process imports only this and :mod:`torinvest.verdict` to find it, not
the test module and everything it imports (pandas, the report, orjson…)."""

from __future__ import annotations

from torinvest import verdict


def append_many(path: str, who: int, count: int) -> None:
    """``count`` action records of writer ``who`` appended to the ledger at ``path``."""
    for n in range(count):
        verdict.append(path, {"kind": "action", "who": who, "n": n, "phase": "done", "at": "x"})
