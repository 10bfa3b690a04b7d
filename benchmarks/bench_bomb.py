"""A decompression bomb beside normal log files: the load's memory stays bounded.

The data: the ``bench_logs`` log files of a smaller set (``--bomb-events`` events in
``--bomb-files`` files, generated once and cached in ``.bench-data``), plus, in the same day
folder, a ``.json.gz`` of about 2 MB that inflates to ``--bomb-gb`` GiB (a ``{"Records": [`` and
whitespace: what a bomb hidden in a trail bucket looks like). Before the per-file limit, a 2 GiB
bomb took the load to 4.4 GB of RSS and a 5 GiB one ended in MemoryError, every log lost.

Each variant runs :func:`torinvest.sources.logs.load_logs` (default limit,
:data:`~torinvest.sources.logs.DEFAULT_MAX_FILE_BYTES`) in a fresh process while a thread samples
the resident memory of that process and of its worker processes every 5 ms:

- ``workers``: the files read in worker processes (the default for many files);
- ``in-process``: ``workers=1``, every file read in the loading process.

Each must report the bomb as one data issue and load every normal event. Target: the peak of the
whole load — the loading process and its workers together — under 1.5 GB (``PASS``); the peak of
the largest single process is in the notes. Not a timed test: memory only, in ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from benchmarks.__main__ import Figure, peak_rss_mb, run_child
from benchmarks.gen import DEFAULT_SEED, Manifest, generate

LIMIT_MB = 1500.0
VARIANTS = ("workers", "in-process")
BOMB_NAME = "218007301253_CloudTrail_us-east-1_20230710T1200Z_bombbombbombbomb.json.gz"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("bomb")
    group.add_argument("--bomb-gb", type=float, default=2.0, help="GiB the bomb inflates to")
    group.add_argument("--bomb-events", type=int, default=100_000, help="normal events beside")
    group.add_argument("--bomb-files", type=int, default=100, help="normal files beside")


def write_bomb(path: Path, size: int) -> int:
    """A gzip file inflating to ``size`` bytes (a log file's opening, then whitespace)."""
    if path.exists() and int(path.with_suffix(".size").read_text() or 0) == size:
        return path.stat().st_size
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (64 << 20)
    with path.open("wb") as f:
        f.write(c.compress(b'{"Records":['))
        left = size - 14
        while left > 0:
            f.write(c.compress(block[: min(left, len(block))]))
            left -= len(block)
        f.write(c.compress(b"]}"))
        f.write(c.flush())
    path.with_suffix(".size").write_text(str(size))
    return path.stat().st_size


# --------------------------------------------------------------------------------------------
# the child: one load, its memory sampled
# --------------------------------------------------------------------------------------------
def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        for kid in kids:
            out += [kid, *_children(kid)]
    return out


class Sampler(threading.Thread):
    """The peak resident memory of this process, of its largest child, and of all together."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.total = self.largest = 0.0

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.is_set():
            sizes = [_rss_mb(me), *(_rss_mb(k) for k in _children(me))]
            self.total = max(self.total, sum(sizes))
            self.largest = max(self.largest, *sizes)
            time.sleep(0.005)


def _maxrss() -> tuple[float, float]:
    """Peak RSS (MB) of this process and of its largest finished child, as the kernel kept it."""
    return (
        peak_rss_mb(),
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    )


def child(variant: str, root: Path, events: int) -> None:
    from torinvest.sources.logs import load_logs

    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    result = load_logs(root, progress=False, workers=1 if variant == "in-process" else None)
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    bomb = [i.problem for i in result.issues if i.source.endswith(BOMB_NAME)]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": len(result.frame),
                "expected_rows": events,
                "issues": len(result.issues),
                "bomb_issue": bomb[0] if bomb else None,
                # the kernel's own peaks (ru_maxrss) bound what sampling might have missed
                "peak_total_mb": max(sampler.total, *_maxrss()),
                "peak_process_mb": max(sampler.largest, *_maxrss()),
            }
        )
    )


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> list[Figure]:
    m: Manifest = generate(events=args.bomb_events, files=args.bomb_files, seed=DEFAULT_SEED)
    day = next(Path(m.root).glob("AWSLogs/*/CloudTrail/us-east-1/*/*/*"))
    size = int(args.bomb_gb * 2**30)
    gz = write_bomb(day / BOMB_NAME, size)
    print(
        f"   data: {m.events:,} events in {m.files} files; bomb {gz / 1e6:.1f} MB → "
        f"{size / 2**30:.1f} GiB in {day}",
        flush=True,
    )
    figures = []
    for variant in VARIANTS:
        r = run_child(
            "benchmarks.bench_bomb", variant, str(Path(m.root) / "AWSLogs"), str(m.events)
        )
        print(f"   {variant:10s} " + json.dumps(_rounded(r)), flush=True)
        loaded = r["rows"] == r["expected_rows"] and r["bomb_issue"] is not None
        figures.append(
            Figure(
                f"bomb: {size / 2**30:.0f} GiB bomb beside logs, {variant}, peak RSS",
                r["peak_total_mb"] if loaded else float("inf"),
                "MB",
                "limit",
                LIMIT_MB,
                1.0,
                higher_is_better=False,
                note=(
                    f"loading process and workers together; largest process "
                    f"{r['peak_process_mb']:.0f} MB; {r['rows']:,} of {r['expected_rows']:,} "
                    f"events loaded in {r['seconds']:.1f} s; bomb: "
                    f"{'one data issue' if r['bomb_issue'] else 'NOT REPORTED'}"
                ),
            )
        )
    return figures


def _rounded(r: dict[str, Any]) -> dict[str, Any]:
    return {
        k: round(v, 2) if isinstance(v, float) else v for k, v in r.items() if k != "bomb_issue"
    }


if __name__ == "__main__":
    child(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
