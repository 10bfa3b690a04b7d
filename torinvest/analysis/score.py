"""The triage score: the signals' weights summed, capped and banded, with the heaviest as
reasons. A triage aid, not a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from torinvest.analysis.signals import (
    BASELINE_WEIGHTS,
    NO_BASELINE_SIGNAL,
    PARTIAL_BASELINE_SIGNAL,
    Signal,
    baseline_signal_names,
)

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
#: The band of a score under :data:`SCORE_BANDS`' medium without a baseline (a
#: :data:`~torinvest.analysis.signals.NO_BASELINE_SIGNAL`: the key made no call before the
#: finding's first sighting) when the signals it leaves out could lift it out of low.
NO_BASELINE = "no baseline"
NO_BASELINE_NOTE = (
    "Scored without a baseline: the key made no call before the finding's first sighting in "
    "the window read (see the no_baseline signal). Nothing failed to be read — there was no "
    "earlier use to compare with —, but the signals that compare with it, {signals}, could "
    "not be evaluated, so the score is a floor: at least {score}, at most {ceiling} / 100 "
    "({bands}). Read more history before the finding (a longer --lookback-days) to evaluate "
    "them, then decide."
)
#: What :data:`INCOMPLETE_NOTE` adds when there is no baseline either (no ceiling: what could
#: not be read may hold more).
NO_BASELINE_TOO = (
    " No baseline either: the key made no call before the finding's first sighting in what "
    "was read (see the no_baseline signal), so {signals} could not be evaluated."
)
#: What a note adds when new-value signals fired against a history read in part.
PARTIAL_BASELINE_NOTE = (
    " The score counts {named}, which compare(s) with a history read in part (see the "
    "partial_baseline signal): a value called new may have been used in what was not read — "
    "without them it would be {without}."
)
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
    #: Scored without a baseline (:data:`NO_BASELINE_SIGNAL`): the score is a floor too.
    no_baseline: bool = False
    #: The highest the score could be when the missing baseline is its only gap (None: not
    #: known — evidence read in part may hold anything — or no gap).
    ceiling: int | None = None

    @property
    def floor(self) -> bool:
        """Whether the score is a floor ("at least N"): evidence read in part, or no baseline."""
        return self.incomplete or self.no_baseline

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "band": self.band,
            "reasons": [s.to_dict() for s in self.reasons],
            "note": self.note,
            "incomplete": self.incomplete,
            "no_baseline": self.no_baseline,
            "ceiling": self.ceiling,
        }

    def shown(self) -> str:
        """The score and band in a few words, as every place shows them (plain text):
        ``12 / 100 · low``, ``at least 0 / 100 · incomplete``, ``at least 20 / 100 · no
        baseline``, ``not scored`` (no number: a 0 over nothing read is no score)."""
        if self.band == NOT_SCORED:
            return NOT_SCORED
        floor = "at least " if self.floor else ""
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

    A :data:`NO_BASELINE_SIGNAL` (the key made no call before the finding's first sighting, so
    the :data:`BASELINE_WEIGHTS` signals could not be evaluated) makes the score a floor too
    (``no_baseline``), apart from data issues: alone, the highest it could be is the score plus
    their weights (``ceiling``), and a band that would be low while the ceiling is not is
    :data:`NO_BASELINE`. A :data:`PARTIAL_BASELINE_SIGNAL` (new-value signals fired against a
    history read in part) is said in the note, with the score without them.
    """
    found = list(found)
    ordered = sorted((s for s in found if s.weight > 0), key=lambda s: (-s.weight, s.name))
    score = min(MAX_SCORE, sum(s.weight for s in ordered))
    reasons = tuple(ordered[:TOP_REASONS])
    if any(s.name == NOT_LOOKED_SIGNAL for s in found):
        return TriageScore(score=score, band=NOT_SCORED, reasons=reasons, note=NOT_LOOKED_NOTE)
    band = _band(score)
    no_baseline = any(s.name == NO_BASELINE_SIGNAL for s in found)
    partial = (
        _partial_note(ordered, score)
        if any(s.name == PARTIAL_BASELINE_SIGNAL for s in found)
        else ""
    )
    low = band == SCORE_BANDS[-1][1]
    if any(s.name == INCOMPLETE_SIGNAL for s in found):
        note = INCOMPLETE_NOTE.format(score=score, low=INCOMPLETE_NOT_LOW if low else "")
        if no_baseline:
            note += NO_BASELINE_TOO.format(signals=baseline_signal_names())
        return TriageScore(
            score=score,
            band=INCOMPLETE if low else band,
            reasons=reasons,
            note=note + partial,
            incomplete=True,
            no_baseline=no_baseline,
        )
    if no_baseline:
        ceiling = min(MAX_SCORE, score + sum(BASELINE_WEIGHTS.values()))
        top = _band(ceiling)
        bands = f"{band} either way" if top == band else f"{band} to {top}"
        note = NO_BASELINE_NOTE.format(
            signals=baseline_signal_names(), score=score, ceiling=ceiling, bands=bands
        )
        return TriageScore(
            score=score,
            band=NO_BASELINE if low and top != band else band,
            reasons=reasons,
            note=note + partial,
            no_baseline=True,
            ceiling=ceiling,
        )
    if partial:
        return TriageScore(score=score, band=band, reasons=reasons, note=NOT_A_VERDICT + partial)
    return TriageScore(score=score, band=band, reasons=reasons)


def _band(score: int) -> str:
    return next(name for floor, name in SCORE_BANDS if score >= floor)


def _partial_note(weighed: list[Signal], score: int) -> str:
    """:data:`PARTIAL_BASELINE_NOTE` for the new-value signals among ``weighed``."""
    new = [s for s in weighed if s.name in BASELINE_WEIGHTS]
    if not new:
        return ""
    named = ", ".join(f"{s.name} (+{s.weight})" for s in new)
    without = max(0, sum(s.weight for s in weighed if s.name not in BASELINE_WEIGHTS))
    return PARTIAL_BASELINE_NOTE.format(named=named, without=min(MAX_SCORE, without))
