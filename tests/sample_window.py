"""A window the sample case's log files cover.

The sample case's trail holds one UTC day (2023-07-10; its events are 11:42–12:38 UTC), so an
investigation over the default window (14 days back, 7 ahead) reads as incomplete: the days
without a log file are a data issue (``tests/hostile/test_coverage.py``;
``tests/report/test_report.py::test_report_of_the_sample_case`` pins that reading). Tests of
the complete reading use this window instead: every event of the case, and no day unread —
and name its trail's three regions (offline, a trail copy read for every region is judged by
the regions enabled in every account of its partition, which the sample's folders leave out:
``tests/offline_regions.py``).
"""

from __future__ import annotations

#: As keyword arguments (``investigation.investigate``, papermill parameters).
COVERED: dict[str, float] = {"lookback_days": 0.5, "lookahead_days": 0.4}
#: The sample trail's regions (its three folders).
REGIONS = "ap-southeast-1,eu-west-1,us-east-1"
#: As notebook (papermill) parameters: the window and the regions.
COVERED_PARAMS: dict[str, float | str] = {**COVERED, "regions": REGIONS}
#: As command-line options.
COVERED_FLAGS: tuple[str, ...] = (
    "--lookback-days=0.5",
    "--lookahead-days=0.4",
    f"--regions={REGIONS}",
)
