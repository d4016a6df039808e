"""The library browser: grid, search, sort, favourites, context actions, drag & drop."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent


def test_grid_shows_bundled_styles_with_untrained_badge(window):
    panel = window.library_panel
    styles = panel.model.styles
    assert len(styles) >= 8
    assert all(not s.trained for s in styles if s.readonly)
    assert "untrained" in panel.status.text()
    # The badge is painted into the icon: the bottom-left corner is not the thumbnail's.
    from app.library.panel import style_pixmap

    assert not style_pixmap(styles[0]).isNull()
    # Selecting a style shows it in the preview.
    assert window.stage.cppn is not None


def test_search_filters_and_clears(window, qtbot):
    panel = window.library_panel
    total = len(panel.model.styles)
    target = panel.model.styles[3]
    word = target.name.split(" - ")[-1].split()[0]
    panel.search.setText(word)
    qtbot.waitUntil(lambda: len(panel.model.styles) < total, timeout=3000)
    assert target.id in panel.visible_ids()
    assert all(word.lower() in s.name.lower() or word.lower() in str(s.meta).lower()
               for s in panel.model.styles)
    panel.search.setText("no-such-style-anywhere")
    qtbot.waitUntil(lambda: len(panel.model.styles) == 0, timeout=3000)
    assert "no style matches" in panel.status.text()
    panel.search.clear()
    qtbot.waitUntil(lambda: len(panel.model.styles) == total, timeout=3000)


def test_ctrl_f_focuses_search(window, qtbot):
    window.focus_search()
    assert window.library_panel.search.hasFocus() or window.library_panel.search.isVisible()


def test_favourites_sort_and_filter(window, qtbot):
    panel = window.library_panel
    first = panel.model.styles[0]
    panel.toggle_favourite(first)
    fav = window.library.get(first.id)
    assert fav.favourite
    panel.favourites.setChecked(True)
    assert panel.visible_ids() == [first.id]
    panel.favourites.setChecked(False)
    panel.sort.setCurrentText("Name")
    names = [s.name.casefold() for s in panel.model.styles]
    assert names == sorted(names)


def test_duplicate_rename_export_import_delete(window, dialogs, tmp_path):
    panel = window.library_panel
    bundled = panel.model.styles[0]
    panel.duplicate(bundled)
    copy = panel.current_style()
    assert copy is not None and not copy.readonly and copy.name.endswith("(copy)")

    dialogs.answer("ask_text", "My remix")
    panel.rename(copy)
    assert window.library.get(copy.id).name == "My remix"

    share = tmp_path / "remix.sonolume"
    dialogs.answer("save_file", str(share))
    panel.export_share(window.library.get(copy.id))
    assert share.is_file()

    dialogs.answer("confirm", False)  # "No" keeps it
    panel.delete(window.library.get(copy.id))
    assert copy.id in [s.id for s in window.library.list()]
    dialogs.answer("confirm", True)
    panel.delete(window.library.get(copy.id))
    assert copy.id not in [s.id for s in window.library.list()]
    assert copy.id not in panel.visible_ids()

    # Drag & drop of the share file imports it and selects it.
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(share))])
    grid = panel.grid
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    grid.dropEvent(drop)
    imported = panel.current_style()
    assert imported.name == "My remix" and not imported.readonly
    assert dialogs.errors == []


def test_bad_share_file_shows_error(window, dialogs, tmp_path):
    bad = tmp_path / "broken.sonolume"
    bad.write_bytes(b"not a zip at all")
    assert window.library_panel.import_files([str(bad)]) == []
    assert dialogs.errors and "broken.sonolume" in dialogs.errors[0][1]


def test_readonly_style_cannot_be_renamed(window, dialogs):
    bundled = window.library_panel.model.styles[0]
    dialogs.answer("ask_text", "Nope")
    window.library_panel.rename(bundled)
    assert dialogs.errors and "read-only" in dialogs.errors[0][1]


def test_semantic_search_after_loading_clip(window, qtbot, dialogs):
    from tests.conftest import TINY_CLIP_CONFIG

    panel = window.library_panel
    assert panel.semantic.isHidden()  # no CLIP yet: plain text search only
    window.settings.clip_config = str(TINY_CLIP_CONFIG)
    worker = window.load_clip()
    qtbot.waitUntil(lambda: worker.is_done, timeout=60_000)
    assert window.clip_service.current is not None and window.clip_service.is_random
    assert not panel.semantic.isHidden()
    assert "RANDOM" in panel.semantic.toolTip()
    panel.semantic.setChecked(True)
    panel.search.setText("glowing embers")
    qtbot.waitUntil(lambda: "ranked by meaning" in panel.status.text(), timeout=20_000)
    # Ranked, not filtered: every style is listed, each with a match score.
    assert len(panel.model.styles) == len(panel.all_styles)
    assert set(panel.model.relevance) >= set(panel.visible_ids())
    scores = [panel.model.relevance[i] for i in panel.visible_ids()]
    assert scores == sorted(scores, reverse=True)
    assert dialogs.errors == []


def test_load_clip_without_weights_explains(window, qtbot, dialogs):
    s = window.settings
    s.clip_config, s.clip_checkpoint = "", ""
    worker = window.load_clip()
    qtbot.waitUntil(lambda: worker.is_done, timeout=30_000)
    assert dialogs.clip_messages and "--clip-checkpoint" in dialogs.clip_messages[0]
    assert window.clip_service.current is None


def test_settings_dialog_applies(window, tmp_path):
    from app.settings_dialog import SettingsDialog

    dlg = SettingsDialog(window.settings, window)
    dlg.library.setText(str(tmp_path / "other-library"))
    dlg.model.setCurrentText("ViT-B-32")
    dlg.checkpoint.setText(str(tmp_path / "vit.pt"))
    dlg.preview_path.setCurrentIndex(dlg.preview_path.findData("torch"))
    dlg.apply()
    old = str(window.library.user_dir)
    window.apply_settings(old)
    assert window.settings.clip_spec().checkpoint == str(tmp_path / "vit.pt")
    assert window.library.user_dir == tmp_path / "other-library"
    assert window.library_panel.library is window.library
    assert "vit.pt" in window.train_panel.clip_label.text()
