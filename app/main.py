"""Sonolume's main window: library (left), live preview with transport (centre), training
and reactivity (right). ``run_app`` is what ``sonolume`` with no arguments starts."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.clip_service import ClipService
from app.library.panel import LibraryPanel
from app.live.audio_input import LiveInput
from app.live.bar import LiveBar
from app.live.control import ControlPanel
from app.logs import log_path, setup_logging
from app.settings import AppSettings
from app.settings_dialog import SettingsDialog
from app.stage.reactivity import ReactivityPanel
from app.stage.show import ShowEditor, ShowPanel
from app.stage.stage import Stage
from app.stage.transport import LiveTransport
from app.train.panel import TrainPanel
from app.workers import Worker
from engine.styles.library import Library

log = logging.getLogger("sonolume.app")

FOLLOW_MS = 100  # the library's selection follows a live style change within this


def _scroll(widget):
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(max(360, widget.minimumSizeHint().width()))
    return area


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None):
        # Before the stage starts its render threads (see app.preload): a no-op when
        # run_app has done it already.
        from app.preload import preload_native_libraries

        preload_native_libraries()
        super().__init__()
        setup_logging()
        self.settings = settings or AppSettings()
        self.setWindowTitle("Sonolume")
        self.setObjectName("MainWindow")
        self.clip_service = ClipService(self)
        self.library = Library(self.settings.library_dir or None)
        self.export_dialog = None
        self.research: dict[str, object] = {}  # kind -> ResearchWindow, built on first use

        self.stage = Stage(self.settings)
        self.setCentralWidget(self.stage)
        self.library_panel = LibraryPanel(self.library, self.settings, self.clip_service)
        self.train_panel = TrainPanel(self.settings, self.clip_service, self.library)
        self.reactivity_panel = ReactivityPanel(self.stage, self.library, self.clip_service)
        self.show_editor = ShowEditor(self.stage, lambda: self.library, self)
        self.show_panel = ShowPanel(self.stage, self.show_editor,
                                    self.library_panel.current_style)
        self.stage.add_show_timeline(self.show_panel)
        self.control_panel = ControlPanel(self.stage, self.settings, editor=self.show_editor,
                                          styles=lambda: self.library.list())

        self.library_dock = self._dock("Library", "LibraryDock", self.library_panel,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.train_dock = self._dock("Train", "TrainDock", _scroll(self.train_panel),
                                     Qt.DockWidgetArea.RightDockWidgetArea)
        self.reactivity_dock = self._dock("Track && reactivity", "ReactivityDock",
                                          _scroll(self.reactivity_panel),
                                          Qt.DockWidgetArea.RightDockWidgetArea)
        self.live_input = LiveInput(fps=float(self.settings.target_fps))
        self.live_bar = LiveBar(self.stage, self.live_input, shows_folder=self._shows_folder)
        # A tap from OSC / MIDI reaches the beat tracker at its arrival time; the dock's
        # style buttons are moves like /sonolume/style/next.
        self.control_panel.tappedAt.connect(self.live_bar.tap_at)
        self.live_bar.moveRequested.connect(self.control_panel.moveReceived)
        self.live_transport = LiveTransport(self.stage, self.live_input)
        live_box = QWidget()
        live_lay = QVBoxLayout(live_box)
        live_lay.setContentsMargins(0, 0, 0, 0)
        live_lay.addWidget(self.live_bar)
        live_lay.addWidget(self.control_panel)
        self.control_dock = self._dock("Live", "ControlDock", _scroll(live_box),
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.train_dock, self.reactivity_dock)
        self.tabifyDockWidget(self.reactivity_dock, self.control_dock)
        self.train_dock.raise_()
        self.setTabPosition(Qt.DockWidgetArea.RightDockWidgetArea,
                            self.tabPosition(Qt.DockWidgetArea.RightDockWidgetArea))

        self.status_path = QLabel()
        self.statusBar().addPermanentWidget(self.status_path)
        self._build_menus()
        self._wire()
        self._restore()
        self._last_style_key = None
        # Live, the library's selection follows the style the set draws (see
        # _follow_live_style); a timer, because a change lands on a later beat.
        self._follow_timer = QTimer(self)
        self._follow_timer.setInterval(FOLLOW_MS)
        self._follow_timer.timeout.connect(self._follow_live_style)
        style = self.library_panel.current_style()
        if style is not None:
            self._style_selected(style)
        QTimer.singleShot(0, self.output, self.output.restore)  # reopen it if open at quit

    # -- construction ----------------------------------------------------------------------
    def _dock(self, title, name, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, menu, text, slot, shortcut=None, tip="") -> QAction:
        act = QAction(text, self)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        menu.addAction(act)
        self.addAction(act)  # shortcuts work while the menu bar is hidden (fullscreen)
        return act

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.load_action = self._action(f, "Load &track…", self.stage.choose_track,
                                        "Ctrl+O")
        self._action(f, "&Import style…", self.library_panel.choose_import, "Ctrl+I")
        f.addSeparator()
        self._action(f, "&New show (auto-arrange)", self.show_panel.auto_arrange,
                     "Ctrl+Shift+N", "arrange library styles over the track's sections")
        self._action(f, "Open s&how…", self.open_show, "Ctrl+Shift+O")
        self.save_show_action = self._action(f, "&Save show", self.save_show, "Ctrl+S")
        self._action(f, "Save show &as…", lambda: self.save_show(ask=True), "Ctrl+Shift+S")
        self._action(f, "C&lose show", self.show_editor.close_show)
        f.addSeparator()
        self.export_action = self._action(f, "&Export video…", self.open_export, "Ctrl+E",
                                          "render the selected style with the track to MP4")
        self._action(f, "Load &CLIP", self.load_clip,
                     tip="load the CLIP model now: semantic style search and better "
                         "suggestions for a track")
        f.addSeparator()
        self._action(f, "&Settings…", self.open_settings, "Ctrl+,")
        f.addSeparator()
        self._action(f, "&Quit", self.close, "Ctrl+Q")
        e = mb.addMenu("&Edit")
        undo = self.show_editor.group.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.show_editor.group.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        e.addAction(undo)
        e.addAction(redo)
        v = mb.addMenu("&View")
        self.play_action = self._action(v, "&Play / pause", self.stage.toggle_play, "Space")
        self.fullscreen_action = self._action(v, "&Fullscreen preview", self.toggle_fullscreen,
                                              "F11")
        self._action(v, "&Search styles", self.focus_search, "Ctrl+F")
        self._action(v, "&Live input", self.show_live_dock, "Ctrl+L",
                     "the Live dock: choose an input, start it, tap, record a set")
        v.addSeparator()
        from app.stage.output import OutputControl  # the audience's window (issue 12)

        self.output = OutputControl(self.stage, self.settings, self)
        v.addAction(self.output.action)
        self.addAction(self.output.action)  # its shortcut works in fullscreen too
        v.addMenu(self.output.menu)
        self.statusBar().addPermanentWidget(self.output.status_label)
        v.addSeparator()
        for dock in (self.library_dock, self.train_dock, self.reactivity_dock,
                     self.control_dock):
            v.addAction(dock.toggleViewAction())
        r = mb.addMenu("&Research")
        self._action(r, "&NeRV-CLIP video models…", lambda: self.open_research("nerv"),
                     tip="fit a NeRV/HNeRV network to a video that also predicts CLIP "
                         "embeddings; compare reconstructions and semantics")
        self._action(r, "&Spatial CLIP maps…", lambda: self.open_research("spatial"),
                     tip="see where CLIP finds a text in a picture, video frame, style or "
                         "NeRV-CLIP run: one embedding per patch")
        h = mb.addMenu("&Help")
        self._action(h, "Show &log file", lambda: dialogs.open_folder(log_path().parent))
        self._action(h, "&About Sonolume", self.about)
        esc = QShortcut(QKeySequence("Escape"), self)
        esc.activated.connect(self.leave_fullscreen)

    def _shows_folder(self):
        from engine.paths import shows_dir

        return shows_dir(self.library.user_dir)

    def _open_recorded_set(self, path: str) -> None:
        """A live set was saved: open it as a show (timeline, File > Export)."""
        if getattr(self, "_closing", False):
            return
        if self.show_editor.open(path):
            self.statusBar().showMessage(f"recorded set {Path(path).name} opened: "
                                         "File > Export renders it", 10000)

    def _wire(self) -> None:
        lp, tp, st = self.library_panel, self.train_panel, self.stage
        lp.styleSelected.connect(self._style_selected)
        tp.styleTrained.connect(self._style_trained)
        tp.openSettings.connect(self.open_settings)
        self.reactivity_panel.styleChosen.connect(self.select_style)
        lp.libraryChanged.connect(self.reactivity_panel.refresh_suggestions)
        lp.libraryChanged.connect(self._research_library_changed)
        st.statusMessage.connect(lambda m: self.statusBar().showMessage(m, 8000))
        st.liveSetRecorded.connect(self._open_recorded_set)
        st.liveChanged.connect(self._live_changed)
        self.show_editor.statusMessage.connect(
            lambda m: self.statusBar().showMessage(m, 8000))
        self.show_editor.titleChanged.connect(self._show_title)
        self.control_panel.statusMessage.connect(
            lambda m: self.statusBar().showMessage(m, 8000))
        self.clip_service.loaded.connect(
            lambda label: self.statusBar().showMessage(f"CLIP loaded: {label}", 8000))

    def _restore(self) -> None:
        geo = self.settings.window_bytes("geometry")
        if geo is None or not self.restoreGeometry(geo):
            self.resize(1400, 860)
        state = self.settings.window_bytes("state")
        if state is not None:
            self.restoreState(state)
            # Qt restores where the docks are but not which tab of a group is in front
            # (and a tab raised before the window shows does not stay in front).
            QTimer.singleShot(0, self, self._raise_front_docks)
        else:
            self.resizeDocks([self.library_dock], [330], Qt.Orientation.Horizontal)
            self.resizeDocks([self.train_dock], [420], Qt.Orientation.Horizontal)

    def _raise_front_docks(self) -> None:
        for name in self.settings.get_str("window/front_docks", "").split(","):
            dock = self.findChild(QDockWidget, name) if name else None
            if dock is not None and not dock.isHidden():
                dock.raise_()

    def _front_docks(self) -> list[str]:
        """The docks in front of their tab groups (object names)."""
        docks = (self.library_dock, self.train_dock, self.reactivity_dock, self.control_dock)
        return [d.objectName() for d in docks if self.tabifiedDockWidgets(d)
                and not d.isHidden() and not d.visibleRegion().isEmpty()]

    # -- actions ---------------------------------------------------------------------------
    @staticmethod
    def _style_key(style):
        return None if style is None else (style.id, style.meta.get("created"),
                                           str(style.path))

    def _style_selected(self, style) -> None:
        key = self._style_key(style)
        if key == self._last_style_key:
            return
        self._last_style_key = key
        self.stage.set_style(style)
        self.status_path.setText(f"style: {style.name}" if style else "")

    def _style_trained(self, style) -> None:
        self.library_panel.refresh(select_id=style.id)
        self.statusBar().showMessage(f"new style '{style.name}' is in the library", 10000)
        self.reactivity_panel.refresh_suggestions()
        self._research_library_changed()

    def _research_library_changed(self) -> None:
        spatial = self.research.get("spatial")
        if spatial is not None:
            spatial.panel.set_library(self.library)

    def select_style(self, style_id: str) -> None:
        if not self.library_panel.select(style_id):
            self.library_panel.search.clear()
            self.library_panel.favourites.setChecked(False)
            self.library_panel.refresh(select_id=style_id)

    def load_clip(self) -> Worker:
        spec = self.settings.clip_spec()
        self.statusBar().showMessage(f"loading CLIP {spec.label}…")

        def failed(err):
            from engine.errors import ClipUnavailable

            if isinstance(err.exception, ClipUnavailable):
                self.train_panel.handle_clip_unavailable(err.message)
            else:
                dialogs.error(self, "Load CLIP", err.message)

        def loaded(_clip):
            self.reactivity_panel.refresh_suggestions()

        self._clip_worker = Worker(self.clip_service.get, spec, name="loading CLIP",
                                   pass_control=False).on(finished=loaded, errored=failed)
        return self._clip_worker.start()

    def focus_search(self) -> None:
        self.library_dock.show()
        self.library_dock.raise_()
        self.library_panel.search.setFocus()
        self.library_panel.search.selectAll()

    def show_live_dock(self) -> None:
        """Bring the Live dock forward (it shares a tab group with Train and reactivity),
        ready to press Start."""
        self.control_dock.show()
        self.control_dock.raise_()
        if not self.stage.live_active:
            self.live_bar.start_button.setFocus()

    # -- live mode ---------------------------------------------------------------------------
    def _live_changed(self, on: bool) -> None:
        """Live input started: its dock comes forward (only then: the saved layout stays
        as it was restored); play and load, which a live stream cannot use, are off; the
        library follows the live style. Stopped: all back, and the library shows the style
        the preview went back to."""
        self.play_action.setEnabled(not on)
        self.load_action.setEnabled(not on)
        if on:
            if not self.isFullScreen():
                self.show_live_dock()
            self._follow_live_style()
            self._follow_timer.start()
            return
        self._follow_timer.stop()
        shown = self.stage.shown_style
        if not self.stage.show_active and shown is not None:
            self._follow(shown)
        self.status_path.setText(f"style: {shown.name}" if shown is not None else "")

    def _follow_live_style(self) -> None:
        """Select (and scroll to) the style the live set draws now. Quietly: announcing it
        would make the stage show it again, which live is a new segment (a cut) or, while
        recording, a refusal."""
        ls = self.stage.live_set
        if ls is None:
            return
        scene = ls.scene
        style = scene.styles.get(scene.style_at(ls.now()))
        text = f"style: {getattr(style, 'name', '?')} (live)"
        if self.status_path.text() != text:  # a show's style may not be in the library
            self.status_path.setText(text)
        self._follow(style)

    def _follow(self, style) -> None:
        style_id = getattr(style, "id", None)
        lp = self.library_panel
        if style_id is None or style_id == lp.current_id() or not lp.follow(style_id):
            return
        # A later click on the style shown before must act, so the follow counts as the
        # selection the app last acted on.
        self._last_style_key = self._style_key(lp.current_style())

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.leave_fullscreen()
            return
        self._saved_state = self.saveState()
        for dock in (self.library_dock, self.train_dock, self.reactivity_dock,
                     self.control_dock):
            dock.hide()
        self.menuBar().hide()
        self.statusBar().hide()
        self.showFullScreen()

    def leave_fullscreen(self) -> None:
        if not self.isFullScreen():
            return
        self.showNormal()
        self.menuBar().show()
        self.statusBar().show()
        if getattr(self, "_saved_state", None) is not None:
            self.restoreState(self._saved_state)

    def open_settings(self) -> None:
        dlg = SettingsDialog(self.settings, self)
        if dlg.exec() != SettingsDialog.DialogCode.Accepted:
            return
        old_lib = str(self.library.user_dir)
        dlg.apply()
        self.apply_settings(old_lib)

    def apply_settings(self, old_library: str | None = None) -> None:
        self.clip_service.forget(self.settings.clip_spec())
        self.train_panel.update_clip_label()
        for win in self.research.values():
            if hasattr(win.panel, "update_clip_label"):
                win.panel.update_clip_label()
        self.stage.set_target_fps(self.settings.target_fps)
        new = Library(self.settings.library_dir or None)
        if old_library is None or str(new.user_dir) != old_library:
            self.library = new
            self.library_panel.set_library(new)
            self.train_panel.library = new
            self.reactivity_panel.library = new
            self.reactivity_panel.reload_presets()
            self._research_library_changed()

    def open_research(self, kind: str):
        """Show a research tool's window (built on first use); returns the window."""
        from app.research import ResearchWindow

        win = self.research.get(kind)
        if win is None:
            if kind == "nerv":
                from app.nerv.panel import NervPanel

                panel = NervPanel(self.settings, self.clip_service)
                panel.openSettings.connect(self.open_settings)
                win = ResearchWindow("NeRV-CLIP video models", "NervWindow", panel, self)
            elif kind == "spatial":
                from app.spatial.panel import SpatialPanel

                panel = SpatialPanel(self.settings, self.clip_service, self.library)
                panel.openSettings.connect(self.open_settings)
                win = ResearchWindow("Spatial CLIP maps", "SpatialWindow", panel, self)
            else:
                raise ValueError(f"unknown research tool: {kind}")
            self.research[kind] = win
        win.present()
        return win

    def open_export(self) -> None:
        from app.export.dialog import ExportDialog

        style = self.library_panel.current_style()
        if style is None:
            dialogs.error(self, "Export video", "Select a style in the library first.")
            return
        if self.stage.features is None:
            dialogs.error(self, "Export video", "Load a track first: the video is the style "
                          "moving to a piece of music.")
            return
        scene = self.stage.export_scene()
        if scene is None:
            dialogs.error(self, "Export video", "The selected style cannot be drawn.")
            return
        self.stage.pause()
        old = self.export_dialog
        if old is not None:
            if old.busy:  # one export at a time: show the one that runs
                old.show()
                old.raise_()
                return
            old.deleteLater()  # a closed dialog is hidden, not gone (the soak saw it pile up)
        self.export_dialog = ExportDialog(self.settings, scene, self.stage.current_time(),
                                          uses_gl=self.stage.active_path == "gl", parent=self)
        self.export_dialog.show()

    # -- shows -------------------------------------------------------------------------------
    def open_show(self) -> bool:
        from engine.paths import shows_dir

        path = dialogs.open_file(self, "Open show", str(shows_dir(self.library.user_dir)),
                                 "Shows (*.json);;All files (*)")
        return bool(path) and self.show_editor.open(path)

    def save_show(self, ask: bool = False):
        from engine.paths import shows_dir

        if not self.show_editor.active:
            dialogs.error(self, "Save show", "No show is open: auto-arrange one first "
                          "(File → New show) or open one.")
            return None
        path = self.show_editor.path
        if ask or path is None:
            folder = shows_dir(self.library.user_dir)
            folder.mkdir(parents=True, exist_ok=True)
            name = self.show_editor.name or Path(self.stage.track_path or "show").stem
            path = dialogs.save_file(self, "Save show", str(folder / f"{name}.json"),
                                     "Shows (*.json)")
            if not path:
                return None
            if not str(path).lower().endswith(".json"):
                path = f"{path}.json"
        return self.show_editor.save(path)

    def _show_title(self, title: str) -> None:
        self.setWindowTitle(f"Sonolume — {title}" if title else "Sonolume")

    def about(self) -> None:
        QMessageBox.about(self, "About Sonolume",
                          "<b>Sonolume</b><br>Audio-reactive visuals from text prompts.<br>"
                          f"Log file: {log_path()}")

    # -- shutdown --------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if self.show_editor.active and not self.show_editor.undo.isClean() and \
                not dialogs.confirm(self, "Sonolume", "The show has unsaved changes. "
                                    "Quit without saving them?"):
            event.ignore()
            return
        if self.isFullScreen():
            self.leave_fullscreen()
        self.settings.set_window_bytes("geometry", self.saveGeometry())
        self.settings.set_window_bytes("state", self.saveState())
        self.settings.set("window/front_docks", ",".join(self._front_docks()))
        self.output.shutdown()  # remembers whether it was open
        self.settings.sync()
        self.train_panel.shutdown()
        self.control_panel.shutdown()
        self._closing = True  # a set recording now is saved by stop_live, not opened
        self.stage.stop_live()
        self.live_input.shutdown()
        for win in self.research.values():
            win.shutdown()
        if self.export_dialog is not None:
            self.export_dialog.cancel()
        self.stage.shutdown()
        Worker.cancel_all(wait_ms=10000)
        super().closeEvent(event)


def _excepthook(exc_type, exc, tb) -> None:
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    log.error("unhandled error:\n%s", text)
    app = QApplication.instance()
    if app is not None and not getattr(_excepthook, "_busy", False):
        _excepthook._busy = True
        try:
            dialogs.error(app.activeWindow(), "Unexpected error",
                          f"{exc_type.__name__}: {exc}\n\nThe details are in the log: "
                          f"{log_path()}", text)
        finally:
            _excepthook._busy = False


def _parse(argv: list[str]):
    p = argparse.ArgumentParser(prog="sonolume", description="Sonolume desktop app")
    p.add_argument("track", nargs="?", help="an audio file to load")
    p.add_argument("--style", help="select this style (name or id)")
    p.add_argument("--settings", help="use this settings file (INI) instead of your own")
    return p.parse_args(argv)


def binding_is_safe() -> bool:
    """Probe the Qt binding before any window exists (see app.binding_check): a leaking one
    is refused with a message a user can act on, instead of a crash mid-playback."""
    from app import binding_check

    if not binding_check.binding_leaks():
        return True
    message = binding_check.leak_message()
    if os.environ.get("SONOLUME_ALLOW_BROKEN_QT") == "1":
        log.warning("starting anyway (SONOLUME_ALLOW_BROKEN_QT=1): %s", message)
        return True
    log.error("%s", message)
    print(f"sonolume: error: {message}", file=sys.stderr)
    dialogs.error(None, "Sonolume cannot start", message)
    return False


def run_app(argv: list[str]) -> int:
    args = _parse(list(argv))
    setup_logging()
    from engine.runtime import tune_allocator

    tune_allocator()
    if QApplication.instance() is None:
        from app.stage.glview import configure_gl_format, preload_llvm_users

        preload_llvm_users()  # before any GL context (see app.stage.glview)
        configure_gl_format()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("Sonolume")
    app.setApplicationName("Sonolume")
    if not binding_is_safe():
        return 2
    sys.excepthook = _excepthook
    window = MainWindow(AppSettings(args.settings))
    window.show()
    # Everything made so far (torch, Qt bindings, numba, the window) lives as long as the
    # app: keep it out of the collector's full passes, which otherwise walk the whole heap
    # from the GUI thread and stall the event loop.
    gc.freeze()
    if args.style:
        try:
            window.select_style(window.library.get(args.style).id)
        except Exception as exc:  # noqa: BLE001 - a bad argument is a message, not a crash
            dialogs.error(window, "Style", str(exc))
    if args.track:
        QTimer.singleShot(0, lambda: window.stage.load_track(args.track))
    log.info("app started; settings %s; log %s", window.settings.path, log_path())
    return app.exec()
