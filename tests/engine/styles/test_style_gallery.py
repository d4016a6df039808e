"""The gallery is written whole or not at all (issue 10: a full disk left half a folder)."""

import errno
from pathlib import Path

import pytest
from style_helpers import meta, small_cppn, tiny_thumb

from engine.errors import StyleError
from engine.styles.gallery import build_gallery


def _styles(lib, n=3):
    for i in range(n):
        lib.add(small_cppn(i), meta(f"Style {i}"), tiny_thumb())
    return lib.list()


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _disk_fills_after(monkeypatch, n_writes):
    real = Path.write_bytes
    count = {"n": 0}

    def write_bytes(self, data):
        count["n"] += 1
        if count["n"] > n_writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_a_full_disk_leaves_no_new_gallery_folder(lib, tmp_path, monkeypatch):
    styles = _styles(lib)
    out = tmp_path / "site" / "gallery"
    _disk_fills_after(monkeypatch, 1)
    with pytest.raises(StyleError, match="No space left"):
        build_gallery(styles, out)
    assert not (tmp_path / "site").exists()


def test_a_full_disk_keeps_the_previous_gallery(lib, tmp_path, monkeypatch):
    styles = _styles(lib)
    out = tmp_path / "gallery"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a user's own file beside the gallery
    build_gallery(styles[1:], out, title="Old")
    before = _snapshot(out)
    _disk_fills_after(monkeypatch, 2)
    with pytest.raises(StyleError, match="No space left"):
        build_gallery(styles, out, title="New")
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "notes.txt", "thumbs"]


def test_a_rebuild_replaces_thumbs_and_keeps_other_files(lib, tmp_path):
    styles = _styles(lib)
    out = tmp_path / "gallery"
    build_gallery(styles, out)
    assert len(list((out / "thumbs").iterdir())) == 3
    (out / "notes.txt").write_text("mine")
    index = build_gallery(styles[:1], out, title="One")
    assert [p.name for p in (out / "thumbs").iterdir()] == [f"000-{styles[0].id}.png"]
    assert "One" in index.read_text() and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "notes.txt", "thumbs"]
