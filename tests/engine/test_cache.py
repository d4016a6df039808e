from pathlib import Path

from engine.audio.analyze import default_cache_dir as audio_cache
from engine.cache import cache_dir
from engine.nerv.targets import default_cache_dir as nerv_cache
from engine.spatial.maps import default_cache_dir as spatial_cache


def test_every_cache_lives_under_one_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("SONOLUME_CACHE", raising=False)
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path))
    assert {audio_cache(), spatial_cache(), nerv_cache()} == {
        tmp_path / "audio", tmp_path / "spatial", tmp_path / "nerv-targets"}


def test_old_name_is_honoured_and_the_documented_one_wins(monkeypatch, tmp_path):
    monkeypatch.delenv("SONOLUME_CACHE_DIR", raising=False)
    monkeypatch.setenv("SONOLUME_CACHE", str(tmp_path / "old"))
    assert cache_dir("spatial") == tmp_path / "old" / "spatial"
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "new"))
    assert cache_dir("spatial") == tmp_path / "new" / "spatial"


def test_default_is_the_platform_cache_folder(monkeypatch):
    import platformdirs

    monkeypatch.delenv("SONOLUME_CACHE_DIR", raising=False)
    monkeypatch.delenv("SONOLUME_CACHE", raising=False)
    expected = Path(platformdirs.user_cache_dir("sonolume", appauthor=False)) / "audio"
    assert cache_dir("audio") == expected
