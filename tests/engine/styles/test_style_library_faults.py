"""Faults found trying the library as a new user would (issue 10): each test failed before
its fix."""

import errno
import json
import os
import shutil
import threading
import time
import zipfile
from pathlib import Path

import pytest
from style_helpers import entries, meta, small_cppn, tiny_thumb

from engine import atomic, paths
from engine.errors import StyleError
from engine.styles import library as library_mod
from engine.styles.library import Library
from engine.styles.style import write_style


def add(lib, name="Sunset"):
    return lib.add(small_cppn(len(name)), meta(name), tiny_thumb())


def test_export_to_a_read_only_file_system_is_one_clear_error(lib, tmp_path, monkeypatch):
    add(lib, "Sunset")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    # On a read-only mount even unlinking a file that was never created fails with EROFS.
    monkeypatch.setattr(zipfile, "ZipFile", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(StyleError, match="Read-only file system"):
        lib.export_share("sunset", tmp_path / "out.sonolume")


def test_a_broken_user_style_can_be_removed(lib):
    add(lib, "Good")
    junk = lib.user_dir / "junk"
    junk.mkdir()
    (junk / "style.json").write_text("{not json")
    assert [s.id for s in lib.list()] == ["good"] and "junk" in lib.broken
    with pytest.raises(StyleError, match="is broken"):
        lib.get("junk")
    lib.delete("junk")
    assert not junk.exists() and lib.list() and lib.problems == []


def test_a_broken_bundled_style_is_still_not_removable(tmp_path):
    bundled = tmp_path / "bundled"
    (bundled / "cracked").mkdir(parents=True)
    lib = Library(tmp_path / "user", bundled_dir=bundled)
    lib.list()
    with pytest.raises(StyleError, match="broken"):
        lib.delete("cracked")
    assert (bundled / "cracked").is_dir()


def test_a_user_copy_of_a_bundled_style_is_listed_once_and_removable(tmp_path):
    bundled = tmp_path / "bundled"
    write_style(bundled / "shipped", small_cppn(), {"name": "Shipped"}, tiny_thumb())
    user = tmp_path / "user"
    user.mkdir()
    shutil.copytree(bundled / "shipped", user / "shipped")  # copied in by hand
    lib = Library(user, bundled_dir=bundled)
    listed = [s for s in lib.list() if s.id == "shipped"]
    assert len(listed) == 1 and not listed[0].readonly
    assert not lib.get("Shipped").readonly  # by name: not "names several styles"
    lib.rename("shipped", "My shipped")
    lib.delete("shipped")
    assert not (user / "shipped").exists()
    back = lib.get("shipped")
    assert back.readonly and back.name == "Shipped"


def test_reserved_folders_are_not_styles(lib):
    add(lib, "Sunset")
    (paths.presets_dir(lib.user_dir)).mkdir()
    (paths.presets_dir(lib.user_dir) / "calm.json").write_text("{}")
    (paths.shows_dir(lib.user_dir)).mkdir()
    assert [s.id for s in lib.list()] == ["sunset"]
    assert lib.problems == [] and lib.broken == {}
    st = add(lib, "Reactivity")  # its slug must not take the presets folder
    assert st.id not in paths.LIBRARY_RESERVED
    assert (lib.user_dir / "reactivity" / "calm.json").exists()


def test_stale_temporaries_are_removed_when_the_library_opens(lib):
    add(lib, "Keep")
    presets = paths.presets_dir(lib.user_dir)
    presets.mkdir()
    stale_dir = atomic.temp_path(lib.user_dir / "half")
    stale_dir.mkdir()
    (stale_dir / "weights.safetensors").write_bytes(b"partial")
    stale_file = atomic.temp_path(presets / "calm.json")
    stale_file.write_text("{")
    fresh = atomic.temp_path(lib.user_dir / "busy")
    fresh.mkdir()
    past = time.time() - library_mod.STALE_TEMP_SECONDS - 5
    for p in (stale_dir, stale_file):
        os.utime(p, (past, past))
    lib = Library(lib.user_dir, bundled_dir=None)
    assert not stale_dir.exists() and not stale_file.exists()
    assert fresh.exists()  # may belong to a live writer
    assert [s.id for s in lib.list()] == ["keep"]


def test_two_renames_to_one_name_cannot_both_succeed(tmp_path, monkeypatch):
    user = tmp_path / "user"
    first = Library(user, bundled_dir=None)
    add(first, "Alpha")
    add(first, "Beta")
    second = Library(user, bundled_dir=None)  # another program on the same library
    real_names = Library._names

    def slow_names(self, exclude=None):
        names = real_names(self, exclude)
        time.sleep(0.3)  # widen the window between the check and the write
        return names

    monkeypatch.setattr(Library, "_names", slow_names)
    outcomes = []

    def rename(lib, key):
        try:
            lib.rename(key, "Same")
            outcomes.append("ok")
        except StyleError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=rename, args=(first, "alpha")),
               threading.Thread(target=rename, args=(second, "beta"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes)[1] == "ok" and "already exists" in sorted(outcomes)[0]
    names = [json.loads((user / i / "style.json").read_text())["name"] for i in ("alpha", "beta")]
    assert sorted(names).count("Same") == 1


def test_a_held_lock_gives_a_clear_error_after_a_short_wait(lib, monkeypatch):
    fcntl = pytest.importorskip("fcntl")
    add(lib, "Sunset")
    monkeypatch.setattr(library_mod, "LOCK_TIMEOUT_S", 0.2)
    with open(lib.user_dir / library_mod.LOCK_FILE, "a+b") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        t0 = time.monotonic()
        with pytest.raises(StyleError, match="is busy"):
            Library(lib.user_dir, bundled_dir=None).rename("sunset", "Dusk")
        assert time.monotonic() - t0 < 5
    assert lib.rename("sunset", "Dusk").name == "Dusk"  # free again
    assert entries(lib.user_dir) == ["sunset"]


def test_a_file_system_without_locks_still_lets_the_library_change(lib, monkeypatch):
    def no_locks(fh):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(library_mod, "_lock_nonblocking", no_locks)
    add(lib, "Sunset")
    assert lib.rename("sunset", "Dusk").name == "Dusk"
