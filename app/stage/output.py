"""The output window: the visuals alone, borderless and fullscreen on a chosen screen (a
projector, a second monitor), while the main window keeps the controls and a small preview.

It draws the very frames the preview draws: on every tick of the stage's timer (the same
clock, right after the stage's own tick) it asks the stage's scene for the frame at the
stage's time and hands it to its own view, at its own size. That view takes the preview's
path: a :class:`~app.stage.preview.RasterView` (torch on render threads, frames that come too
late dropped; the GUI thread only paints finished images, so a slow render never holds up
a control or an audio event), or the GL shader where the preview found GL faster.

Keys as a VJ expects: F11 toggles fullscreen, Esc only leaves fullscreen (it never closes
the show), Space plays / pauses. Closing the window is the only way to close it; the
preview then gets its full size back. A screen that goes away (a projector unplugged)
takes the output to a remaining screen, and it goes back when that screen returns.
"""

from __future__ import annotations

import logging
from dataclasses import fields

import numpy as np
from PySide6.QtCore import QObject, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QLabel, QMenu, QVBoxLayout, QWidget

from app.settings import OUTPUT_RESOLUTIONS
from app.stage.preview import RasterView

log = logging.getLogger("sonolume.app.output")

# While the output is open the preview is only a monitor: it is held to this many pixels
# so the render threads spend the CPU on what the audience sees.
PREVIEW_PIXELS_WITH_OUTPUT = 384 * 216
STATUS_MS = 500
STILL_REFINE_MS = 250  # a paused frame is redrawn at full size once things settle


def resolution_height(name: str) -> int | None:
    """The internal height a resolution name asks for; None for adaptive and native."""
    if name.endswith("p") and name[:-1].isdigit():
        return int(name[:-1])
    return None


def pick_screen(screens: list, name: str, avoid=None):
    """The screen called ``name``; without it (never chosen, or unplugged) the last screen
    that is not ``avoid`` (the main window's), else the last one. None: no screen at all."""
    screens = list(screens)
    if not screens:
        return None
    for s in screens:
        if name and s.name() == name:
            return s
    others = [s for s in screens if s is not avoid]
    return (others or screens)[-1]


def frame_key(frame) -> tuple:
    """What makes a still frame look the way it does: a paused output is redrawn only when
    this changes (a seek, an edit, a reactivity move), not on every tick."""
    layers = []
    for layer in frame.layers:
        p = layer.params
        values = tuple(v.tobytes() if isinstance(v, np.ndarray) else v
                       for v in (getattr(p, f.name) for f in fields(p)))
        layers.append((layer.style, id(layer.cppn), values))
    return (frame.t, frame.mode, frame.mix, tuple(layers))


class _OutputSizing:
    """The output's internal size: adaptive (the view's own frame-rate rule, up to the
    screen's pixels), a fixed height, or the screen's own pixels. Shared by both paths."""

    resolution = "adaptive"

    def set_resolution(self, name: str) -> None:
        if name not in OUTPUT_RESOLUTIONS:
            raise ValueError(f"unknown output resolution '{name}'")
        self.resolution = name

    def _device_px(self) -> tuple[int, int]:
        dpr = self.devicePixelRatioF()
        return max(1, int(self.width() * dpr)), max(1, int(self.height() * dpr))

    @property
    def render_size(self) -> tuple[int, int]:
        w, h = self._device_px()
        if self.resolution == "native":
            return w, h
        height = resolution_height(self.resolution)
        if height is None:
            self.scale.max_pixels = max(w * h, 1)
            return self.scale.size_for(w, h)
        # Never more pixels than the window has: a windowed output is not drawn at 1080p.
        height = min(height, h)
        return max(1, round(w * height / h)), height

    @property
    def full_size(self) -> tuple[int, int]:
        if self.resolution == "adaptive":
            return super().full_size
        return self.render_size


class OutputView(_OutputSizing, RasterView):
    """The torch path: frames drawn on the view's own threads; frames that come too late
    are dropped. Black where there is nothing to draw: a projector never shows a hint."""

    def __init__(self, target_fps: int = 24, parent=None):
        super().__init__(target_fps, parent)
        self.placeholder = ""
        self.requested = 0  # frames asked for
        self.shown = 0  # frames that reached the screen (the rest were late: dropped)

    def draw(self, frame, full: bool = False) -> None:
        if self.has_cppn:
            self.requested += 1
        super().draw(frame, full)

    def _on_frame(self, thread, image, seconds, serial, full) -> None:
        if not self.isVisible():  # drawn for a window that has closed since: not shown
            self._next = None
            self._idle.append(thread)
            return
        if serial > self._shown:
            self.shown += 1
        super()._on_frame(thread, image, seconds, serial, full)

    def grab_frame(self):
        return self.image


def gl_output_view(target_fps: int):
    """The GL path, used when the preview runs on GL (its probe found the shader faster
    than torch here: a real GPU). Built on demand: importing it loads GL modules."""
    from app.stage.glview import GLView

    class GLOutputView(_OutputSizing, GLView):
        def __init__(self):
            super().__init__(target_fps, force=True)
            self.requested = 0
            self.shown = 0
            self.frameShown.connect(self._count)

        def _count(self) -> None:
            self.shown += 1

        def draw(self, frame, full: bool = False) -> None:
            if self.has_cppn:
                self.requested += 1  # repaints asked before the last one ran are merged
            super().draw(frame, full)

    return GLOutputView()


class OutputWindow(QWidget):
    """The audience's window. Built by :class:`OutputControl`; see the module notes."""

    closed = Signal()
    screenChanged = Signal(str)

    def __init__(self, stage, settings, main_window=None):
        super().__init__(None, Qt.WindowType.Window)
        self.stage = stage
        self.settings = settings
        self.main_window = main_window
        self.setWindowTitle("Sonolume output")
        self.setObjectName("OutputWindow")
        # The main window's close quits the app even while this one is open.
        self.setAttribute(Qt.WidgetAttribute.WA_QuitOnClose, False)
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.Window, QColor(0, 0, 0))
        self.setPalette(pal)
        self.setAutoFillBackground(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view = None
        self._use_view(stage.active_path)
        stage.pathChanged.connect(self._preview_path_changed)
        self.target = None  # the QScreen it is meant to be on
        self._still = None  # frame_key of the still frame shown while paused
        self._preview_caps: list[tuple[object, int]] = []
        self._refine = QTimer(self)
        self._refine.setSingleShot(True)
        self._refine.setInterval(STILL_REFINE_MS)
        self._refine.timeout.connect(self._draw_full)
        # Connected after the stage's own tick: the same instant of the same clock.
        stage.timer.timeout.connect(self.tick)
        app = QGuiApplication.instance()
        app.screenRemoved.connect(self._screen_removed)
        app.screenAdded.connect(self._screen_added)

    # -- the view ----------------------------------------------------------------------------
    def _use_view(self, path: str) -> None:
        """The same drawing path as the preview: GL where the preview found it faster (a
        GPU), else torch on render threads."""
        view = None
        if path == "gl":
            try:
                view = gl_output_view(self.settings.target_fps)
                view.fallback.connect(lambda why: self._gl_failed(why))
            except Exception as exc:  # noqa: BLE001 - no GL here after all: torch draws
                log.warning("output: no GL view (%s); using the torch renderer", exc)
                view = None
        if view is None:
            view = OutputView(self.settings.target_fps)
        view.set_resolution(self.settings.output_resolution)
        view.setMinimumSize(1, 1)
        view.failed.connect(lambda m: log.warning("output: %s", m))
        old, self.view = self.view, view
        if old is None:
            self.layout().addWidget(view)
        else:
            self.layout().replaceWidget(old, view)
            old.shutdown()
            old.deleteLater()
        self.path = "gl" if view.path == "gl" else "torch"
        self.redraw()

    def _gl_failed(self, why: str) -> None:
        log.warning("output: %s; using the torch renderer", why)
        if self.path == "gl":
            self._use_view("torch")

    def _preview_path_changed(self, path: str) -> None:
        if path != self.path:
            self._use_view(path)

    # -- frames ------------------------------------------------------------------------------
    def tick(self) -> None:
        if not self.isVisible():
            return
        if self.view.scale.target_fps != self.settings.target_fps:
            self.view.set_target_fps(self.settings.target_fps)
        stage = self.stage
        frame = stage.frame_at(stage.current_time()) if stage.scene is not None else None
        if frame is None:
            if self.view.has_cppn:
                self.view.set_cppn(None)
            self._still = None
            return
        if not self.view.has_cppn:
            self.view.set_cppn(frame.cppn)
        if stage.playing:
            self._still = None
            self.view.draw(frame)
            return
        key = frame_key(frame)
        if key != self._still:
            self._still = key
            self.view.draw(frame)
            if self.view.resolution == "adaptive":  # a fixed size is its own full size
                self._refine.start()

    def _draw_full(self) -> None:
        if self.isVisible() and not self.stage.playing and self.stage.scene is not None:
            self.view.draw(self.stage.frame_at(self.stage.current_time()), full=True)

    def redraw(self) -> None:
        """Draw the current frame again (new size, resolution or screen)."""
        self._still = None

    def set_resolution(self, name: str) -> None:
        self.view.set_resolution(name)
        self.redraw()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.redraw()

    # -- placement -----------------------------------------------------------------------------
    def _avoid(self):
        return self.main_window.screen() if self.main_window is not None else None

    def chosen_screen(self):
        return pick_screen(QGuiApplication.screens(), self.settings.output_screen,
                           self._avoid())

    def present(self, screen=None, fullscreen: bool = True) -> None:
        """Show on ``screen`` (default: the chosen one), fullscreen or as a window there."""
        screen = screen or self.chosen_screen()
        if screen is None:
            return
        self.target = screen
        frameless = Qt.WindowType.FramelessWindowHint
        if self.isFullScreen():
            self.showNormal()  # a window manager moves a fullscreen window only this way
        if bool(self.windowFlags() & frameless) != fullscreen:
            self.setWindowFlag(frameless, fullscreen)  # (this hides the window)
        self.setScreen(screen)
        if fullscreen:
            # The geometry is set too: without a window manager (or with one that ignores
            # the fullscreen hint) the window still covers exactly that screen.
            self.setGeometry(screen.geometry())
            self.showFullScreen()
            self.setCursor(Qt.CursorShape.BlankCursor)
        else:
            area = screen.availableGeometry()
            w, h = area.width() * 2 // 3, area.height() * 2 // 3
            self.setGeometry(QRect(area.x() + (area.width() - w) // 2,
                                   area.y() + (area.height() - h) // 2, w, h))
            self.showNormal()
            self.unsetCursor()
        self.raise_()
        self._cap_preview(True)
        self.redraw()
        self.screenChanged.emit(screen.name())
        log.info("output on %s %s (%s)", screen.name(), screen.geometry().getRect(),
                 "fullscreen" if fullscreen else "window")

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.leave_fullscreen()
        else:
            self.present(self.screen() or self.target, fullscreen=True)

    def leave_fullscreen(self) -> None:
        if self.isFullScreen():
            self.present(self.screen() or self.target, fullscreen=False)

    def _screen_removed(self, screen) -> None:
        if screen is not self.target:
            return
        # Qt deletes the QScreen after this signal: keep its name only, and move the window
        # once Qt has finished its own bookkeeping.
        gone = screen.name()
        self.target = None
        if self.isVisible():
            QTimer.singleShot(0, lambda: self._rehome(gone))

    def _rehome(self, gone: str) -> None:
        left = [s for s in QGuiApplication.screens() if s.name() != gone]
        screen = pick_screen(left, self.settings.output_screen, self._avoid())
        if screen is not None and self.isVisible():
            log.info("output screen %s went away: moving to %s", gone, screen.name())
            self.present(screen, fullscreen=self.isFullScreen())

    def _screen_added(self, screen) -> None:
        """The chosen screen is back (the projector plugged in again): go back to it."""
        name = self.settings.output_screen
        if not self.isVisible() or not name or screen.name() != name:
            return
        if self.target is not None and self.target.name() == name:
            return

        def back():
            for s in QGuiApplication.screens():
                if s.name() == name and self.isVisible():
                    self.present(s, fullscreen=self.isFullScreen())
                    return

        QTimer.singleShot(0, back)

    # -- the preview's share of the CPU --------------------------------------------------------
    def _cap_preview(self, on: bool) -> None:
        if on and not self._preview_caps:
            for v in (self.stage.raster, getattr(self.stage, "gl", None)):
                if v is not None:
                    self._preview_caps.append((v, v.scale.max_pixels))
                    v.scale.max_pixels = min(v.scale.max_pixels, PREVIEW_PIXELS_WITH_OUTPUT)
        elif not on:
            for v, pixels in self._preview_caps:
                v.scale.max_pixels = pixels
            self._preview_caps.clear()

    # -- keys and menu -------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key == Qt.Key.Key_F11:
            self.toggle_fullscreen()
        elif key == Qt.Key.Key_Escape:
            self.leave_fullscreen()  # and nothing else: Esc never ends the show
        elif key == Qt.Key.Key_Space:
            self.stage.toggle_play()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def contextMenuEvent(self, event) -> None:
        control = getattr(self, "control", None)
        if control is not None:
            control.context_menu().exec(event.globalPos())

    def closeEvent(self, event) -> None:
        self._cap_preview(False)
        self._refine.stop()
        super().closeEvent(event)
        self.closed.emit()

    def status_text(self) -> str:
        v = self.view
        w, h = v.shown_size
        screen = self.screen()
        where = f"{screen.name()} " if screen is not None else ""
        fps = v.meter.fps if self.stage.playing else 0.0
        dropped = max(0, v.requested - v.shown)
        rate = f"{fps:4.1f} fps" if self.stage.playing else "paused"
        path = "GL" if self.path == "gl" else "torch"
        return (f"output {where}· {path} {v.resolution} {w}×{h} · {rate} · {v.shown} frames"
                + (f", {dropped} dropped" if dropped else ""))

    def shutdown(self) -> None:
        self._refine.stop()
        self.view.shutdown()


class OutputControl(QObject):
    """What the main window shows of the output: the View menu's toggle, the screen and
    resolution menu, and a status-bar label; the window itself is built on first use."""

    def __init__(self, stage, settings, main_window):
        super().__init__(main_window)
        self.stage = stage
        self.settings = settings
        self.main_window = main_window
        self.window: OutputWindow | None = None
        self.action = QAction("&Output window", main_window)
        self.action.setCheckable(True)
        self.action.setShortcut("Ctrl+Shift+F")
        self.action.setStatusTip("the visuals fullscreen on another screen (a projector); "
                                 "F11 there toggles fullscreen, Esc leaves it")
        self.action.toggled.connect(self.set_open)
        self.menu = QMenu("Output s&creen and resolution", main_window)
        self.menu.aboutToShow.connect(lambda: self._fill(self.menu))
        self.status_label = QLabel()
        self.status_label.setToolTip("the output window: screen, internal resolution, "
                                     "frame rate, frames shown, and frames dropped because "
                                     "a newer one was due before they were drawn")
        self.status_label.hide()
        self._status = QTimer(self)
        self._status.setInterval(STATUS_MS)
        self._status.timeout.connect(self._update_status)

    # -- opening and closing -------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.window is not None and self.window.isVisible()

    def open(self, screen=None) -> OutputWindow:
        if self.window is None:
            self.window = OutputWindow(self.stage, self.settings, self.main_window)
            self.window.control = self
            self.window.closed.connect(self._closed)
        self.window.present(screen, fullscreen=True)
        self._sync_action(True)
        self.status_label.show()
        self._status.start()
        self._update_status()
        return self.window

    def close(self) -> None:
        if self.is_open:
            self.window.close()

    def set_open(self, on: bool) -> None:
        if on and not self.is_open:
            self.open()
        elif not on and self.is_open:
            self.close()

    def _closed(self) -> None:
        self._sync_action(False)
        self._status.stop()
        self.status_label.hide()

    def _sync_action(self, on: bool) -> None:
        if self.action.isChecked() != on:
            self.action.blockSignals(True)
            self.action.setChecked(on)
            self.action.blockSignals(False)

    def restore(self) -> bool:
        """Reopen the output when it was open at the last quit and its screen is here (and
        is not the main window's: a laptop alone is not covered by a fullscreen output)."""
        name = self.settings.output_screen
        if not self.settings.output_open or not name:
            return False
        screen = next((s for s in QGuiApplication.screens() if s.name() == name), None)
        if screen is None or screen is self.main_window.screen():
            return False
        self.open(screen)
        return True

    def shutdown(self) -> None:
        """At quit: remember whether the output was open, close it, stop its threads."""
        self.settings.output_open = self.is_open
        self._status.stop()
        if self.window is not None:
            self.window.close()
            self.window.shutdown()

    # -- choices -------------------------------------------------------------------------------
    def choose_screen(self, name: str) -> None:
        self.settings.output_screen = name
        screen = next((s for s in QGuiApplication.screens() if s.name() == name), None)
        if self.is_open and screen is not None:
            self.window.present(screen, fullscreen=self.window.isFullScreen())
        elif screen is not None:
            self.open(screen)

    def choose_resolution(self, name: str) -> None:
        self.settings.output_resolution = name
        if self.window is not None:
            self.window.set_resolution(name)

    def context_menu(self) -> QMenu:
        menu = QMenu(self.window)
        full = menu.addAction("&Fullscreen\tF11", self.window.toggle_fullscreen)
        full.setCheckable(True)
        full.setChecked(self.window.isFullScreen())
        menu.addSeparator()
        self._fill(menu)
        menu.addSeparator()
        menu.addAction("&Close output", self.close)
        return menu

    def _fill(self, menu: QMenu) -> None:
        """Screens (as they are now: one may have been plugged in) and resolutions."""
        if menu is self.menu:
            menu.clear()
        current = self.window.target if self.is_open else None
        chosen = pick_screen(QGuiApplication.screens(), self.settings.output_screen,
                             self.main_window.screen())
        shown = current or chosen
        screens = QActionGroup(menu)
        for s in QGuiApplication.screens():
            g, name = s.geometry(), s.name()
            act = menu.addAction(f"{name}  {g.width()}×{g.height()} at {g.x()},{g.y()}"
                                 + ("  (this window)" if s is self.main_window.screen()
                                    else ""))
            act.setCheckable(True)
            act.setChecked(s is shown)
            act.setActionGroup(screens)
            act.triggered.connect(lambda _=False, n=name: self.choose_screen(n))
        menu.addSeparator()
        sizes = QActionGroup(menu)
        for name in OUTPUT_RESOLUTIONS:
            label = {"adaptive": "Adaptive (holds the frame rate)",
                     "native": "Native (the screen's pixels)"}.get(name, f"{name} internal")
            act = menu.addAction(label)
            act.setCheckable(True)
            act.setChecked(name == self.settings.output_resolution)
            act.setActionGroup(sizes)
            act.triggered.connect(lambda _=False, n=name: self.choose_resolution(n))

    def _update_status(self) -> None:
        if self.is_open:
            self.status_label.setText(self.window.status_text())


__all__ = ["OutputControl", "OutputView", "OutputWindow", "frame_key", "pick_screen",
           "resolution_height"]
