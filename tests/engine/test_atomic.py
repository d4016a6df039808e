import os
import time

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
