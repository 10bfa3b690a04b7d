"""Running the reads: files grouped into tasks of about equal bytes, the worker processes, S3
downloads and what a failed download needs (:func:`download_problem`).
"""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from pathlib import Path
from typing import Any

from torinvest.aws import AWS_CALL_ERRORS, Aws, translate_error
from torinvest.children import end_with_parent
from torinvest.errors import AccessDeniedError, DataIssue
from torinvest.sources.logs.archive import archived_issue, archived_problem_of
from torinvest.sources.logs.batch import _read_batch_packed, _receive, _spill_folder, read_batch
from torinvest.sources.logs.model import S3_THREADS, BatchOut, LogFile, ReadOptions
from torinvest.sources.logs.read import too_large

#: Below these totals files are read in this process (starting workers would cost more).
SEQUENTIAL_MAX_FILES = 3
SEQUENTIAL_MAX_BYTES = 4 << 20
#: Work for one worker task (compressed bytes), and how many tasks per worker at least.
BATCH_BYTES = 4 << 20
TASKS_PER_WORKER = 8


# --------------------------------------------------------------------------------------------
# running the reads
# --------------------------------------------------------------------------------------------
def _batches(files: Sequence[LogFile], workers: int) -> list[list[int]]:
    """File indexes grouped into tasks of about equal bytes (in file order), the last ones
    smaller."""
    total = sum(f.size for f in files)
    target = max(1, min(BATCH_BYTES, total // max(1, workers * TASKS_PER_WORKER)))
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i, f in enumerate(files):
        current.append(i)
        size += f.size
        if size >= target:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    # the last tasks are halved, so that the workers run out of work close together
    last = 2 * workers
    halves = [h for b in batches[-last:] for h in (b[: len(b) // 2], b[len(b) // 2 :]) if h]
    return batches[:-last] + halves


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork starts workers in milliseconds with everything imported; spawn elsewhere.
    method = "fork" if sys.platform == "linux" else "spawn"
    return multiprocessing.get_context(method)


#: glibc ``mallopt`` parameters (malloc.h) and the values set in worker processes.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
WORKER_MMAP_THRESHOLD = 64 << 20
WORKER_TRIM_THRESHOLD = 256 << 20


def _worker_started(parent: int | None = None) -> None:
    """In each worker process: end with the loading process ``parent``
    (:func:`~torinvest.children.end_with_parent`), and keep freed memory for the next file. By
    default glibc gives blocks of megabytes (a file's decompressed bytes…) back to the system
    as soon as they are freed, and taking them again costs a page fault per 4 KiB, a tenth of
    a worker's time."""
    if parent is not None:
        end_with_parent(parent)
    # Ctrl-C reaches the whole process group: the loading process stops the workers
    # (:func:`_stop_workers`); one interrupted here would print a traceback, or, idle,
    # end with one and leave the pool broken
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, WORKER_MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, WORKER_TRIM_THRESHOLD)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End a pool whose load stopped (Ctrl-C, SIGTERM, an error): the queued reads are
    cancelled and each worker is sent SIGTERM (it may be reading a large file), so that leaving
    the pool does not wait for them — without this, Ctrl-C waited for every queued read."""
    workers = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
    for process in workers:
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)  # its manager thread ends with the workers
    for process in workers:
        process.join()


class _Runner:
    """Reads files sequentially or in worker processes; S3 bytes come from a thread pool."""

    def __init__(
        self,
        files: Sequence[LogFile],
        options: ReadOptions,
        *,
        workers: int,
        aws: Aws | None,
        spool: Path | None = None,
    ) -> None:
        self.files = files
        self.options = options
        self.aws = aws
        self.spool = spool  # S3 objects kept here once downloaded (passes after the first)
        total = sum(f.size for f in files)
        small = len(files) <= SEQUENTIAL_MAX_FILES or total <= SEQUENTIAL_MAX_BYTES
        self.workers = 1 if small else max(1, workers)

    def run(self, bar: Callable[[], Any]) -> list[BatchOut]:
        """Read every file; ``bar()`` makes the progress bar (after the workers are forked, so
        that its monitor thread is not running at the fork)."""
        if self.workers == 1:
            out = []
            with bar() as progress:
                for batch in self._inputs(_batches(self.files, 1)):
                    out.append(self._local(batch))
                    progress.update(len(batch))
            return out
        folder = _spill_folder()
        try:
            with ProcessPoolExecutor(
                self.workers,
                mp_context=_mp_context(),
                initializer=_worker_started,
                initargs=(os.getpid(),),
            ) as pool:
                try:
                    pool.submit(int).result()  # fork the workers now, before any thread exists
                    with bar() as progress:
                        return self._run_pool(pool, progress.update, folder)
                except BaseException:  # Ctrl-C, SIGTERM, an error: the reads left are not run
                    _stop_workers(pool)
                    raise
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def _local(self, batch: list[tuple[int, str, Any, Any]]) -> BatchOut:
        issues = [b[2] for b in batch if isinstance(b[2], DataIssue)]
        ready = [b for b in batch if not isinstance(b[2], DataIssue)]
        out = read_batch(ready, self.options) if ready else BatchOut(0, 0, None, [], 0)
        out.first, out.files = batch[0][0], len(batch)
        out.issues = issues + out.issues
        return out

    def _run_pool(
        self, pool: ProcessPoolExecutor, progress: Callable[[int], None], folder: str | None
    ) -> list[BatchOut]:
        results: list[BatchOut] = []
        pending: dict[Future[BatchOut], tuple[int, list[DataIssue]]] = {}

        def collect() -> None:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                n, issues = pending.pop(fut)
                out = fut.result()
                _receive(out)
                out.issues = issues + out.issues
                results.append(out)
                progress(n)

        for batch in self._inputs(_batches(self.files, self.workers)):
            issues = [b[2] for b in batch if isinstance(b[2], DataIssue)]
            ready = [b for b in batch if not isinstance(b[2], DataIssue)]
            if not ready:
                results.append(BatchOut(batch[0][0], len(batch), None, issues, 0))
                progress(len(batch))
                continue
            pending[pool.submit(_read_batch_packed, ready, self.options, folder)] = (
                len(batch),
                issues,
            )
            while len(pending) > 2 * self.workers:
                collect()
        while pending:
            collect()
        return results

    def _inputs(self, groups: list[list[int]]) -> Iterator[list[tuple[int, str, Any, Any]]]:
        """Each group as (index, location, bytes | None | DataIssue, what its digest says it
        holds or None); S3 bytes fetched ahead."""
        files = self.files
        if all(f.bucket is None for f in files):
            for group in groups:
                yield [(i, files[i].location, None, files[i].sha256) for i in group]
            return
        with ThreadPoolExecutor(S3_THREADS, thread_name_prefix="torinvest-s3") as threads:
            ahead = (
                [threads.submit(self._fetch, self.files[i]) for i in groups[0]] if groups else []
            )
            for n, group in enumerate(groups):
                following = groups[n + 1] if n + 1 < len(groups) else []
                upcoming = [threads.submit(self._fetch, self.files[i]) for i in following]
                yield [
                    (i, files[i].location, fut.result(), files[i].sha256)
                    for i, fut in zip(group, ahead, strict=True)
                ]
                ahead = upcoming

    def _fetch(self, f: LogFile) -> bytes | DataIssue | None:
        if f.bucket is None:
            return None  # a local file: the reader opens it
        if f.archived:  # the listing says it cannot be read until restored: not asked for
            return archived_issue(f.location, f.archived, f.restoring)
        if f.size > self.options.max_bytes:  # not downloaded at all
            return too_large(f.location, self.options.max_bytes, f.size)
        if self.spool is None:
            return _get_object(self.aws, f)
        kept = spooled(self.spool, f.location)
        if kept.is_file():
            return kept.read_bytes()
        got = _get_object(self.aws, f)
        if isinstance(got, bytes):
            kept.write_bytes(got)
        return got


def spooled(spool: Path, location: str) -> Path:
    """Where the passes keep the S3 object ``location`` in ``spool``: a flat name (a hash of the
    URL), so that an S3 key cannot climb out of the spool folder."""
    return spool / hashlib.sha256(location.encode()).hexdigest()


def _get_object(aws: Aws | None, f: LogFile) -> bytes | DataIssue:
    if aws is None or f.bucket is None or f.key is None:  # pragma: no cover - caller's bug
        raise ValueError(f"{f.location} is not an S3 object, or no Aws session was given")
    version = {"VersionId": f.version} if f.version is not None else {}
    try:
        return aws.client("s3").get_object(Bucket=f.bucket, Key=f.key, **version)["Body"].read()
    except AWS_CALL_ERRORS as e:
        return DataIssue(f.location, download_problem(e, version=bool(version)), unread=True)


#: What reading a trail's objects needs, said when a download is denied.
GET_OBJECT_NEEDS = "needs s3:GetObject; kms:Decrypt when the trail's bucket uses SSE-KMS"
GET_VERSION_NEEDS = (
    "an earlier version of a log file deleted or rewritten in the bucket: needs "
    "s3:GetObjectVersion; kms:Decrypt when the trail's bucket uses SSE-KMS"
)
_KMS_WORDS = ("kms", "ciphertext", "master key")
_MESSAGE_CHARS = 200


def download_problem(error: BaseException, *, version: bool = False) -> str:
    """Why an S3 object could not be downloaded, the same words for every object that failed
    alike (so that :func:`~torinvest.errors.group_issues` folds thousands into one line): the
    error code and what it needs — ``s3:GetObject``, and ``kms:Decrypt`` when S3 says KMS
    refused (an SSE-KMS trail bucket); an object archived in S3 Glacier or an Intelligent-Tiering
    archive tier (``InvalidObjectState``) is not an access problem: it says so
    (:func:`~torinvest.sources.logs.archive.archived_problem_of`). ``version``: an earlier
    version was asked for (:mod:`.versions`), which needs s3:GetObjectVersion."""
    archived = archived_problem_of(error)
    if archived is not None:
        return archived
    err = translate_error(error, service="s3", operation="GetObject")
    message = " ".join(
        str(getattr(error, "response", {}).get("Error", {}).get("Message") or "").split()
    )
    if len(message) > _MESSAGE_CHARS:
        message = message[: _MESSAGE_CHARS - 1] + "…"
    code = err.code or type(error).__name__
    if isinstance(err, AccessDeniedError) or code.startswith("KMS."):
        if code.startswith("KMS.") or any(w in message.lower() for w in _KMS_WORDS):
            return (
                f"could not be downloaded: {code} (needs kms:Decrypt on the KMS key the trail's "
                f"bucket encrypts with (SSE-KMS), and s3:GetObject; S3 said: {message or '-'})"
            )
        if version:
            return f"could not be downloaded: {code} ({GET_VERSION_NEEDS})"
        return f"could not be downloaded: {code} ({GET_OBJECT_NEEDS})"
    if code == "NoSuchKey":
        return "could not be downloaded: NoSuchKey (the object was deleted after it was listed)"
    return f"could not be downloaded: {err}"
