"""Where torinvest keeps files between runs (caches, honouring environment overrides), and the
one way it walks a folder of input files (:func:`walk_files`: files and issues, never a
traceback for what it finds)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from torinvest.errors import DataIssue


@contextlib.contextmanager
def atomic_file(path: Path, *, text: bool = False, durable: bool = True) -> Iterator[IO[Any]]:
    """A file open for writing that becomes ``path`` when the ``with`` block ends without an
    error (renamed into place), and is removed otherwise: a reader (or a crash) never sees half
    a file under the name. The temporary file is created new beside ``path`` under a random
    name (``O_EXCL``: never a file or a link already there, so a link planted in a shared
    folder cannot send the write elsewhere, and two processes never write into one file).
    ``text``: UTF-8 text without newline translation.

    ``durable`` (the default: every file that is evidence — exports, ``summary.json``, the
    manifest, index and post records, fetched findings): the file's bytes are flushed to the
    disk (``fsync``) before the rename, and the folder after it (:func:`sync_folder`), so that
    after a crash or a power cut the name holds either the whole new file or the old one —
    never an empty or partly written file under it, and never a rename that did not last. One
    ``fsync`` each: a cache that can be made again passes False. Raises OSError; the caller
    names the file and what to do."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        fh = os.fdopen(fd, "w", encoding="utf-8", newline="") if text else os.fdopen(fd, "wb")
        with fh:
            os.fchmod(fh.fileno(), 0o666 & ~_UMASK)  # mkstemp's 0600: as any new file
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        if durable:
            sync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def sync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries to the disk (``fsync`` of the folder, POSIX), so that a file
    just created or renamed there is still under its name after a crash. A file system that
    cannot sync a folder (some network and FUSE ones refuse) is left as it is: the file's own
    bytes were synced."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The process's umask, read once (reading it means setting it: not while threads create files).
_UMASK = _read_umask()


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """``data`` into ``path`` through :func:`atomic_file` (``durable``: synced to the disk).
    Raises OSError; the caller names the file and what to do."""
    with atomic_file(path, durable=durable) as fh:
        fh.write(data)


#: Lock files held with ``reentrant=True``, by (pid, thread, device, inode): inside such a block
#: the same thread may take the lock again (``investigate --post`` runs and posts inside it).
_HELD: set[tuple[int, int, int, int]] = set()


@contextlib.contextmanager
def held_lock(
    path: Path,
    *,
    cannot: Callable[[OSError], Exception],
    busy: Callable[[], Exception],
    reentrant: bool = False,
) -> Iterator[None]:
    """Hold the lock file ``path`` (created if needed; ``flock``, exclusive) for the block. Raises
    ``cannot(error)`` when it cannot be opened, ``busy()`` when another holder has it (another
    process, or another block of this one). ``reentrant``: inside this block the same thread
    takes it again at once (the lock stays held until this block ends). Closing the descriptor
    releases it: a process that is killed never leaves the lock held."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as e:
        raise cannot(e) from None
    key: tuple[int, int, int, int] | None = None
    try:
        st = os.fstat(fd)
        mine = (os.getpid(), threading.get_ident(), st.st_dev, st.st_ino)
        if mine in _HELD:  # held re-entrantly by this thread (another descriptor is refused)
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy() from None
        if reentrant:
            key = mine
            _HELD.add(key)
        yield
    finally:
        if key is not None:
            _HELD.discard(key)
        os.close(fd)


def cache_root() -> Path:
    """``$TORINVEST_CACHE``, else ``$XDG_CACHE_HOME/torinvest``, else ``~/.cache/torinvest``."""
    if os.environ.get("TORINVEST_CACHE"):
        return Path(os.environ["TORINVEST_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "torinvest"


def tor_cache() -> Path:
    """Where refreshed Tor exit lists are kept: ``<cache root>/tor``."""
    return cache_root() / "tor"


# --------------------------------------------------------------------------------------------
# walking a folder of input files
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FoundFile:
    """A regular file found by :func:`walk_files`: its path, its size in bytes, its path
    relative to the walk's root (``/``-separated; "" when the root is the file itself), and its
    modification time (``st_mtime``, seconds since the epoch: from the same ``stat``)."""

    path: str
    size: int
    rel: str = ""
    mtime: float | None = None


@dataclass(slots=True)
class FileWalk:
    """What :func:`walk_files` found: the regular files (in walk order: names sorted within
    each folder, a folder's files before its subfolders) and one issue per path that could not
    be looked at."""

    files: list[FoundFile] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    #: The paths not ``wanted`` (and their paths relative to the root), not looked at: what
    #: they hold is for the caller to tell (:mod:`torinvest.sniff`), if it cares.
    passed: list[tuple[str, str]] = field(default_factory=list)


def _everything(_: str) -> bool:
    return True


def _nothing(_: str) -> bool:
    return False


def walk_files(
    root: str | os.PathLike[str],
    *,
    wanted: Callable[[str], bool] = _everything,
    skip_folder: Callable[[str], bool] = _nothing,
) -> FileWalk:
    """Every regular file at or below ``root`` whose path relative to ``root`` (``/``-separated)
    is ``wanted``, never raising for what is found there.

    ``root`` itself may be a file (it is the one file, whatever its name) or a folder; a
    folder whose name ``skip_folder`` accepts is not entered. Symbolic links are followed, to
    files and to folders; each folder is entered once (a second way to it is not taken, as
    its files were read through the first). Each path that cannot be looked at is one
    :class:`~torinvest.errors.DataIssue` naming it and why, and the walk goes on: a link to a
    missing target, a link to itself or to a folder above it (a loop), a folder that cannot
    be listed, a named pipe, socket or device, a file that vanished while being listed. Only
    wanted names are looked at, so stray files of other kinds cost nothing and say nothing
    (their paths are in ``passed``, for a caller that looks at what they hold).

    A ``root`` that does not exist raises FileNotFoundError (each caller says it its way).
    """
    top = os.fspath(root)
    out = FileWalk()
    st = os.stat(top)  # FileNotFoundError for a missing root, as documented
    if not stat.S_ISDIR(st.st_mode):
        _add_file(out, top, st)
        return out
    seen = {(st.st_dev, st.st_ino)}
    pending: list[_Folder] = [(top, "", frozenset(seen))]
    while pending:
        folder, rel, above = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            out.issues.append(
                DataIssue(
                    folder, f"cannot list the folder: {_reason(e)}; the files in it were not read"
                )
            )
            continue
        below: list[_Folder] = []
        for entry in entries:
            rel_path = f"{rel}{entry.name}"
            _visit(out, entry, rel_path, wanted, skip_folder, seen, above, below)
        pending.extend(reversed(below))
    return out


#: A folder to list: its path, its path relative to the root (with a trailing "/"), and the
#: (device, inode) of the folders above it and of itself.
_Folder = tuple[str, str, frozenset[tuple[int, int]]]


def _visit(
    out: FileWalk,
    entry: os.DirEntry[str],
    rel_path: str,
    wanted: Callable[[str], bool],
    skip_folder: Callable[[str], bool],
    seen: set[tuple[int, int]],
    above: frozenset[tuple[int, int]],
    below: list[_Folder],
) -> None:
    try:
        is_dir = entry.is_dir()  # follows links
    except OSError:
        is_dir = False
    if is_dir:
        if skip_folder(entry.name):
            return
        try:
            st = entry.stat()
        except OSError as e:
            out.issues.append(DataIssue(entry.path, f"cannot open the folder: {_reason(e)}"))
            return
        here = (st.st_dev, st.st_ino)
        if here in above:
            out.issues.append(
                DataIssue(
                    entry.path,
                    "a symbolic link to a folder above it (a loop): not followed; that "
                    "folder's files were read once",
                )
            )
            return
        if here in seen:
            return  # a second way to a folder already read: its files were read once
        seen.add(here)
        below.append((entry.path, rel_path + "/", above | {here}))
        return
    if not wanted(rel_path):
        out.passed.append((entry.path, rel_path))
        return
    try:
        st = entry.stat()  # follows links
    except OSError as e:
        out.issues.append(DataIssue(entry.path, _stat_problem(entry.path, e)))
        return
    _add_file(out, entry.path, st, rel_path)


def _add_file(out: FileWalk, path: str, st: os.stat_result, rel: str = "") -> None:
    if stat.S_ISREG(st.st_mode):
        out.files.append(FoundFile(path, st.st_size, rel, st.st_mtime))
        return
    out.issues.append(DataIssue(path, f"not a regular file ({_kind(st.st_mode)}): not read"))


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file or folder"


def _stat_problem(path: str, e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "a symbolic link that loops (it points back to itself): not read"
    if e.errno == errno.ENOENT:
        if os.path.islink(path):
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return f"a symbolic link to a missing target ({target!r}): not read"
        return "the file vanished while the folder was being listed: not read"
    return f"cannot look at the file: {_reason(e)}"


def _reason(e: OSError) -> str:
    return e.strerror or str(e)
