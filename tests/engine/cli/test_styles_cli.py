"""``sonolume styles ...`` end to end: exit codes, one-line errors, JSON output."""

import io
import json
import sys

import pytest

from engine.cli.main import main
from engine.cppn.model import CPPN, CPPNConfig
from engine.styles.library import Library


@pytest.fixture
def lib(library_dir):
    lib = Library(library_dir)
    small = CPPNConfig(hidden=16, layers=2, extra_inputs=2)
    lib.add(CPPN(small, seed=1), {"name": "Forest floor", "trained": True,
                                   "prompts": ["mossy forest floor"], "score": 0.2,
                                   "clip": {"model": "RN50", "pretrained": "openai"}})
    lib.add(CPPN(small, seed=2), {"name": "Test jelly", "trained": True,
                                   "prompts": ["neon jellyfish"],
                                   "clip": {"model": "tiny-clip", "random": True}})
    return lib


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("sonolume: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_list_and_json(lib, capsys):
    code, out, err = run(capsys, "styles", "list")
    assert code == 0 and err == ""
    assert "Forest floor" in out and "Seeded pattern 01" in out and "RANDOM-CLIP" in out
    code, out, _ = run(capsys, "styles", "list", "--json")
    data = json.loads(out)
    assert code == 0 and {d["id"] for d in data} >= {"forest-floor", "test-jelly"}
    jelly = next(d for d in data if d["id"] == "test-jelly")
    assert jelly["clip"]["random"] is True and "random" in jelly["clip_label"].lower()
    assert sum(d["readonly"] for d in data) >= 8


def test_show(lib, capsys):
    code, out, _ = run(capsys, "styles", "show", "forest floor")
    assert code == 0 and "mossy forest floor" in out and "RN50/openai" in out
    code, out, _ = run(capsys, "styles", "show", "test-jelly", "--json")
    assert code == 0 and json.loads(out)["name"] == "Test jelly"
    code, _, err = run(capsys, "styles", "show", "forrest flor")
    assert code == 2 and "did you mean: Forest floor (forest-floor)" in one_line_error(err)
    code, _, err = run(capsys, "styles", "show", "")
    assert code == 2 and "empty" in one_line_error(err)


def test_search(lib, capsys, tiny_clip_config):
    code, out, _ = run(capsys, "styles", "search", "jelly", "--json")
    assert code == 0 and [d["id"] for d in json.loads(out)] == ["test-jelly"]
    code, out, _ = run(capsys, "styles", "search", "no-such-thing")
    assert code == 0 and "no styles match" in out
    code, out, err = run(capsys, "styles", "search", "neon jellyfish", "--semantic",
                         "--clip-config", str(tiny_clip_config), "--json", "--top", "3")
    data = json.loads(out)
    assert code == 0 and len(data) == 3 and data[0]["id"] == "test-jelly"
    assert data[0]["match_clip_random"] is True and "RANDOM" in err
    code, _, err = run(capsys, "styles", "search", "x", "--semantic", "--clip-config",
                       "/no/such.json")
    assert code == 2 and "not found" in one_line_error(err)


def test_rename_duplicate_fav_rm(lib, capsys, monkeypatch):
    assert run(capsys, "styles", "rename", "forest-floor", "Moss")[0] == 0
    assert Library().get("forest-floor").name == "Moss"
    code, _, err = run(capsys, "styles", "rename", "forest-floor", "test jelly")
    assert code == 2 and "already exists" in one_line_error(err)
    code, _, err = run(capsys, "styles", "rename", "seeded-pattern-01-ember-rings", "Mine")
    assert code == 2 and "read-only; duplicate it first" in one_line_error(err)
    code, out, _ = run(capsys, "styles", "duplicate", "seeded-pattern-01-ember-rings")
    assert code == 0 and "Seeded pattern 01 - Ember rings (copy)" in out
    assert run(capsys, "styles", "duplicate", "moss", "Moss two")[0] == 0
    assert run(capsys, "styles", "fav", "moss")[0] == 0 and Library().get("moss").favourite
    assert run(capsys, "styles", "fav", "moss", "--off")[0] == 0
    assert not Library().get("moss").favourite
    # rm: non-interactive input needs --yes
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    code, _, err = run(capsys, "styles", "rm", "moss-two")
    assert code == 2 and "--yes" in one_line_error(err)
    assert run(capsys, "styles", "rm", "moss-two", "--yes")[0] == 0
    code, _, err = run(capsys, "styles", "rm", "moss-two", "--yes")
    assert code == 2 and "unknown style" in one_line_error(err)
    code, _, err = run(capsys, "styles", "rm", "seeded-pattern-02-deep-ocean-swirl", "--yes")
    assert code == 2 and "read-only" in one_line_error(err)


def test_rm_asks_on_a_terminal(lib, capsys, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Tty("n\n"))
    assert run(capsys, "styles", "rm", "forest-floor")[0] == 1
    assert Library().get("forest-floor")
    monkeypatch.setattr(sys, "stdin", Tty("y\n"))
    assert run(capsys, "styles", "rm", "forest-floor")[0] == 0
    assert "forest-floor" not in {s.id for s in Library().list()}


def test_export_import(lib, capsys, tmp_path):
    share = tmp_path / "jelly.sonolume"
    assert run(capsys, "styles", "export", "test-jelly", "-o", str(share))[0] == 0
    code, out, _ = run(capsys, "styles", "import", str(share), "--name", "Shared jelly")
    assert code == 0 and "Shared jelly" in out
    code, _, err = run(capsys, "styles", "export", "test-jelly", "-o", "/no/such/dir/x.sonolume")
    assert code == 2 and "does not exist" in one_line_error(err)
    bad = tmp_path / "bad.sonolume"
    bad.write_bytes(b"PK\x03\x04 broken")
    code, _, err = run(capsys, "styles", "import", str(bad))
    assert code == 2 and "bad.sonolume" in one_line_error(err)
    code, _, err = run(capsys, "styles", "import", str(tmp_path / "missing.sonolume"))
    assert code == 2 and "not found" in one_line_error(err)
    code, _, err = run(capsys, "styles", "import", str(share), "--name", "  ")
    assert code == 2 and "empty" in one_line_error(err)


def test_import_legacy_pth(library_dir, capsys, tmp_path):
    import torch

    path = tmp_path / "old_style.pth"
    torch.save(CPPN(CPPNConfig(hidden=8, layers=2, extra_inputs=0)).state_dict(), path)
    code, out, _ = run(capsys, "styles", "import", str(path))
    assert code == 0 and "old_style" in out
    assert Library().get("old_style").meta["extra"]["imported"] is True


def test_corrupt_style_is_reported_not_fatal(lib, capsys):
    (lib.get("forest-floor").path / "weights.safetensors").write_bytes(b"junk")
    code, out, err = run(capsys, "styles", "list")
    assert code == 0 and "Test jelly" in out
    assert "warning: skipped broken style 'forest-floor'" in err
    code, _, err = run(capsys, "styles", "show", "forest-floor")
    assert code == 2 and "is broken" in one_line_error(err)
    code, _, err = run(capsys, "still", "forest-floor", "-o", "x.png")
    assert code == 2 and "is broken" in one_line_error(err)


def test_library_option_overrides_env(tmp_path, library_dir, capsys):
    other = tmp_path / "other"
    code, out, _ = run(capsys, "--library", str(other), "styles", "list")
    assert code == 0 and str(other) in out


def test_a_broken_style_can_be_removed(lib, capsys):
    junk = lib.user_dir / "half-copied"
    junk.mkdir()
    (junk / "style.json").write_text("{")
    code, _, err = run(capsys, "styles", "list")
    assert code == 0 and "skipped broken style 'half-copied'" in err
    code, out, err = run(capsys, "styles", "rm", "half-copied", "--yes")
    assert code == 0 and "deleted" in out and not junk.exists()
    assert run(capsys, "styles", "list")[2] == ""


def test_the_reactivity_folder_is_not_a_broken_style(lib, capsys):
    (lib.user_dir / "reactivity").mkdir()
    (lib.user_dir / "reactivity" / "mine.json").write_text("{}")
    (lib.user_dir / "shows").mkdir()
    code, out, err = run(capsys, "styles", "list")
    assert code == 0 and err == "" and "Forest floor" in out


def test_export_to_a_read_only_file_system_is_one_line(lib, capsys, tmp_path, monkeypatch):
    import errno
    import zipfile
    from pathlib import Path

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(zipfile, "ZipFile", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    code, _, err = run(capsys, "styles", "export", "test-jelly", "-o", str(tmp_path / "x"))
    assert code == 2 and "Read-only file system" in one_line_error(err)
