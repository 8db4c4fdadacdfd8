"""File-writing chores, once: atomic writes, one writer per output folder, and `--out` checks.

Why one module: every command writes results that a later command trusts (tables, datasets,
subnets, predictors, exported models). Three rules keep those files trustworthy, and each is
written here only:

- **Atomic writes** (`atomic_write_text`, `atomic_write_bytes`, `atomic_path`): the new content
  goes to a hidden temporary file in the same folder, is fsynced, then renamed over the target, so
  a reader (or a crash) sees the old file or the new one, never half of one.
- **One writer per folder** (`writer_lock`): append-only folders (latency tables, accuracy
  datasets, training runs) are locked with `fcntl.flock` on `.ofa-deploy.lock`, which records the
  holder's PID. A second process is refused at once with that PID (`BusyError`). The kernel drops
  the lock when its holder dies, so a lock file left by a killed run never blocks the next one.
- **A full disk is the user's to fix, in one line** (`no_space`, `space_error`): ENOSPC, EDQUOT
  and EROFS raised by any write here become a `NoSpaceError` naming the path, the room it needed
  and the room left; the temporary file is removed, so nothing half-written keeps a final name,
  and appends (`append_text`) are cut back to the last complete line. The CLI maps any such
  errno that escapes another writer through the same function.
- **Leftovers of dead runs are swept** (`sweep_stale`): the temporary files of a process killed
  mid-write (`.NAME.PID-TOKEN.tmp[.SUFFIX]`) are removed by the next writer in that folder once
  that PID is gone.
- **One process makes a shared file** (`claimed`): work that several processes may want at once (a
  conversion cache entry) is claimed per file, so two runs sharing a cache split the work instead of
  doing it twice.
- **An output folder can be written** (`ensure_writable`): checked before any long work.
  What an output holds, and refusing to clobber another kind of file, is `outputs`' job (it
  knows every writer's format, so it sits above `space`; this module sits below everything).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from .errors import BusyError, NoSpaceError, OutputError

LOCK_NAME = ".ofa-deploy.lock"


# ---- a full disk -----------------------------------------------------------------------------------
SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def is_space_error(e: BaseException) -> bool:
    """Whether `e` (or an exception it was raised from) is an ENOSPC / EDQUOT / EROFS `OSError`."""
    seen = 0
    while e is not None and seen < 8:
        if isinstance(e, OSError) and e.errno in SPACE_ERRNOS:
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def _size(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def _free(path: Path) -> int | None:
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe if probe.is_dir() else probe.parent).free
    except OSError:
        return None


_STAGED_NAME = re.compile(r"^\.(.+)\.\d+-[0-9a-f]+\.tmp(\.[A-Za-z0-9]+)?$")


def final_name(path: Path) -> Path:
    """The name a staged file (`temp_sibling`) will be renamed to: what a message should name."""
    while m := _STAGED_NAME.match(path.name):
        path = path.with_name(m.group(1) + (m.group(2) or ""))
    return path


def space_error(e: OSError, path: str | os.PathLike | None = None, need: int | None = None,
                written: int | None = None) -> NoSpaceError:
    """The one line said for an ENOSPC / EDQUOT / EROFS `e` while writing `path`: what failed, the
    room it needed (`need`, else at least more than the `written` bytes that fitted), the room left,
    and what to do. The caller has already removed what was half-written."""
    while not (isinstance(e, OSError) and e.errno in SPACE_ERRNOS) and (e.__cause__ or e.__context__):
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    where = final_name(Path(path if path is not None else (getattr(e, "filename", None) or "the output")))
    if e.errno == errno.EROFS:
        return NoSpaceError(f"cannot write {where}: the file system is read-only; nothing half-written was kept: "
                            "write elsewhere (--out, or OFA_DEPLOY_HOME for the data folder) and rerun the same "
                            "command to resume")
    free = _free(where)
    what = "the disk quota is exceeded" if e.errno == errno.EDQUOT else "no space left on the device"
    needs = (f"it needs {_size(need)}" if need is not None
             else f"it needs more than the {_size(written)} written before the disk filled" if written
             else "it needs more room")
    left = f", {_size(free)} free" if free is not None else ""
    return NoSpaceError(f"cannot write {where}: {what} ({needs}{left}); nothing half-written was kept: free "
                        "some space (or write elsewhere, --out) and rerun the same command to resume")


@contextlib.contextmanager
def no_space(path: str | os.PathLike, need: int | None = None) -> Iterator[None]:
    """Turn an ENOSPC / EDQUOT / EROFS raised in the block into `space_error(..., path, need)`."""
    try:
        yield
    except NoSpaceError:
        raise
    except Exception as e:
        if is_space_error(e):
            raise space_error(e, path, need) from None  # type: ignore[arg-type]
        raise


def append_text(f, text: str, path: str | os.PathLike, fsync: bool = False) -> None:
    """Append `text` (whole lines) to `f` (a file opened for appending) and make it reach the
    file: written on its descriptor, past Python's buffer, so that a failed write is not retried
    when the file is closed. On a full disk the file is cut back to where it was (no half-written
    line) and `NoSpaceError` is raised."""
    f.flush()
    fd = f.fileno()
    start = os.lseek(fd, 0, os.SEEK_END)
    view = memoryview(text.encode("utf-8"))
    try:
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    except OSError as e:
        if e.errno not in SPACE_ERRNOS:
            raise
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
        raise space_error(e, path, len(text.encode("utf-8"))) from None


# ---- leftovers of dead runs -------------------------------------------------------------------------
_STAGED = re.compile(r"^\..+\.(\d+)(?:-[0-9a-f]+)?\.tmp(?:\.[A-Za-z0-9]+)?$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True  # someone else's process (or no PID at all): not ours to judge, left alone
    return True


_swept: set[str] = set()  # folders this process swept already: once is enough (a cache folder gets thousands of writes)


def sweep_stale(folder: str | os.PathLike, again: bool = False) -> list[Path]:
    """Remove the staged temporary files (`temp_sibling` names) that processes no longer running
    left in `folder` (a SIGKILL between writing and renaming); returns what was removed. Once per
    folder and process, unless `again`."""
    removed: list[Path] = []
    key = os.path.abspath(folder)
    if key in _swept and not again:
        return removed
    _swept.add(key)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _STAGED.match(entry.name)
        if m and not _alive(int(m.group(1))) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


# ---- atomic writes --------------------------------------------------------------------------------
def temp_sibling(path: str | os.PathLike, keep_suffix: bool = False) -> Path:
    """A fresh hidden name beside `path`: `.NAME.PID-TOKEN.tmp` (or `.STEM.PID-TOKEN.tmp.SUFFIX` when
    a reader picks its parser by suffix). Same folder, so that the final rename is atomic."""
    p = Path(path)
    tag = f"{os.getpid()}-{os.urandom(3).hex()}"
    if keep_suffix and p.suffix:
        return p.with_name(f".{p.name[:-len(p.suffix)]}.{tag}.tmp{p.suffix}")
    return p.with_name(f".{p.name}.{tag}.tmp")


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; some filesystems refuse fsync on folders, which only costs durability."""
    with contextlib.suppress(OSError):
        _fsync_path(folder)


def replace(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Rename a finished file onto its final name (fsync, rename, fsync the folder)."""
    src, dst = Path(src), Path(dst)
    _fsync_path(src)
    os.replace(src, dst)
    _fsync_dir(dst.parent)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, keep_suffix: bool = False, need: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer that wants a file name (torch.save,
    np.savez, converters); when the block ends normally it is renamed onto `path`, otherwise removed.
    A full disk in the block becomes `NoSpaceError` (`need`: the bytes to write, when known)."""
    p = Path(path)
    with no_space(p):
        p.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(p.parent)
    tmp = temp_sibling(p, keep_suffix)
    try:
        try:
            yield tmp
            replace(tmp, p)
        except NoSpaceError:
            raise
        except Exception as e:
            if not is_space_error(e):
                raise
            written = tmp.stat().st_size if tmp.exists() else None
            raise space_error(e, p, need, written) from None  # type: ignore[arg-type]
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (temporary file in the same folder, fsync, rename)."""
    p = Path(path)
    with atomic_path(p, need=len(data)) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return p


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- one writer per folder -------------------------------------------------------------------------
_held: dict[str, list] = {}  # lock file -> [fd, count]: this process's locks (re-entrant)


def lock_name(name: str | None = None) -> str:
    """The lock file of a whole folder (`.ofa-deploy.lock`), or of one output `name` in it
    (`.NAME.ofa-deploy.lock`: two exports into one folder under different names do not wait)."""
    return LOCK_NAME if name is None else f".{name}{LOCK_NAME}"


def _is_lock(name: str) -> bool:
    return name.startswith(".") and name.endswith(LOCK_NAME)


def _flock_live(path: Path, wait: bool) -> tuple[int, bool]:
    """Open `path` (made if absent) and lock it exclusively: (fd, True) once the locked file is still the one
    at `path` (a releasing holder unlinks its lock file, so a file opened just before that is tried again);
    (fd, False) at once when another process holds it and `wait` is False (the caller reads what it needs
    from fd, then closes it)."""
    while True:
        with no_space(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return fd, False
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, True
        os.close(fd)


class WriterLock:
    """An exclusive lock on a folder (or on one output `name` in it), held until `release()` (or the
    end of a `with` block, or the object being collected, or the process ending). Re-entrant within
    one process."""

    def __init__(self, folder: str | os.PathLike, what: str = "folder", name: str | None = None):
        self.folder = Path(folder)
        self.what = what
        self.name = name
        self._key: str | None = None
        self._acquire()

    def _acquire(self) -> None:
        path = self.folder / lock_name(self.name)
        key = str(path.resolve())
        if key in _held:  # this process holds it already (a row appender inside a locked run)
            _held[key][1] += 1
            self._key = key
            return
        ensure_writable(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, held = _flock_live(path, wait=False)
        if not held:
            holder = _read_pid(fd)
            os.close(fd)
            where = self.folder if self.name is None else self.folder / self.name
            raise BusyError(
                f"{where} is in use: another ofa-deploy process (PID {holder}) is writing this "
                f"{self.what}; wait for it to finish, or write elsewhere (--out)"
            )
        os.ftruncate(fd, 0)
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as e:  # the lock is held all the same; only the holder's PID is not on record
            if e.errno not in SPACE_ERRNOS:
                os.close(fd)
                raise
        _held[key] = [fd, 1]
        self._key = key
        sweep_stale(self.folder, again=True)  # what a killed writer of this folder staged and never renamed

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None or key not in _held:
            return
        _held[key][1] -= 1
        if _held[key][1] == 0:
            fd = _held.pop(key)[0]
            with contextlib.suppress(OSError):
                os.unlink(key)  # still locked: a newcomer either waits on this inode or sees it gone
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release()


@contextlib.contextmanager
def claimed(path: str | os.PathLike, wait: bool = True) -> Iterator[bool]:
    """A claim on the work that makes `path`, for files several processes may want at once (a cache entry):
    an exclusive `flock` on `<path>.claim`, held for the `with` block. Yields True; or False at once, holding
    nothing, when another process holds the claim and `wait` is False (do other work first, then ask again
    with `wait=True`). Whoever gets the claim checks again whether `path` exists: the holder before it may
    have made it. The claim file is removed on release (a process that opened it meanwhile finds, as
    `WriterLock` does, that it locked an unlinked file, and opens the new one); the kernel drops the claim of
    a process that dies."""
    claim = Path(path).with_name(Path(path).name + ".claim")
    claim.parent.mkdir(parents=True, exist_ok=True)
    fd, held = _flock_live(claim, wait)
    if not held:
        os.close(fd)
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(claim)  # still locked: a newcomer either waits on this inode or sees it gone
        os.close(fd)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "unknown"


def writer_lock(folder: str | os.PathLike, what: str = "folder", name: str | None = None) -> WriterLock:
    """Lock `folder` (created if needed), or the output `name` in it, for this process; `BusyError`
    naming the holder's PID if another process holds it."""
    return WriterLock(folder, what, name)


# ---- --out checks -----------------------------------------------------------------------------------
def ensure_writable(folder: str | os.PathLike) -> Path:
    """`OutputError` unless files can be created in `folder` (or, when it does not exist yet, in the
    nearest folder above it that does). Creates nothing: it is called before the work starts."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"cannot write {folder}: {probe} is a file, not a folder; choose another --out")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise OutputError(f"cannot write to {folder}: {probe} is not writable ({e.strerror or e}); choose "
                          "another --out or make the folder writable") from None
    return folder



__all__ = ["LOCK_NAME", "SPACE_ERRNOS", "WriterLock", "append_text", "atomic_path", "atomic_write_bytes",
           "atomic_write_text", "ensure_writable", "is_space_error", "no_space", "replace", "sha256_file", "space_error",
           "sweep_stale", "temp_sibling", "writer_lock"]
