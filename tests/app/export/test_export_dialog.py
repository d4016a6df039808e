"""Export from the GUI: select style -> load track -> a short MP4 with sound; cancel
leaves no file; the options reach the engine."""

from __future__ import annotations

from pathlib import Path


def _ready(window, qtbot, track):
    window.select_style(window.library_panel.visible_ids()[2])
    with qtbot.waitSignal(window.stage.trackLoaded, timeout=60_000):
        window.stage.load_track(str(track))
    window.open_export()
    dlg = window.export_dialog
    assert dlg is not None and dlg.isVisible()
    return dlg


def _small(dlg, out: Path, seconds: float = 2.0):
    dlg.size.setCurrentIndex(dlg.size.count() - 1)  # custom
    dlg.width_box.setValue(96)
    dlg.height_box.setValue(64)
    dlg.fps.setCurrentIndex(dlg.fps.findData(24))
    dlg.part.setChecked(True)
    dlg.start.setValue(0.5)
    dlg.length.setValue(seconds)
    dlg.quality.setCurrentIndex(dlg.quality.findData("fast"))
    dlg.target.setText(str(out))


def test_export_two_seconds_with_audio(window, qtbot, track, dialogs, tmp_path):
    from engine.export import probe

    dlg = _ready(window, qtbot, track)
    assert dlg.size.itemData(0) == (1920, 1080) and dlg.size.itemData(2) == (1080, 1920)
    videos = tmp_path / "videos"
    videos.mkdir()
    out = videos / "clip.mp4"
    _small(dlg, out)
    opts = dlg.options()
    assert opts["size"] == (96, 64) and opts["start"] == 0.5 and opts["duration"] == 2.0
    assert opts["renderer"] == "torch"  # the preview measured/was told torch here
    worker = dlg.start_export()
    qtbot.waitUntil(lambda: worker.is_done, timeout=120_000)
    assert dialogs.errors == []
    assert out.is_file() and dlg.result is not None
    info = probe(out)
    text = str(info).lower()
    assert "h264" in text and "aac" in text, info
    assert abs(dlg.result.duration - 2.0) < 0.1
    assert dlg.open_button.isVisible()
    dlg.open_button.click()
    assert dialogs.opened_folders == [str(videos)]
    assert [p.name for p in videos.iterdir()] == ["clip.mp4"]  # no temp file left


def test_cancel_export_leaves_no_file(window, qtbot, track, dialogs, tmp_path):
    dlg = _ready(window, qtbot, track)
    videos = tmp_path / "videos"
    videos.mkdir()
    out = videos / "cancelled.mp4"
    _small(dlg, out, seconds=2.5)
    dlg.width_box.setValue(320)
    dlg.height_box.setValue(240)
    dlg.quality.setCurrentIndex(dlg.quality.findData("high"))
    cancelled = []
    worker = dlg.start_export()
    worker.signals.cancelled.connect(cancelled.append)
    qtbot.waitUntil(lambda: dlg.progress.value() > 0, timeout=60_000)
    dlg.cancel()
    qtbot.waitUntil(lambda: worker.is_done, timeout=60_000)
    assert cancelled, "the export finished before it could be cancelled"
    assert not out.exists()
    assert list(videos.iterdir()) == []  # no temp file either
    assert dlg.progress.format() == "cancelled" and dialogs.errors == []


def test_export_needs_a_track(window, dialogs):
    window.open_export()
    assert dialogs.errors and "track" in dialogs.errors[0][1].lower()
    assert window.export_dialog is None


def test_unwritable_target_is_a_message(window, qtbot, track, dialogs, tmp_path):
    dlg = _ready(window, qtbot, track)
    _small(dlg, tmp_path / "no-such-folder" / "x.mp4", seconds=0.5)
    worker = dlg.start_export()
    qtbot.waitUntil(lambda: worker.is_done, timeout=60_000)
    assert dialogs.errors and "no-such-folder" in dialogs.errors[0][1]
    assert not (tmp_path / "no-such-folder").exists()


def test_render_on_cluster_sends_the_request_and_address_to_the_cluster_render(
        window, qtbot, track, dialogs, tmp_path, monkeypatch):
    """The checkbox routes the same request to engine.cluster's chunked render with the
    address (remembered in the settings); here it runs the chunked render locally."""
    import engine.cluster.render as cluster_render
    from engine.export import probe

    real, seen = cluster_render.export_chunked, []

    def chunked_here(request, *, cluster, **kw):
        seen.append((request.size, cluster))
        return real(request, **kw)

    monkeypatch.setattr(cluster_render, "export_chunked", chunked_here)
    dlg = _ready(window, qtbot, track)
    out = tmp_path / "cluster.mp4"
    _small(dlg, out)
    dlg.cluster.setChecked(True)
    dlg.cluster_address.setText(" 10.0.0.5:6379 ")
    worker = dlg.start_export()
    qtbot.waitUntil(lambda: worker.is_done, timeout=120_000)
    assert dialogs.errors == [] and seen == [((96, 64), "10.0.0.5:6379")]
    assert probe(out)["video"]["frames"] == 48 and dlg.result.timings["chunks"] == 1
    assert window.settings.get_str("export/cluster_address") == "10.0.0.5:6379"
