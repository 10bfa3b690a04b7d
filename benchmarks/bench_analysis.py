"""The analysis and the charts over a million events, against time budgets.

The frame is ``tests.analysis.helpers.synthetic_events(1_000_000)`` (random calls over 90 days
from 2,000 IPs, 20 % of them Tor, 3,000 user agents): many more distinct values than an
investigation of one key meets. Each step runs ``--analysis-repeat`` times in this process;
each run's time is a ratio of the step's budget (lower is better; PASS when the worst run is
within it). The budgets are what an analyst waits for without noticing in a notebook cell:
10 s for an analysis step (per-IP table, sensitive calls, signals), 5 s for one figure built
and serialized to plotly JSON. They were timed assertions in the tests until the tests
stopped timing anything.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from benchmarks.__main__ import Figure

EVENTS = 1_000_000
ANALYSIS_BUDGET_S = 10.0
FIGURE_BUDGET_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("analysis")
    group.add_argument("--analysis-repeat", type=int, default=3, help="runs per step")


def steps(frame: pd.DataFrame) -> dict[str, tuple[Callable[[], Any], float]]:
    from torinvest import analysis as an
    from torinvest import charts

    window = (pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-02-02", tz="UTC"))
    out: dict[str, tuple[Callable[[], Any], float]] = {
        "per_ip": (lambda: an.per_ip(frame, window_start=window[0]), ANALYSIS_BUDGET_S),
        "sensitive_events": (lambda: an.sensitive_events(frame), ANALYSIS_BUDGET_S),
        "signals": (lambda: an.signals(frame, finding_window=window), ANALYSIS_BUDGET_S),
    }
    for chart in (
        charts.timeline,
        charts.calls_per_ip,
        charts.event_mix,
        charts.user_agents,
        charts.regions,
    ):
        out[f"chart {chart.__name__}"] = (
            lambda chart=chart: chart(frame).to_json(),
            FIGURE_BUDGET_S,
        )
    return out


def run(args: argparse.Namespace) -> list[Figure]:
    from tests.analysis.helpers import synthetic_events

    frame = synthetic_events(EVENTS)
    figures = []
    for name, (step, budget) in steps(frame).items():
        times = []
        for _ in range(max(1, args.analysis_repeat)):
            started = time.perf_counter()
            step()
            times.append(time.perf_counter() - started)
        median = sorted(times)[(len(times) - 1) // 2]
        print(f"   {name}: {', '.join(f'{t:.2f}' for t in times)} s", flush=True)
        figures.append(
            Figure(
                f"analysis: {name}, 1M events",
                median,
                "s",
                "budget",
                budget,
                1.0,
                higher_is_better=False,
                runs=tuple(t / budget for t in times),
            )
        )
    return figures
