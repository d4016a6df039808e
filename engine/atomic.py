"""Every file Sonolume writes appears whole or not at all.

A crash, Ctrl-C, ``kill -9`` or a full disk must never leave a half-written style, video,
cache entry or checkpoint at the path a reader looks at. The one recipe: write a temporary
file next to the target (same folder, so the rename cannot cross file systems), flush and
fsync it, ``os.replace`` it over the target, and remove the temporary on any failure.

Temporaries share one name scheme, ``.sonolume-tmp-<random>-<target name>``, so the next
run can find what a ``kill -9`` left behind (:func:`stale_temporaries`) and remove it.

Folders (a style, a gallery's thumbnails) are swapped the same way by :func:`atomic_folder`
and :func:`replace_folder`: built in a staging folder beside the target, the previous
version moved aside, the new one renamed in, the aside removed. Their temporaries are
*held*: the writing process keeps an ``flock`` on each one, so the next run tells a dead
writer's leftovers from a live one's at once instead of waiting hours, and puts back a
previous version that a kill left moved aside (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".sonolume-tmp-"
# A temporary older than this belongs to a dead process: no write of ours takes longer than
# a render, and a render touches its temporary every few frames.
STALE_AFTER_S = 6 * 3600
# Held folder temporaries: ``new`` stages a folder being built, ``old`` is the previous
# version moved aside during a swap (put back if a kill leaves its target missing), ``del``
# is on its way out and never put back. The tag sits where a plain temporary has its hex,
# so the two schemes cannot be confused.
_HELD = re.compile(r"\.sonolume-tmp-(new|old|del)-[0-9a-f]{10}-(.+)\Z", re.DOTALL)
NAME_MAX = 255
# How long a swap waits for another program that is swapping the same folder.
HOLD_WAIT_S = 10.0


def temp_path(target: Path | str, suffix: str = "") -> Path:
    """A fresh temporary name beside ``target`` (not created). ``suffix`` keeps an extension
    tools read (ffmpeg picks its muxer from ``.mp4``); the name stays under 255 bytes."""
    target = Path(target)
    name = f"{TEMP_PREFIX}{uuid.uuid4().hex[:10]}-{target.name}"[:200]
    return target.with_name(name + suffix)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk; not all systems allow it.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str = "", mode: int | None = 0o644,
                fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to fill; on a clean exit it replaces ``target``.

    Use it where a library writes the file itself (``np.savez``, ``safetensors``, ffmpeg).
    On any exception, ``KeyboardInterrupt`` included, the temporary is removed and
    ``target`` is untouched. ``mode`` undoes ``mkstemp``-style private permissions."""
    target = Path(target)
    tmp = temp_path(target, suffix)
    try:
        yield tmp
        commit(tmp, target, mode=mode, fsync=fsync)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def commit(tmp: Path | str, target: Path | str, mode: int | None = 0o644,
           fsync: bool = True) -> Path:
    """Put a finished temporary in ``target``'s place: flushed to disk, readable as a normal
    file (``mode`` less the umask), renamed over the target. For writers that manage their
    temporary themselves (a render streaming into ffmpeg for minutes); the caller removes
    the temporary when anything fails before this."""
    tmp, target = Path(tmp), Path(target)
    if fsync and tmp.is_file():
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    if mode is not None and tmp.is_file():
        os.chmod(tmp, mode & ~_UMASK)
    os.replace(tmp, target)
    if fsync:
        _fsync_dir(target.parent)
    return target


def write_bytes(target: Path | str, data: bytes) -> Path:
    """Replace ``target`` with ``data`` atomically; returns the target path."""
    target = Path(target)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return target


def write_text(target: Path | str, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: Path | str, data, indent: int | None = 2) -> Path:
    """JSON as people read it (UTF-8, not ASCII-escaped), with a final newline. NaN and
    infinities are refused: they are not JSON and other readers choke on them."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)
    return write_text(target, text + "\n")


def is_temporary(path: Path | str) -> bool:
    return Path(path).name.startswith(TEMP_PREFIX)


def _claim(path: Path, older_than_s: float, now: float) -> tuple[bool, int | None]:
    """``(stale, fd)``: whether no live writer owns the temporary ``path``; for a held
    folder, ``fd`` keeps it locked while the caller removes or restores it."""
    if held_target(path) is not None and path.is_dir() and not path.is_symlink():
        fd = _open_dir(path)
        if fd is not None:
            got = _try_lock(fd)
            if got is not None:
                if got and _still_at(fd, path):
                    return True, fd  # its writer died: the kernel let go of its lock
                _close(fd)
                return False, None
            _close(fd)
    try:
        return now - path.lstat().st_mtime > older_than_s, None
    except OSError:
        return False, None


def _temporaries(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX))
    except OSError:
        return []


def stale_temporaries(folder: Path | str, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Temporaries in ``folder`` (not recursive) that no live write can still own: held
    folders whose writer has died, and any other temporary older than ``older_than_s``."""
    now = time.time()
    found = []
    for p in _temporaries(Path(folder)):
        stale, fd = _claim(p, older_than_s, now)
        _close(fd)
        if stale:
            found.append(p)
    return found


def remove_stale_temporaries(folder: Path | str,
                             older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove what :func:`stale_temporaries` finds (files and folders); returns what went.

    A previous version that a killed swap left moved aside, with nothing at its own name,
    is renamed back instead of removed: the reader then finds the old version whole."""
    now = time.time()
    removed = []
    # Asides first: one may have to go back before a staging folder of the same target goes.
    entries = sorted(_temporaries(Path(folder)),
                     key=lambda p: (held_target(p) or ("",))[0] != "old")
    for p in entries:
        stale, fd = _claim(p, older_than_s, now)
        if not stale:
            continue
        try:
            held = held_target(p)
            if held is not None and held[0] == "old" and not os.path.lexists(held[1]):
                os.rename(p, held[1])
                _fsync_dir(p.parent)
            elif p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            continue
        finally:
            _close(fd)
    return removed


# ---- folders -------------------------------------------------------------------------


def _held_name(target: Path, tag: str) -> Path:
    name = f"{TEMP_PREFIX}{tag}-{uuid.uuid4().hex[:10]}-{target.name}"
    if tag != "old":
        return target.with_name(name[:200])
    if len(os.fsencode(name)) > NAME_MAX:
        # The aside's name is how a later run finds where to put it back: it must be whole.
        raise ValueError(f"cannot swap {target}: its name is too long to set aside safely "
                         f"(at most {NAME_MAX - len(name) + len(target.name)} bytes)")
    return target.with_name(name)


def held_target(path: Path | str) -> tuple[str, Path] | None:
    """``(tag, target)`` for a held folder temporary (``new``/``old``/``del``), else None."""
    path = Path(path)
    m = _HELD.match(path.name)
    return (m.group(1), path.with_name(m.group(2))) if m else None


def _open_dir(path: Path) -> int | None:
    # None where folders cannot be opened (Windows): those fall back on the age rule.
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None


def _try_lock(fd: int) -> bool | None:
    """True: ours now; False: another open file holds it; None: no locks here."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return None  # ENOLCK and friends: a file system without locks


def _still_at(fd: int, path: Path) -> bool:
    """Whether the folder open as ``fd`` is still the one at ``path`` (not removed or
    swapped away between our open and our lock)."""
    try:
        mine, there = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return mine.st_nlink > 0 and (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _make_held(target: Path, tag: str) -> tuple[Path, int | None]:
    """Create an empty held folder beside ``target`` and lock it; its fd keeps it ours.

    A cleaner in another process may find the folder between our mkdir and our lock and
    take it for a dead writer's; it locks before removing, so we see that (lock refused,
    or the folder gone) and start again under a new name."""
    for _ in range(8):
        path = _held_name(target, tag)
        path.mkdir()
        fd = _open_dir(path)
        if fd is None:
            if path.is_dir():
                return path, None
            continue
        got = _try_lock(fd)
        if got is not False and _still_at(fd, path):
            return path, fd
        _close(fd)
    raise OSError(errno.EBUSY, f"cannot create a temporary folder beside {target}: "
                               "another program keeps removing it")


def _hold_existing(target: Path, wait_s: float = HOLD_WAIT_S) -> int | None:
    """Lock the folder at ``target`` before it is moved aside, so the aside is held from
    its first instant. Waits for another program swapping the same folder."""
    deadline = time.monotonic() + wait_s
    while True:
        fd = _open_dir(target)
        if fd is None:
            return None
        got = _try_lock(fd)
        if got is None:
            return fd
        if got and _still_at(fd, target):
            return fd
        _close(fd)
        if not got and time.monotonic() >= deadline:
            raise OSError(errno.EBUSY, f"{target} is being replaced by another program")
        time.sleep(0.02 if not got else 0)


def _fsync_tree(folder: Path) -> None:
    """Flush every file under ``folder``, then the folders themselves (deepest first), so
    the swapped-in folder is on disk whole before its new name is."""
    for root, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def _discard(path: Path, fd: int | None = None) -> None:
    """Remove a held folder we own: renamed to a ``del`` name first, so a kill halfway
    through the removal can never leave a partial copy that looks restorable."""
    with contextlib.suppress(OSError, ValueError):
        trash = _held_name(path, "del") if held_target(path) is None else \
            _held_name(held_target(path)[1], "del")
        os.rename(path, trash)
        path = trash
    shutil.rmtree(path, ignore_errors=True)
    _close(fd)


def replace_folder(staging: Path | str, target: Path | str, *, overwrite: bool = True,
                   then=None, fsync: bool = True) -> Path:
    """Swap the finished folder ``staging`` in as ``target``; returns ``target``.

    The previous ``target`` is moved aside under a held name, the new one renamed in, the
    parent folder flushed, and only then is the old one removed. If anything fails the
    previous version is put back; if the process is killed between the two renames, the
    next :func:`remove_stale_temporaries` puts it back. ``then`` runs after the swap and
    before the old version goes: a second step that must succeed with it (a page that
    names the new files); if it raises, the swap is undone and ``staging`` holds the new
    version again. ``overwrite=False`` refuses an existing target (``FileExistsError``)."""
    staging, target = Path(staging), Path(target)
    if not staging.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "staging folder not found", str(staging))
    if fsync:
        _fsync_tree(staging)
    aside, aside_fd = None, None
    try:
        if os.path.lexists(target):
            if not overwrite:
                raise FileExistsError(errno.EEXIST, "already exists", str(target))
            if target.is_symlink() or not target.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "not a folder; refusing to replace it",
                                         str(target))
            aside_fd = _hold_existing(target)
            aside = _held_name(target, "old")
            os.rename(target, aside)
        swapped = False
        try:
            os.rename(staging, target)
            swapped = True
            if fsync:
                _fsync_dir(target.parent)
            if then is not None:
                then()
        except BaseException:
            if swapped:
                with contextlib.suppress(OSError):
                    os.rename(target, staging)
            if aside is not None and not os.path.lexists(target):
                with contextlib.suppress(OSError):
                    os.rename(aside, target)
                    aside = None
                    if fsync:
                        _fsync_dir(target.parent)
            raise
    finally:
        if aside is not None and os.path.lexists(target):
            _discard(aside, aside_fd)  # the previous version is no longer needed
        else:
            # Nothing set aside, or it could not go back: unlocked, the next clean-up
            # puts it back where it belongs.
            _close(aside_fd)
    return target


@contextlib.contextmanager
def atomic_folder(target: Path | str, *, overwrite: bool = True,
                  fsync: bool = True) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target`` to fill; on a clean exit it replaces
    ``target`` (see :func:`replace_folder`). On any exception, ``KeyboardInterrupt``
    included, the staging folder is removed and ``target`` is untouched."""
    target = Path(target)
    staging, fd = _make_held(target, "new")
    try:
        yield staging
        replace_folder(staging, target, overwrite=overwrite, fsync=fsync)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already after a swap
        _close(fd)


@contextlib.contextmanager
def scratch_folder(beside: Path | str) -> Iterator[Path]:
    """A held, empty working folder next to ``beside`` (same file system, so what is built
    in it can be renamed into place), removed on exit whatever happens."""
    staging, fd = _make_held(Path(beside), "new")
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _close(fd)


def remove_folder(target: Path | str) -> None:
    """Delete a folder so it vanishes at once under its name (one rename), even when its
    contents take a while to remove or the removal is killed halfway."""
    target = Path(target)
    fd = _hold_existing(target)
    try:
        trash = _held_name(target, "del")
        os.rename(target, trash)
    except BaseException:
        _close(fd)
        raise
    _fsync_dir(target.parent)
    shutil.rmtree(trash, ignore_errors=True)
    _close(fd)


def _read_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which is not thread-safe.
    current = os.umask(0o022)
    os.umask(current)
    return current


_UMASK = _read_umask()
