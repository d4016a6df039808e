"""Every file Sonolume writes appears whole or not at all.

A crash, Ctrl-C, ``kill -9`` or a full disk must never leave a half-written style, video,
cache entry or checkpoint at the path a reader looks at. The one recipe: write a temporary
file next to the target (same folder, so the rename cannot cross file systems), flush and
fsync it, ``os.replace`` it over the target, and remove the temporary on any failure.

Temporaries share one name scheme, ``.sonolume-tmp-<random>-<target name>``, so the next
run can find what a ``kill -9`` left behind (:func:`stale_temporaries`) and remove it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".sonolume-tmp-"
# A temporary older than this belongs to a dead process: no write of ours takes longer than
# a render, and a render touches its temporary every few frames.
STALE_AFTER_S = 6 * 3600


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


def stale_temporaries(folder: Path | str, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Temporaries in ``folder`` (not recursive) that no live write can still own."""
    folder = Path(folder)
    now = time.time()
    found = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    for p in entries:
        if not p.name.startswith(TEMP_PREFIX):
            continue
        with contextlib.suppress(OSError):
            if now - p.lstat().st_mtime > older_than_s:
                found.append(p)
    return sorted(found)


def remove_stale_temporaries(folder: Path | str,
                             older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove what :func:`stale_temporaries` finds (files and folders); returns what went."""
    import shutil

    removed = []
    for p in stale_temporaries(folder, older_than_s):
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


def _read_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which is not thread-safe.
    current = os.umask(0o022)
    os.umask(current)
    return current


_UMASK = _read_umask()
