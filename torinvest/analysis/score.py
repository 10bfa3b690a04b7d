"""The triage score: the signals' weights summed, capped and banded, with the heaviest as
reasons. A triage aid, not a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from torinvest.analysis.signals import Signal

#: The triage score is the sum of the weights, capped here.
MAX_SCORE = 100
#: Score bands, highest first: (lowest score of the band, name).
SCORE_BANDS: tuple[tuple[int, str], ...] = ((60, "high"), (30, "medium"), (0, "low"))
#: How many signals :func:`triage_score` names as its reasons.
TOP_REASONS = 5
#: The signal (weight 0) an investigation adds when it could not look at the key's activity
#: (no source read, or none of the finding's account): the score is then not scored.
NOT_LOOKED_SIGNAL = "could_not_look"
#: The band of a score over activity that could not be looked at: 0 there is not "quiet".
NOT_SCORED = "not scored"
NOT_LOOKED_NOTE = (
    "Not scored: the key's activity could not be looked at (see the data issues), so no "
    "signal could be seen. This is not a quiet key: look where it was used, then score."
)
#: The signal (weight 0) an investigation adds when the activity was read in part (a region or
#: file that could not be read, days without a log file, calls of unknown Tor status, calls
#: counted in an engine…: the data issues): the score is then a floor, and a low one is not
#: known to be low.
INCOMPLETE_SIGNAL = "incomplete_evidence"
#: The band of a score under :data:`SCORE_BANDS`' medium over incomplete evidence: not "low".
INCOMPLETE = "incomplete"
INCOMPLETE_NOTE = (
    "Scored on incomplete evidence (see the data issues): what could not be read may hold more "
    "signals, so the score is a floor — at least {score}{low}. Read the data issues, then "
    "decide."
)
#: What :data:`INCOMPLETE_NOTE` adds when the score would have been low.
INCOMPLETE_NOT_LOW = ", not a low score"
NOT_A_VERDICT = (
    "A triage aid, not a verdict: it orders what to read first. Decide from the events, "
    "the signals' details and what the key's owner says."
)


# --------------------------------------------------------------------------------------------
# triage score
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TriageScore:
    """A 0–100 triage aid with the signals that weigh most. Not a verdict (see ``note``)."""

    score: int
    band: str
    reasons: tuple[Signal, ...]
    note: str = NOT_A_VERDICT
    #: Scored over activity read in part (:data:`INCOMPLETE_SIGNAL`): the score is a floor.
    incomplete: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "band": self.band,
            "reasons": [s.to_dict() for s in self.reasons],
            "note": self.note,
            "incomplete": self.incomplete,
        }

    def shown(self) -> str:
        """The score and band in a few words, as every place shows them (plain text):
        ``12 / 100 · low``, ``at least 0 / 100 · incomplete``, ``not scored`` (no number: a
        0 over nothing read is no score)."""
        if self.band == NOT_SCORED:
            return NOT_SCORED
        floor = "at least " if self.incomplete else ""
        return f"{floor}{self.score} / {MAX_SCORE} · {self.band}"


def triage_score(found: Iterable[Signal]) -> TriageScore:
    """Sum of the signals' weights, capped at :data:`MAX_SCORE`, banded by :data:`SCORE_BANDS`,
    with the :data:`TOP_REASONS` heaviest signals as reasons.

    A triage aid, NOT a verdict: it says what to look at first. A low score does not clear a key
    (the data may be incomplete), a high one does not prove compromise.

    A :data:`NOT_LOOKED_SIGNAL` among them (the activity could not be looked at) makes the
    band :data:`NOT_SCORED`: a 0 over nothing read is not a quiet key. An
    :data:`INCOMPLETE_SIGNAL` (the activity was read in part) makes the score a floor
    (``incomplete``) and a band that would be low :data:`INCOMPLETE`: what was not read may
    hold what would raise it.
    """
    found = list(found)
    ordered = sorted((s for s in found if s.weight > 0), key=lambda s: (-s.weight, s.name))
    score = min(MAX_SCORE, sum(s.weight for s in ordered))
    if any(s.name == NOT_LOOKED_SIGNAL for s in found):
        return TriageScore(
            score=score, band=NOT_SCORED, reasons=tuple(ordered[:TOP_REASONS]), note=NOT_LOOKED_NOTE
        )
    band = next(name for floor, name in SCORE_BANDS if score >= floor)
    if any(s.name == INCOMPLETE_SIGNAL for s in found):
        low = band == SCORE_BANDS[-1][1]
        note = INCOMPLETE_NOTE.format(score=score, low=INCOMPLETE_NOT_LOW if low else "")
        return TriageScore(
            score=score,
            band=INCOMPLETE if low else band,
            reasons=tuple(ordered[:TOP_REASONS]),
            note=note,
            incomplete=True,
        )
    return TriageScore(score=score, band=band, reasons=tuple(ordered[:TOP_REASONS]))
