import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import atomic


def test_write_json_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    atomic.write_json(target, {"x": 1})
    atomic.write_json(target, {"x": 2, "name": "é"})
    assert target.read_text(encoding="utf-8") == '{\n  "x": 2,\n  "name": "é"\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_failure_inside_keeps_old_file_and_removes_temporary(tmp_path):
    target = tmp_path / "v.mp4"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_path(target, suffix=".mp4") as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_nan_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(ValueError):
        atomic.write_json(tmp_path / "n.json", {"x": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_written_file_is_not_private(tmp_path):
    target = atomic.write_bytes(tmp_path / "b.bin", b"1")
    assert os.stat(target).st_mode & 0o044  # readable by group/others under a normal umask


def test_stale_temporaries_are_found_and_removed_fresh_ones_kept(tmp_path):
    old = atomic.temp_path(tmp_path / "x.mp4", ".mp4")
    old.write_bytes(b"dead")
    past = time.time() - atomic.STALE_AFTER_S - 10
    os.utime(old, (past, past))
    fresh = atomic.temp_path(tmp_path / "y.mp4")
    fresh.write_bytes(b"live")
    (tmp_path / "keep.mp4").write_bytes(b"user")
    assert atomic.stale_temporaries(tmp_path) == [old]
    assert atomic.remove_stale_temporaries(tmp_path) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, "keep.mp4"])


# ---- folders -------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _fill(folder, text):
    (folder / "a.txt").write_text(text)
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text(text * 2)


def _read(folder):
    return ((folder / "a.txt").read_text(), (folder / "sub" / "b.txt").read_text())


def test_atomic_folder_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "style"
    with atomic.atomic_folder(target) as staging:
        assert staging.parent == tmp_path and atomic.is_temporary(staging)
        _fill(staging, "old")
    with atomic.atomic_folder(target) as staging:
        _fill(staging, "new")
        assert _read(target) == ("old", "oldold")  # readers see the old one until the swap
    assert _read(target) == ("new", "newnew")
    assert [p.name for p in tmp_path.iterdir()] == ["style"]


def test_atomic_folder_exception_keeps_old_and_removes_staging(tmp_path):
    target = tmp_path / "style"
    with atomic.atomic_folder(target) as staging:
        _fill(staging, "old")
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_folder(target) as staging:
            _fill(staging, "new")
            raise KeyboardInterrupt
    assert _read(target) == ("old", "oldold")
    assert [p.name for p in tmp_path.iterdir()] == ["style"]


def test_failed_swap_puts_the_old_version_back(tmp_path, monkeypatch):
    target = tmp_path / "style"
    with atomic.atomic_folder(target) as staging:
        _fill(staging, "old")
    real, calls = os.rename, []

    def second_rename_fails(a, b):
        calls.append((Path(a).name, Path(b).name))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(os, "rename", second_rename_fails)
    with pytest.raises(OSError, match="No space left"):
        with atomic.atomic_folder(target) as staging:
            _fill(staging, "new")
    monkeypatch.undo()
    assert calls[0][0] == "style" and atomic.held_target(tmp_path / calls[0][1]) == (
        "old", target)  # the old version was set aside under a name that says where it goes
    assert _read(target) == ("old", "oldold")
    assert [p.name for p in tmp_path.iterdir()] == ["style"]


def test_a_failing_second_step_undoes_the_swap(tmp_path):
    target = tmp_path / "thumbs"
    target.mkdir()
    (target / "1.png").write_text("old")
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "2.png").write_text("new")

    def page_fails():
        assert (target / "2.png").read_text() == "new"  # runs after the swap
        raise OSError(5, "I/O error")

    with pytest.raises(OSError, match="I/O error"):
        atomic.replace_folder(staging, target, then=page_fails)
    assert [p.name for p in target.iterdir()] == ["1.png"]
    assert [p.name for p in staging.iterdir()] == ["2.png"]  # the new one, back for cleanup
    assert sorted(p.name for p in tmp_path.iterdir()) == ["staging", "thumbs"]


def test_replace_folder_refuses_what_it_must_not_replace(tmp_path):
    staging = tmp_path / "new"
    staging.mkdir()
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        atomic.replace_folder(staging, tmp_path / "taken", overwrite=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        atomic.replace_folder(staging, tmp_path / "file")
    long_name = tmp_path / ("x" * 240)  # an aside could not carry its name whole
    long_name.mkdir()
    with pytest.raises(ValueError, match="too long"):
        atomic.replace_folder(staging, long_name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "new", "taken", "x" * 240]


def test_remove_folder_leaves_nothing(tmp_path):
    target = tmp_path / "style"
    target.mkdir()
    _fill(target, "x")
    atomic.remove_folder(target)
    assert list(tmp_path.iterdir()) == []


# A child that swaps a folder in and SIGKILLs itself just before its n-th os.rename (0: no
# kill). Python starts in ~50 ms without torch, so every crash point is tried for real.
CHILD = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from engine import atomic
target, kill_at, text = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
real, calls = os.rename, [0]
def rename(a, b):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(a, b)
os.rename = rename
with atomic.atomic_folder(target) as staging:
    (staging / "a.txt").write_text(text)
    (staging / "sub").mkdir()
    (staging / "sub" / "b.txt").write_text(text * 2)
    if kill_at < 0:
        print("holding", flush=True)
        sys.stdin.readline()
"""


def _child(target, kill_at, text, **kw):
    return subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(target), str(kill_at),
                           text], capture_output=True, text=True, timeout=60, **kw)


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4])
def test_a_kill_at_any_rename_leaves_old_or_new_after_cleanup(tmp_path, kill_at):
    target = tmp_path / "style"
    assert _child(target, 0, "old").returncode == 0
    run = _child(target, kill_at, "new")
    assert run.returncode == -signal.SIGKILL or (kill_at > 3 and run.returncode == 0), run
    left = [p for p in tmp_path.iterdir() if atomic.is_temporary(p)]
    if kill_at == 2:  # between setting the old aside and renaming the new in
        assert not target.exists() and len(left) == 2
    removed = atomic.remove_stale_temporaries(tmp_path)  # no waiting: the writer is dead
    assert sorted(removed) == sorted(left)
    assert _read(target) in (("old", "oldold"), ("new", "newnew"))
    if kill_at <= 2:
        assert _read(target) == ("old", "oldold")
    assert [p.name for p in tmp_path.iterdir()] == ["style"]


def test_a_live_writers_folder_is_never_stale_a_dead_ones_is_at_once(tmp_path):
    target = tmp_path / "style"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), str(target), "-1", "x"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "holding"
        (staging,) = [p for p in tmp_path.iterdir() if atomic.is_temporary(p)]
        past = time.time() - atomic.STALE_AFTER_S - 10
        os.utime(staging, (past, past))
        assert atomic.remove_stale_temporaries(tmp_path, older_than_s=0) == []
        assert staging.is_dir()  # old, but its writer holds it
        child.kill()
        child.wait(10)
        assert atomic.stale_temporaries(tmp_path) == [staging]  # fresh enough, but dead
        assert atomic.remove_stale_temporaries(tmp_path) == [staging]
        assert list(tmp_path.iterdir()) == []
    finally:
        child.kill()
        child.wait(10)


def test_a_cleaner_running_beside_live_writers_never_takes_their_folders(tmp_path):
    """Another program opening the library cleans while this one swaps: the locks must keep
    every staging and set-aside folder of a live writer out of its reach."""
    import threading

    stop, errors = threading.Event(), []

    def cleaner():
        while not stop.is_set():
            atomic.remove_stale_temporaries(tmp_path, older_than_s=3600)

    def writer(name):
        try:
            for i in range(40):
                with atomic.atomic_folder(tmp_path / name) as staging:
                    _fill(staging, f"{name}{i}")
                assert _read(tmp_path / name)[0] == f"{name}{i}"
        except BaseException as exc:  # reported below, with the thread's name
            errors.append((name, exc))

    threads = [threading.Thread(target=cleaner)] + [
        threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join(60)
    stop.set()
    threads[0].join(60)
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
