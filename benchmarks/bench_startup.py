"""Start-up: how long ``torinvest events --help`` takes against the imports the command needs.

``python -m torinvest.cli events --help`` in a fresh process (interpreter start, ``import
torinvest.cli``, every command's parser built, the help printed) against the floor: ``python -c
"import pandas, boto3, pyarrow"``, the libraries ``events`` cannot run without. The CLI's own
share is the difference: each command imports its heavy modules (the investigation, notebooks,
charts, HTTP posting, SQL translation) only when it runs (tests/cli/test_startup.py holds which).

Each run starts both once, back to back, in alternating order (both see the same load); one
untimed start of each before the runs fills the page cache. Target: the CLI within 1.5× the
floor in the worst run (``PASS``). Not a timed test: ``make bench`` only.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from benchmarks.__main__ import Figure

TARGET_VS_FLOOR = 1.5
CLI = (sys.executable, "-m", "torinvest.cli", "events", "--help")
FLOOR = (sys.executable, "-c", "import pandas, boto3, pyarrow")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("startup")
    group.add_argument("--startup-runs", type=int, default=5, help="runs (each: both, once)")


def _start(argv: tuple[str, ...]) -> float:
    """Seconds from process start to exit; RuntimeError when the command fails."""
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stderr.decode(errors='replace')}")
    return elapsed


def measure(runs: int) -> list[tuple[float, float]]:
    """(CLI seconds, floor seconds) per run."""
    _start(CLI), _start(FLOOR)  # the page cache, not the first run, pays for the first read
    pairs: list[tuple[float, float]] = []
    for i in range(runs):
        if i % 2:
            floor, cli = _start(FLOOR), _start(CLI)
        else:
            cli, floor = _start(CLI), _start(FLOOR)
        pairs.append((cli, floor))
    return pairs


def run(args: argparse.Namespace) -> list[Figure]:
    pairs = measure(max(1, getattr(args, "startup_runs", 5)))
    ratios = tuple(cli / floor for cli, floor in pairs)
    mid = sorted(pairs, key=lambda p: p[0] / p[1])[(len(pairs) - 1) // 2]
    worst = max(pairs, key=lambda p: p[0] / p[1])
    return [
        Figure(
            "startup: torinvest events --help",
            mid[0],
            "s",
            "import pandas, boto3, pyarrow",
            mid[1],
            TARGET_VS_FLOOR,
            higher_is_better=False,
            note=(
                f"median of the CLI {statistics.median(p[0] for p in pairs):.2f} s, of the floor "
                f"{statistics.median(p[1] for p in pairs):.2f} s; worst run {worst[0]:.2f} s vs "
                f"{worst[1]:.2f} s"
            ),
            runs=ratios,
        )
    ]
