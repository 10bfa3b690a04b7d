"""What a process of tests/test_verdict.py's concurrent-writers test runs: a module of its own,
so that a spawned process imports only this and :mod:`torinvest.verdict` to find it, not the
test module and everything it imports (as tests/hostile/appender.py for test_outputs)."""

from __future__ import annotations

from torinvest import verdict

#: The finding every writer records a verdict on.
FID = "6dde0a8f8d46f6acad893b30f905e97c"


def write_verdicts(path: str, worker: int, count: int) -> None:
    """``count`` verdicts of analyst ``analyst-<worker>`` recorded in the ledger at ``path``,
    each with a long rationale (a torn or interleaved write would show)."""
    for i in range(count):
        v = verdict.make_verdict(
            FID,
            status="inconclusive",
            analyst=f"analyst-{worker}",
            rationale=f"record {i} " + "x" * 5000,
            access_key_id="AKIATFQR7NSCUXC3DDDP",
        )
        verdict.record_verdict(v, path)
