"""``make demo``'s video step, run small: the first bundled style on the bundled track."""

import engine.export as export_pkg
from engine.cli.main import main
from engine.export.ffmpeg import probe


def test_demo_writes_an_mp4_with_sound(tmp_path, monkeypatch, library_dir, capsys):
    real = export_pkg.export_video

    def small(style, track, out, **kw):
        kw.update(size=(64, 36), duration=1.0)
        return real(style, track, out, **kw)

    monkeypatch.setattr(export_pkg, "export_video", small)
    assert main(["demo", "--out", str(tmp_path), "--cell", "32"]) == 0
    assert "Seeded pattern 01" in capsys.readouterr().out
    info = probe(tmp_path / "demo.mp4")
    assert info["video"]["width"] == 64 and info["audio"] is not None
    assert abs(info["video"]["duration"] - 1.0) < 0.05
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and "demo" in p.name]
