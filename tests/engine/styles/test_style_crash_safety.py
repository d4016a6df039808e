"""Saving a style over an older one, a library change or a gallery rebuild that dies — by an
exception or by ``kill -9`` at a random moment — leaves the old version or the new one,
whole, and the next library open leaves no temporaries behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from style_helpers import entries, meta, small_cppn, tiny_thumb

from engine import atomic
from engine.errors import StyleError
from engine.styles import style as style_mod
from engine.styles.gallery import THUMBS, build_gallery
from engine.styles.library import Library
from engine.styles.style import read_style, write_style

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent

# One process pays for ``import torch`` once, then forks a writer per request: the writer
# saves the style at the given folder over itself in a loop, alternating two versions
# (name and seed go together, so a mixed folder shows), or SIGKILLs itself at its n-th
# rename. The style starts as "Old", saved before the fork.
ZYGOTE = r"""
import os, signal, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import torch
torch.set_num_threads(1)
from pathlib import Path
from style_helpers import meta, small_cppn, tiny_thumb
from engine.styles.style import write_style
versions = [(small_cppn(seed), meta(name, seed=seed)) for seed, name in ((1, "Old"), (2, "New"))]
print("ready", flush=True)
for line in sys.stdin:
    kill_at, folder = line.split(maxsplit=1)
    kill_at, folder = int(kill_at), Path(folder.strip())
    if not folder.exists():
        write_style(folder, *versions[0], tiny_thumb())
    pid = os.fork()
    if pid == 0:
        if kill_at:
            real, calls = os.rename, [0]
            def rename(a, b):
                calls[0] += 1
                if calls[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(a, b)
            os.rename = rename
        i = 1
        while True:
            write_style(folder, *versions[i % 2], tiny_thumb(), overwrite=True)
            i += 1
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print("dead" if os.WIFSIGNALED(status) else f"exit {status}", flush=True)
"""


@pytest.fixture(scope="module")
def zygote_proc():
    proc = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(ROOT), str(HERE)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def zygote(zygote_proc, tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    return zygote_proc, user


def _writer(proc, user: Path, kill_at: int = 0) -> int:
    proc.stdin.write(f"{kill_at} {user / 's'}\n")
    proc.stdin.flush()
    return int(proc.stdout.readline())


def _check_one_whole_style(user: Path) -> str:
    lib = Library(user, bundled_dir=None)  # opening it clears what the dead writer left
    assert entries(user) == ["s"]
    (style,) = lib.list()
    assert lib.problems == []
    seed = {"Old": 1, "New": 2}[style.name]
    assert style.meta["seed"] == seed
    want = small_cppn(seed).state_dict()
    got = style.load_cppn().state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)  # the weights of that version
    return style.name


def test_kill_9_at_random_moments_while_saving_over_a_style(zygote):
    proc, user = zygote
    rng = random.Random(1234)
    seen = set()
    for _ in range(8):
        pid = _writer(proc, user)
        os.kill(pid, 0)
        # A save takes a few ms: random moments land in every step of it over 8 kills.
        time.sleep(rng.uniform(0.05, 0.25))
        os.kill(pid, signal.SIGKILL)
        assert proc.stdout.readline().strip() == "dead"
        seen.add(_check_one_whole_style(user))
    assert seen <= {"Old", "New"}


@pytest.mark.parametrize("kill_at", [1, 2, 3])
def test_kill_9_at_each_rename_of_a_save(zygote, kill_at):
    """1: staging not yet in; 2: the old version set aside and the new not yet in (the
    worst moment: nothing at the style's name until the library puts the old one back);
    3: the new one in, the old one not yet removed."""
    proc, user = zygote
    _writer(proc, user, kill_at)
    assert proc.stdout.readline().strip() == "dead"
    if kill_at == 2:
        assert not (user / "s").exists()
    assert _check_one_whole_style(user) == ("New" if kill_at == 3 else "Old")


def test_an_exception_while_saving_over_a_style_keeps_the_old_one(tmp_path, monkeypatch):
    folder = tmp_path / "s"
    write_style(folder, small_cppn(1), meta("Old", seed=1), tiny_thumb())
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real, calls = style_mod._write_file, []

    def disk_full_on_second_file(path, data):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(style_mod, "_write_file", disk_full_on_second_file)
    with pytest.raises(StyleError, match="No space left"):
        write_style(folder, small_cppn(2), meta("New", seed=2), tiny_thumb(), overwrite=True)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert read_style(folder).name == "Old"
    assert [p.name for p in tmp_path.iterdir()] == ["s"]


def test_deleting_a_style_leaves_no_temporary(lib):
    lib.add(small_cppn(), meta("Gone"), tiny_thumb())
    lib.delete("gone")
    assert entries(lib.user_dir) == [] and lib.list() == []


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_gallery_whose_page_cannot_be_replaced_keeps_the_old_gallery(lib, tmp_path,
                                                                        monkeypatch):
    for i in range(3):
        lib.add(small_cppn(i), meta(f"Style {i}"), tiny_thumb())
    styles = lib.list()
    out = tmp_path / "gallery"
    build_gallery(styles[:1], out, title="Old")
    before = _snapshot(out)
    real = os.replace

    def page_fails(src, dst):
        if Path(dst).name == "index.html":
            # The thumbnails are already swapped in when the page follows them.
            assert len(list((out / THUMBS).iterdir())) == 3
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", page_fails)
    with pytest.raises(StyleError, match="Input/output error"):
        build_gallery(styles, out, title="New")
    monkeypatch.undo()
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["index.html", THUMBS]


def test_a_gallery_build_clears_what_a_killed_build_left(lib, tmp_path):
    lib.add(small_cppn(), meta("Only"), tiny_thumb())
    out = tmp_path / "gallery"
    build_gallery(lib.list(), out)
    killed = ("import os, sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
              "from engine import atomic; "
              "cm = atomic.scratch_folder(Path(sys.argv[2]) / 'gallery'); d = cm.__enter__(); "
              "(d / 'index.html').write_text('half'); os.kill(os.getpid(), 9)")
    run = subprocess.run([sys.executable, "-c", killed, str(ROOT), str(out)], timeout=60)
    assert run.returncode == -signal.SIGKILL
    assert len([p for p in out.iterdir() if atomic.is_temporary(p)]) == 1
    build_gallery(lib.list(), out)
    assert sorted(p.name for p in out.iterdir()) == ["index.html", THUMBS]


def test_a_killed_metadata_edit_leaves_nothing_inside_the_style(lib):
    st = lib.add(small_cppn(), meta("Edited"), tiny_thumb())
    half = atomic.temp_path(st.path / "style.json")  # what a kill mid-rename leaves
    half.write_text('{"name": "Hal')
    fresh = atomic.temp_path(st.path / "style.json")  # a live edit's, in another program
    fresh.write_text("{")
    past = time.time() - 3600
    os.utime(half, (past, past))
    Library(lib.user_dir, bundled_dir=None)
    assert sorted(p.name for p in st.path.iterdir()) == sorted(
        ["style.json", "thumb.png", "weights.safetensors", fresh.name])
