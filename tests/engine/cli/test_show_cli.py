"""``sonolume show new|auto|info`` and ``sonolume render SHOW.json`` on a short track."""

import shutil

import numpy as np
import pytest

from engine.cli.main import main
from engine.export import probe

A, B, C = ("seeded-pattern-01-ember-rings", "seeded-pattern-02-deep-ocean-swirl",
           "seeded-pattern-03-violet-nebula")


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    """8 s at 120 BPM: kicks (accented on each bar's first beat) over a chord."""
    import soundfile as sf

    sr = 22050
    t = np.arange(int(8.0 * sr)) / sr
    y = sum(0.06 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    for k, b in enumerate(np.arange(0.0, 8.0, 0.5)):
        m = (t >= b) & (t < b + 0.15)
        gain = 0.9 if k % 4 == 0 else 0.5
        y[m] += gain * np.sin(2 * np.pi * 55 * (t[m] - b)) * np.exp(-(t[m] - b) * 25)
    path = tmp_path_factory.mktemp("track") / "beat.wav"
    sf.write(path, y.astype(np.float32), sr)
    return path


def one_line_error(capsys, words):
    err = capsys.readouterr().err
    assert words in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_show_new_info_render_and_a_moved_track(track, tmp_path, library_dir, capsys,
                                                monkeypatch):
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "cache"))
    show = tmp_path / "show.json"
    assert main(["show", "new", str(track), "--styles", A, B, "--change", "bars:1",
                 "--transition", "crossfade:2", "-o", str(show)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {show}" in out and "crossfade:2" in out
    assert main(["show", "info", str(show)]) == 0
    out = capsys.readouterr().out
    assert "Seeded pattern 01" in out and "every style are there" in out

    video = tmp_path / "show.mp4"
    assert main(["render", str(show), "-o", str(video), "--size", "64x36", "--fps", "10",
                 "--quality", "fast", "--renderer", "torch", "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    info = probe(video)
    assert (info["video"]["width"], info["video"]["height"]) == (64, 36)
    assert info["video"]["frames"] == 80 and info["audio"] is not None

    # the default quality is chosen for the machine, said in the first line
    assert main(["render", str(show), "-o", str(tmp_path / "auto.mp4"), "--size", "64x36",
                 "--fps", "10", "--duration", "1", "--renderer", "torch", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("quality: ") and "expected about" in lines[0]
    chosen_fast = lines[0].startswith("quality: fast")
    assert ("drawn at 16x9" in lines[-1]) == chosen_fast  # the export used the choice

    moved = tmp_path / "moved.wav"
    shutil.copy(track, moved)
    track_bytes = track.read_bytes()
    track.unlink()
    try:
        assert main(["render", str(show), "-o", str(tmp_path / "x.mp4")]) == 2
        one_line_error(capsys, "give its new place with --track NEW")
        assert main(["show", "info", str(show), "--track", str(moved)]) == 0
        capsys.readouterr()
        assert main(["render", str(show), "--track", str(moved), "-o",
                     str(tmp_path / "m.mp4"), "--size", "32x18", "--fps", "10",
                     "--duration", "0.5", "--quality", "fast", "--quiet"]) == 0
        capsys.readouterr()
    finally:
        track.write_bytes(track_bytes)
    assert not (tmp_path / "x.mp4").exists()


def test_show_auto_and_cli_errors(track, tmp_path, library_dir, capsys, monkeypatch):
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["show", "auto", str(track), "--styles", A, B, C, "--transition", "morph:2",
                 "--name", "Auto show"]) == 0
    out = capsys.readouterr().out
    assert "section A:" in out and str(library_dir / "shows" / "auto-show.json") in out
    assert main(["show", "info", "auto-show"]) == 0  # found in the shows folder by name
    capsys.readouterr()
    for args, words in [
        (["show", "new", str(track), "--styles", "no-such-style"], "unknown style"),
        (["show", "new", str(track), "--styles", A, "--change", "weekly"],
         "unknown change rule"),
        (["show", "new", str(track), "--styles", A, "--transition", "wipe"],
         "unknown transition"),
        (["show", "new", str(track), "--styles", A, "-o", str(tmp_path / "s.txt")],
         "a show is a .json file"),
        (["show", "info", str(tmp_path / "none.json")], "show file not found"),
        (["render", A, "-o", str(tmp_path / "y.mp4")], "give a TRACK"),
    ]:
        assert main(args) == 2
        one_line_error(capsys, words)
