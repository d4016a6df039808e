from pathlib import Path

from engine import paths


def test_environment_moves_each_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("SONOLUME_LIBRARY", str(tmp_path / "lib"))
    monkeypatch.setenv("SONOLUME_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SONOLUME_CONFIG_DIR", str(tmp_path / "cfg"))
    assert paths.library_dir() == tmp_path / "lib"
    assert paths.presets_dir() == tmp_path / "lib" / "reactivity"
    assert paths.shows_dir() == tmp_path / "lib" / "shows"
    assert paths.runs_dir() == tmp_path / "runs"
    assert paths.nerv_runs_dir() == tmp_path / "runs" / "nerv"
    assert paths.cache_dir("audio") == tmp_path / "cache" / "audio"
    assert paths.config_dir() == tmp_path / "cfg"


def test_explicit_folder_beats_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SONOLUME_LIBRARY", str(tmp_path / "env"))
    assert paths.library_dir(tmp_path / "mine") == tmp_path / "mine"
    assert paths.presets_dir(tmp_path / "mine") == tmp_path / "mine" / "reactivity"


def test_old_cache_variable_still_honoured(monkeypatch, tmp_path):
    monkeypatch.delenv("SONOLUME_CACHE_DIR", raising=False)
    monkeypatch.setenv("SONOLUME_CACHE", str(tmp_path / "old"))
    assert paths.cache_root() == Path(tmp_path / "old")


def test_folder_variables_are_read_only_here():
    """One home for "where does X live": no other module names these variables in code
    (help texts may mention them as $NAME)."""
    import re

    root = Path(__file__).resolve().parents[2]
    names = {paths.LIBRARY_ENV, paths.RUNS_ENV, paths.CACHE_ENV, paths.CACHE_ENV_OLD,
             paths.CONFIG_ENV, paths.LOG_ENV}
    alternatives = "|".join(sorted(names))
    pattern = re.compile(rf"""["']({alternatives})["']""")
    offenders = []
    for folder in ("engine", "app"):
        for py in sorted((root / folder).rglob("*.py")):
            if py == root / "engine" / "paths.py":
                continue
            for n, line in enumerate(py.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{py.relative_to(root)}:{n}: {line.strip()}")
    assert offenders == []


def test_log_file_follows_its_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.LOG_ENV, str(tmp_path / "x.log"))
    assert paths.log_file() == tmp_path / "x.log"
    monkeypatch.delenv(paths.LOG_ENV)
    assert paths.log_file().name == "sonolume.log"
    assert paths.log_file().parent != tmp_path
