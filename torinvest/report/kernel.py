"""The notebook run in a kernel with papermill (:func:`execute`); a failing cell becomes a
:class:`CellFailure` naming it, after the executed notebook is written.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from torinvest.options import CELL_TIMEOUT
from torinvest.report.saves import NotebookSaves

if TYPE_CHECKING:
    import nbformat

log = logging.getLogger(__name__)


#: Kernel: ipykernel of the interpreter running torinvest (see :func:`kernel_manager_class`).
KERNEL_NAME = "python3"
#: Seconds the kernel may take to start.
KERNEL_START_TIMEOUT = 120
#: Kernels started for one run when each dies as it starts (see :func:`died_starting`).
KERNEL_START_ATTEMPTS = 3
#: How the kernel is stopped once the notebook has run (nbclient's ``shutdown_kernel``):
#: killed, not asked to exit. Its cells have written every file by then, and what a graceful
#: exit does after them (atexit hooks, tearing down pandas, plotly, boto3…: 0.2-0.3 s of CPU
#: after the first cell's imports alone, about 1 s after a whole report on a busy machine) is
#: of no use to the report: nbclient waited for it, up to 2.5 s and a SIGTERM, before it saved
#: the notebook (0.4 s on a quiet machine, 3.5 s under load). Files the notebook's code
#: makes for itself are removed by that code (``with``, ``finally``), not at the kernel's exit.
KERNEL_SHUTDOWN = "immediate"
#: The kernel's command-line arguments besides its connection file: quiet (not even the warning
#: that its loopback TCP sockets are not encrypted).
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=CRITICAL",)
#: What nbclient adds to them for an IPython kernel it starts (its ``ipython_hist_file``): the
#: history in memory, no history.sqlite read or written. :func:`early_kernel` adds it too.
KERNEL_HISTORY = "--HistoryManager.hist_file=:memory:"


@dataclass(frozen=True, slots=True)
class CellFailure:
    """Where the notebook stopped: the cell (index in the executed notebook, execution count),
    the report section it belongs to, its first line of code, and the error."""

    ename: str
    evalue: str
    cell_index: int | None = None
    exec_count: int | None = None
    section: str | None = None
    code: str | None = None
    #: The execution count of the cell run before it, for a cell that has none of its own
    #: (the kernel died or the cell timed out before it answered): "the cell after [N]".
    after_count: int | None = None

    def where(self) -> str:
        """The cell, as the report numbers it: ``cell [N]``, ``the cell after [N]`` (it never
        answered), ``the first cell``, or ``the run`` (no cell started)."""
        if self.exec_count is not None:
            return f"cell [{self.exec_count}]"
        if self.after_count is not None:
            return f"the cell after [{self.after_count}]"
        return "the first cell" if self.cell_index is not None else "the run"

    def one_line(self) -> str:
        where = self.where()
        if self.section:
            where += f" ({self.section})"
        first = (self.evalue or "").strip().splitlines()
        return f"{where} raised {self.ename}" + (f": {first[0]}" if first else "")


# --------------------------------------------------------------------------------------------
# execute
# --------------------------------------------------------------------------------------------
def kernel_manager_class(said: IO[bytes] | None = None) -> type:
    """A kernel manager that always starts this interpreter's ipykernel (``python3``).

    A ``python3`` kernelspec found first on the Jupyter path (``~/.local/share/jupyter``, a conda
    base…) could run another Python without torinvest; this one searches no folder and so
    gets ipykernel's own spec, whose command is ``sys.executable -m ipykernel_launcher``.

    With ``said`` (a file open for writing), the kernel's own stdout and stderr go there and not
    to the analyst's terminal: what a kernel prints outside its cells (its log, the tracebacks
    of a kernel whose sockets a stopped run closes under it) is not the analyst's to read; cell
    output reaches the notebook over the kernel's sockets either way.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisInterpreterKernelSpecs(KernelSpecManager):  # type: ignore[misc]
        @default("kernel_dirs")
        def _kernel_dirs_default(self) -> list[str]:
            return []

    class ThisInterpreterKernelManager(AsyncKernelManager):  # type: ignore[misc]
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self) -> KernelSpecManager:
            return ThisInterpreterKernelSpecs(data_dir=self.data_dir)

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if said is not None:
                kw["stdout"] = kw["stderr"] = said
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return ThisInterpreterKernelManager


#: The papermill engine :func:`execute` runs notebooks with (see :func:`_engine`).
ENGINE_NAME = "torinvest"


@functools.cache
def _engine() -> str:
    """Register, once, papermill's nbclient engine with cheaper saves as cells start and end,
    and return its name.

    papermill writes the output notebook as each cell starts and ends (``nbformat.writes``:
    validated, every text output split into lines, pure-Python indented JSON), each time the
    whole notebook. A report's notebook holds plotly.js and the tables' code from its first
    cells (over 6 MB): those 84 writes took 2.8 s of CPU in a report of the sample case, two
    thirds of what the command spent (its kernel: 4.4 s). Here they are the notebook written by
    orjson (valid nbformat JSON, unindented: 10 times cheaper; its long outputs serialized once,
    :class:`~torinvest.report.saves.NotebookSaves`), still one as each cell starts and ends, so
    a run killed outright leaves every cell that ran. The save at the end of the run
    (papermill's ``notebook_complete``, after a failing cell, a dead kernel, a timeout or Ctrl-C
    too) is one of them: it is never the file the run leaves, which is papermill's last write
    (``nbformat.writes``, after a failing cell too), or :func:`_execute`'s (the run stopped), or
    none (Ctrl-C: the partial file is removed). report.ipynb is written by nbformat, as before.
    """
    from papermill.engines import (
        NBClientEngine,
        NotebookExecutionManager,
        catch_nb_assignment,
        papermill_engines,
    )

    class CheapSavesManager(NotebookExecutionManager):  # type: ignore[misc]
        saves: NotebookSaves | None = None

        @catch_nb_assignment  # type: ignore[misc]
        def save(self, **kwargs: Any) -> None:
            if not self.output_path:
                super().save(**kwargs)
                return
            self.saves = self.saves or NotebookSaves()
            try:
                pieces = self.saves.pieces(self.nb)
            except TypeError:  # a value orjson does not write (none from a kernel's messages)
                super().save(**kwargs)
                return
            with open(self.output_path, "wb") as f:
                f.writelines(pieces)
            self.last_save_time = self.now()

    class CheapSavesEngine(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_notebook(
            cls,
            nb: nbformat.NotebookNode,
            kernel_name: str,
            output_path: str | None = None,
            progress_bar: bool = True,
            log_output: bool = False,
            autosave_cell_every: int = 30,
            **kwargs: Any,
        ) -> nbformat.NotebookNode:
            # papermill's Engine.execute_notebook (as of papermill 2.7), with the manager above
            nb_man = CheapSavesManager(
                nb,
                output_path=output_path,
                progress_bar=progress_bar,
                log_output=log_output,
                autosave_cell_every=autosave_cell_every,
            )
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(ENGINE_NAME, CheapSavesEngine)
    return ENGINE_NAME


def execute(
    notebook: Path,
    output: Path,
    params: Mapping[str, Any],
    *,
    cwd: Path,
    timeout: float = CELL_TIMEOUT,
) -> CellFailure | None:
    """Run ``notebook`` with ``params`` into ``output`` (written even when a cell fails).

    Returns None on success, else where and why it stopped.

    The kernel is started first (:func:`early_kernel`): it comes up while papermill is imported
    and the notebook read and parameterized, not after.
    """
    with (
        tempfile.TemporaryFile(prefix="torinvest-kernel-") as said,
        early_kernel(cwd, said) as started,
    ):
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            if attempt > 1:  # the first kernel's file is new (and the kernel writes to it)
                said.seek(0)
                said.truncate()
            failure = _execute(
                notebook,
                output,
                params,
                cwd=cwd,
                timeout=timeout,
                said=said,
                km=started if attempt == 1 else None,
            )
            if failure is None or not died_starting(failure) or attempt == KERNEL_START_ATTEMPTS:
                break
            log.info(
                "the report kernel died as it started (%s; attempt %d of %d): starting another",
                failure.evalue,
                attempt,
                KERNEL_START_ATTEMPTS,
            )
        if failure is not None and log.isEnabledFor(
            logging.DEBUG
        ):  # e.g. a dead kernel's last words
            said.seek(0, 2)
            said.seek(max(0, said.tell() - 4096))
            log.debug(
                "the kernel's own output ended with:\n%s", said.read().decode(errors="replace")
            )
    return failure


@contextlib.contextmanager
def early_kernel(cwd: Path, said: IO[bytes]) -> Iterator[Any]:
    """A report kernel started now, in ``cwd`` (its manager; None when it could not be
    started: papermill then starts one as before, and says why it cannot), killed on the way
    out unless the notebook's run stopped it already.

    Starting the kernel (the interpreter, ipykernel: 1-2 s) used to wait for the run's own
    work before it (importing papermill, reading and parameterizing the notebook: about as
    long, once per process); both go on at once now. The kernel is the one papermill starts
    (:func:`kernel_manager_class`, :data:`KERNEL_ARGUMENTS`, ``cwd``, the environment), its
    run the same; the notebook's run stops it as it stops its own (:data:`KERNEL_SHUTDOWN`).
    A Ctrl-C, SIGTERM or error before that kills it here."""
    from jupyter_core.utils import run_sync

    km = kernel_manager_class(said)(kernel_name=KERNEL_NAME)
    try:
        run_sync(km.start_kernel)(extra_arguments=[*KERNEL_ARGUMENTS, KERNEL_HISTORY], cwd=str(cwd))
    except Exception:  # papermill starts its own, and says what is wrong if it cannot
        log.debug("the early report kernel did not start", exc_info=True)
        _stop(km)
        km = None
    try:
        yield km
    finally:
        if km is not None:
            _stop(km)


def _adopting(km: Any) -> type:
    """A kernel manager class whose one instance is ``km``, whose kernel is started: nbclient
    makes its manager from the class it is given, finds a kernel there and starts none, and
    owns it as one it made (stops it as the run ends, :data:`KERNEL_SHUTDOWN`)."""

    class Started(type(km)):  # type: ignore[misc]
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            return km  # not a Started: no __init__ again

    return Started


def _stop(km: Any) -> None:
    """Kill the kernel ``km`` manages, if it still has one, and remove its connection file."""
    from jupyter_core.utils import run_sync

    try:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
        else:
            run_sync(km.cleanup_resources)()
    except Exception:  # pragma: no cover - already gone
        log.debug("stopping the early report kernel", exc_info=True)


def _execute(
    notebook: Path,
    output: Path,
    params: Mapping[str, Any],
    *,
    cwd: Path,
    timeout: float,
    said: IO[bytes],
    km: Any = None,
) -> CellFailure | None:
    """One papermill run; ``km``: the manager of a kernel already started for it
    (:func:`early_kernel`), else papermill starts one."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=dict(params),
            kernel_name=KERNEL_NAME,
            engine_name=_engine(),
            # the kernel's own output (its log; tracebacks when a stopped run closes its sockets
            # under it, Ctrl-C, SIGTERM) goes to ``said``, never to the analyst's terminal.
            # Cell errors are in the notebook; a dead kernel fails the run.
            kernel_manager_class=kernel_manager_class(said) if km is None else _adopting(km),
            # quiet besides: the warning that its loopback TCP sockets are not encrypted
            extra_arguments=list(KERNEL_ARGUMENTS),
            # saved as each cell starts and ends: a kernel that dies or a cell that times out
            # leaves every cell that ran (and the one it stopped at) in the report
            request_save_on_cell_execute=True,
            shutdown_kernel=KERNEL_SHUTDOWN,
            progress_bar=False,
            log_output=False,
            cwd=str(cwd),
            start_timeout=KERNEL_START_TIMEOUT,
            execution_timeout=timeout,
        )
    except PapermillExecutionError as e:
        nb = nbformat.read(output, as_version=4)
        return _failure(nb, e.ename, e.evalue)
    except Exception as e:  # kernel died, timeout, … : what ran is kept, then the error
        log.debug("notebook run failed", exc_info=True)
        try:
            nb = nbformat.read(output, as_version=4)
        except (OSError, ValueError):  # stopped before papermill wrote it: the template
            nb = nbformat.read(notebook, as_version=4)
        ename, evalue = type(e).__name__, str(e) or _STOPPED.get(type(e).__name__, "")
        mark_stopped(nb, ename, evalue)
        nbformat.write(nb, output)
        return _failure(nb, ename, evalue)
    return None


def died_starting(failure: CellFailure) -> bool:
    """Whether the kernel died before it answered its first request, no cell run: most often
    another process took one of the free ports jupyter_client picked for it between the pick and
    the kernel's bind (``Address already in use``). Another kernel, on new ports, may start."""
    return (
        failure.cell_index is None
        and failure.ename == "RuntimeError"
        and "died before replying" in failure.evalue
    )


#: What a run that stopped without a message means.
_STOPPED = {
    "DeadKernelError": "the kernel died while this cell ran (out of memory, or killed)",
    "CellTimeoutError": "this cell ran past the cell timeout",
}


def stopped_at(nb: nbformat.NotebookNode) -> int | None:
    """The index of the cell a run stopped at or after: the last code cell papermill started
    (its ``metadata.papermill.start_time``); None when none started."""
    started = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        and cell.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return started[-1] if started else None


def mark_stopped(nb: nbformat.NotebookNode, ename: str, evalue: str) -> None:
    """Mark the cell a run stopped at (:func:`stopped_at`) as papermill marks a failing cell:
    an error output, ``metadata.papermill.exception``, and the ``#papermill-error-cell`` anchor
    before it (the report's banner links to it). Nothing when no cell started."""
    import nbformat
    from papermill.execute import ERROR_ANCHOR_MSG, ERROR_MARKER_TAG

    index = stopped_at(nb)
    if index is None:
        return
    cell = nb.cells[index]
    cell.setdefault("metadata", {}).setdefault("papermill", {})["exception"] = True
    cell.setdefault("outputs", []).append(
        nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[])
    )
    anchor = nbformat.v4.new_markdown_cell(ERROR_ANCHOR_MSG)
    anchor.metadata["tags"] = [ERROR_MARKER_TAG]
    nb.cells.insert(index, anchor)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _failure(nb: nbformat.NotebookNode, ename: str, evalue: str) -> CellFailure:
    """Locate the failing cell in an executed notebook and the section heading above it."""
    section: str | None = None
    count: int | None = None  # the execution count of the last code cell before
    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "markdown" and "papermill-error-cell-tag" not in tags:
            heading = next(
                (ln.lstrip("#").strip() for ln in cell.source.splitlines() if ln.startswith("#")),
                None,
            )
            section = heading or section
            continue
        if cell.cell_type != "code":
            continue
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        flagged = cell.get("metadata", {}).get("papermill", {}).get("exception") is True
        if errored or flagged:
            code = next((ln for ln in cell.source.splitlines() if ln.strip()), None)
            return CellFailure(
                ename=ename,
                evalue=_ANSI.sub("", evalue or ""),
                cell_index=index,
                exec_count=cell.get("execution_count"),
                section=section,
                code=code,
                after_count=count,
            )
        count = cell.get("execution_count") or count
    return CellFailure(ename=ename, evalue=_ANSI.sub("", evalue or ""))
