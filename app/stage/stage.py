"""The stage: the live preview, the transport (load / play / pause / seek) and a timeline
of the track's energy and beats. The player's position is the clock the visuals follow."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QElapsedTimer, Qt, QTimer, QUrl, Signal
from PySide6.QtWidgets import (
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedLayout,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.stage.preview import FpsMeter, RasterView
from app.workers import Worker
from engine.reactive import FrameParams

log = logging.getLogger("sonolume.app.stage")

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".oga", ".aiff", ".aif")
ANALYSIS_FPS = 30.0

try:  # QtMultimedia needs system libraries (libpulse); the app still works without it
    from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

    MULTIMEDIA_ERROR = ""
except ImportError as exc:  # pragma: no cover - depends on the machine
    QAudioOutput = QMediaPlayer = None
    MULTIMEDIA_ERROR = str(exc)


def player_call(player, slot: str, *args) -> None:
    """Call a QMediaPlayer slot with the GIL released.

    PySide6 keeps the GIL through play()/pause()/stop()/setPosition(), which wait for Qt's
    signal lock, while QtMultimedia's FFmpeg thread, tearing down its audio renderer under
    that lock, asks for the GIL (to look for Python overrides on our QAudioOutput): a
    deadlock, caught in the test suite with py-spy. ``QMetaObject.invokeMethod`` releases
    the GIL; a direct connection still runs the slot now, on this thread."""
    from PySide6.QtCore import Q_ARG, QMetaObject, Qt

    qargs = [Q_ARG("qint64", int(a)) for a in args]
    if not QMetaObject.invokeMethod(player, slot, Qt.ConnectionType.DirectConnection, *qargs):
        log.warning("media player: %s%s failed", slot, args)


def fmt_time(t: float) -> str:
    t = max(0.0, t)
    return f"{int(t) // 60}:{int(t) % 60:02d}.{int(t * 10) % 10}"


def analyze_track(path: str, *, progress, cancel):
    from engine.audio.analyze import analyze

    return analyze(path, fps=ANALYSIS_FPS, progress=lambda f, stage="": progress((f, stage)),
                   cancel=cancel)


def analyze_bars(path: str, *, progress, cancel):
    """Downbeats and labelled sections (cached with the analysis): the show's grid."""
    from engine.audio.structure import analyze_structure

    return analyze_structure(path, progress=lambda f, stage="": progress((f, stage)),
                             cancel=cancel)


class Clock:
    """Playback time: follows the media player when there is one, runs on its own else
    (no track, no audio backend). Extrapolated between the player's coarse position
    updates so the visuals move smoothly."""

    def __init__(self):
        self.timer = QElapsedTimer()
        self.base = 0.0
        self.playing = False
        self.duration = math.inf

    def now(self) -> float:
        t = self.base + (self.timer.elapsed() / 1000.0 if self.playing else 0.0)
        return min(t, self.duration)

    def start(self) -> None:
        if not self.playing:
            self.timer.start()
            self.playing = True

    def stop(self) -> None:
        if self.playing:
            self.base = self.now()
            self.playing = False

    def set(self, t: float) -> None:
        self.base = max(0.0, min(t, self.duration))
        if self.playing:
            self.timer.start()


class Timeline(pg.PlotWidget):
    seekRequested = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFixedHeight(92)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.getPlotItem().hideAxis("left")
        self.setLabel("bottom", "time (s) — energy and beats; click or drag to seek")
        self.setYRange(0, 1.05, padding=0)
        self.energy = self.plot([], [], pen=pg.mkPen((90, 170, 255), width=1),
                                fillLevel=0, brush=(90, 170, 255, 70))
        self.onset = self.plot([], [], pen=pg.mkPen((255, 255, 255, 60), width=1))
        self.beats = pg.PlotDataItem([], [], connect="pairs",
                                     pen=pg.mkPen((255, 190, 60, 200), width=1))
        self.addItem(self.beats)
        # The curves only change with the track: draw them once into a pixmap so the moving
        # play head repaints a blit, not a filled path of every video frame of the song.
        for item in (self.energy.curve, self.onset.curve, self.beats.curve):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.head = pg.InfiniteLine(0, angle=90, movable=True,
                                    pen=pg.mkPen((255, 80, 80), width=2))
        self.head.sigDragged.connect(lambda line: self.seekRequested.emit(float(line.value())))
        self.addItem(self.head)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.duration = 0.0
        self.hint = pg.TextItem("load a track to see its energy and beats here",
                                color=(170, 170, 170), anchor=(0.5, 0.5))
        self.addItem(self.hint)
        self.set_features(None)

    def set_features(self, features) -> None:
        if features is None or features.n_frames == 0:
            self.energy.setData([], [])
            self.onset.setData([], [])
            self.beats.setData([], [])
            self.duration = 0.0
            self.setXRange(0, 1, padding=0)
            self.hint.setPos(0.5, 0.5)
            self.hint.setVisible(True)
            self.head.setVisible(False)
            return
        self.hint.setVisible(False)
        self.head.setVisible(True)
        t = features.times()
        self.energy.setData(t, np.asarray(features.rms, float))
        self.onset.setData(t, np.asarray(features.onset, float) * 0.6)
        b = np.asarray(features.beat_times, float)
        self.beats.setData(np.repeat(b, 2), np.tile([0.0, 1.05], len(b)))
        self.duration = float(features.duration)
        self.setXRange(0, max(self.duration, 0.1), padding=0)
        self.head.setBounds((0, self.duration))

    def set_time(self, t: float) -> None:
        if not self.head.moving:
            self.head.setValue(t)

    def _clicked(self, ev) -> None:
        if self.duration <= 0:
            return
        pos = self.getPlotItem().vb.mapSceneToView(ev.scenePos())
        self.seekRequested.emit(float(min(max(pos.x(), 0.0), self.duration)))


class Stage(QWidget):
    trackLoaded = Signal(object)  # AudioFeatures
    trackReady = Signal()  # bars and sections are known too (the show's grid)
    showChanged = Signal()  # a show started, was edited or closed
    liveChanged = Signal(bool)  # live audio started (True) or stopped driving the preview
    liveStarting = Signal()  # about to go live: a take of moves on the track ends first
    liveRecordingChanged = Signal(bool)  # a live set started or stopped recording
    liveSetRecorded = Signal(str)  # a recorded live set was saved as this show file
    trackCleared = Signal()
    statusMessage = Signal(str)
    pathChanged = Signal(str)

    def __init__(self, settings, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.setAcceptDrops(True)
        self.shown_style = None
        # What the preview draws: the engine's Scene (one style following the library, or a
        # show); the views only draw the frames it gives (the export reads the same scene).
        self.scene = None
        self.show_active = False  # the scene is a show, not the library's selected style
        self.show_timeline = None
        self.structure = None  # engine.audio.structure.Structure of the loaded track
        self._live = None  # the LiveInput driving the preview, while one does
        self.live_set = None  # engine.control.live_set.LiveSet, in live mode
        self._before_live = None  # the scene to come back to
        self.controller = None  # the control panel's Controller (moves reach a live set)
        self.bars: Worker | None = None
        self.features = None
        self.track_path: str | None = None
        self.analysis: Worker | None = None
        self.clock = Clock()
        self.meter = FpsMeter()
        self.active_path = "torch"
        self.path_note = ""
        self._last_tick = 0.0
        self._hold = (0.0, 0.0)  # (seek target, until when): see _sync_player
        self.preset = None  # engine.reactive.Preset, set by the reactivity panel
        self.amounts: dict[str, float] = {}

        self.view_box = QWidget()
        self.views = QStackedLayout(self.view_box)
        self.raster = RasterView(settings.target_fps)
        self.raster.failed.connect(self._render_failed)
        self.raster.frameShown.connect(self._frame_shown)
        self.views.addWidget(self.raster)
        self.gl = None
        self._choose_path()

        self.load_button = QPushButton("Load track…")
        self.load_button.setToolTip("open an audio file (WAV, FLAC, OGG, MP3); you can also "
                                     "drop one on the preview")
        self.load_button.clicked.connect(self.choose_track)
        self.play_button = QPushButton("Play")
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("play / pause (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        self.time_label = QLabel("0:00.0")
        self.time_label.setMinimumWidth(120)
        self.track_label = QLabel("no track loaded")
        self.track_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                       QSizePolicy.Policy.Preferred)
        self.path_label = QLabel()
        self.path_label.setToolTip("which renderer draws the preview, at what internal size")
        self.fps_label = QLabel("– fps")
        self.fps_label.setMinimumWidth(60)
        bar = QHBoxLayout()
        bar.addWidget(self.load_button)
        bar.addWidget(self.play_button)
        bar.addWidget(self.time_label)
        bar.addWidget(self.track_label, 1)
        bar.addWidget(self.path_label)
        bar.addWidget(self.fps_label)
        self.timeline = Timeline()
        self.timeline.seekRequested.connect(self.seek)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.view_box, 1)
        layout.addLayout(bar)
        layout.addWidget(self.timeline)

        self.player = None
        self.audio = None
        if QMediaPlayer is not None:
            self.player = QMediaPlayer(self)
            self.audio = QAudioOutput(self)
            self.player.setAudioOutput(self.audio)
            self.player.positionChanged.connect(self._player_position)
            self.player.errorOccurred.connect(self._player_error)
            self.player.mediaStatusChanged.connect(self._media_status)
        else:
            log.warning("QtMultimedia unavailable (%s): preview runs silent", MULTIMEDIA_ERROR)

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.tick)
        self.timer.start(max(5, int(1000 / settings.target_fps)))
        self._dirty = True
        # A still (paused) frame is redrawn at full resolution once things settle.
        self._refine = QTimer(self)
        self._refine.setSingleShot(True)
        self._refine.setInterval(250)
        self._refine.timeout.connect(self._draw_full)

    # -- render path -----------------------------------------------------------------------
    def _choose_path(self) -> None:
        """Start with the GL view when asked for or when it may win; app.stage.glview decides
        after measuring and may hand back to the torch view."""
        want = self.settings.preview_path
        if want == "torch":
            self._use_raster("torch renderer (chosen in Settings)")
            return
        try:
            from app.stage.glview import GLView, gl_possible
        except ImportError as exc:
            self._use_raster(f"torch renderer (no GL view: {exc})")
            return
        ok, why = gl_possible()
        if not ok:
            self._use_raster(f"torch renderer ({why})")
            return
        self.gl = GLView(self.settings.target_fps, force=(want == "gl"))
        self.gl.fallback.connect(self._gl_fallback)
        self.gl.failed.connect(self._render_failed)
        self.gl.frameShown.connect(self._frame_shown)
        self.views.addWidget(self.gl)
        self.views.setCurrentWidget(self.gl)
        self.active_path = "gl"
        self.path_note = "GL shader"

    def _use_raster(self, note: str) -> None:
        self.views.setCurrentWidget(self.raster)
        self.active_path = "torch"
        self.path_note = note
        log.info("preview path: %s", note)
        if self.cppn is not None:
            self.raster.set_cppn(self.cppn)
        self._dirty = True
        self.pathChanged.emit(self.active_path)

    def _gl_fallback(self, why: str) -> None:
        self._use_raster(f"torch renderer ({why})")
        self.statusMessage.emit(f"preview: {why}; using the torch renderer")

    @property
    def view(self):
        return self.gl if self.active_path == "gl" else self.raster

    def _render_failed(self, message: str) -> None:
        self.statusMessage.emit(message)

    # -- style -----------------------------------------------------------------------------
    def set_style(self, style) -> None:
        """Show ``style`` (a library Style) or nothing (None) for the whole track."""
        from engine.scene import Scene

        self.shown_style = style
        if self.live_set is not None:
            self._live_style(style)
            return
        if self.show_active:
            return  # a show plays on; the library selection is what edits use
        cppn = None
        if style is None:
            self.scene = None
        else:
            try:
                if self.scene is None:
                    self.scene = Scene.single(style, features=self.features,
                                              preset=self.preset, amounts=self.amounts,
                                              track=self.track_path)
                else:
                    self.scene.set_style(style)
                cppn = self.scene.cppn(self.scene.segments[0].style)
            except Exception as exc:  # noqa: BLE001 - a broken style must not break the app
                log.exception("cannot load style %s", style.id)
                self.scene = None
                dialogs.error(self, "Style", f"cannot load '{style.name}': {exc}")
        for v in (self.raster, self.gl):
            if v is not None:
                v.set_cppn(cppn)
        self._dirty = True

    def _live_style(self, style) -> None:
        """A library click while live: the set shows it from now (not while recording: a
        recorded set changes style on the beat, through next / previous / pick)."""
        from engine.errors import SonolumeError

        if style is None:
            return
        try:
            self.live_set.show_style(style)
        except SonolumeError as exc:
            self.statusMessage.emit(str(exc))
        self._dirty = True

    @property
    def cppn(self):
        """The CPPN shown now (the outgoing one inside a transition); None without a style."""
        if self.scene is None:
            return None
        t = self.live_set.now() if self.live_set is not None else self.clock.now()
        return self.scene.frame_at(t).cppn

    @property
    def param_track(self):
        """The reactivity over the whole track for the style shown now (None: no track)."""
        cppn = self.cppn
        if cppn is None:
            return None
        return self.scene.param_track(int(cppn.config.extra_inputs))

    # -- track -----------------------------------------------------------------------------
    def choose_track(self) -> None:
        filters = "Audio (" + " ".join(f"*{s}" for s in AUDIO_SUFFIXES) + ");;All files (*)"
        path = dialogs.open_file(self, "Load track", self.settings.last_dir("tracks"), filters)
        if path:
            self.settings.remember_dir("tracks", path)
            self.load_track(path)

    def load_track(self, path: str) -> Worker:
        """Analyse ``path`` in the background; the player starts with it when that works."""
        if self.analysis is not None:
            self.analysis.cancel()
        self.pause()
        name = Path(path).name
        self.track_label.setText(f"analysing {name}…")
        self.statusMessage.emit(f"analysing {name}…")

        def progress(msg):
            frac, stage = msg
            self.track_label.setText(f"analysing {name}… {int(frac * 100)}%")

        def finished(features):
            self._set_track(path, features)

        def failed(err):
            self.track_label.setText(f"could not load {name}")
            dialogs.error(self, "Load track", f"cannot use {name}: {err.message}",
                          err.traceback if err.is_bug else "")

        def cancelled(_msg):
            pass

        worker = Worker(analyze_track, str(path), name=f"analysing {name}")
        worker.on(progress=progress, finished=finished, errored=failed, cancelled=cancelled,
                  done=lambda: setattr(self, "analysis", None)
                  if self.analysis is worker else None)
        self.analysis = worker
        return worker.start()

    def _set_track(self, path: str, features) -> None:
        self.track_path = str(path)
        self.features = features
        self.clock.duration = float(features.duration)
        self.clock.set(0.0)
        self.timeline.set_features(features)
        stats = features.stats or {}
        key = f" · {stats.get('key')} {stats.get('mode')}" if stats.get("key") else ""
        self.track_label.setText(f"{Path(path).name} · {features.duration:.1f} s · "
                                 f"{features.tempo:.0f} BPM{key}")
        self.track_label.setToolTip(str(path))
        if self.player is not None:
            self.player.setSource(QUrl.fromLocalFile(str(path)))
        self.structure = None
        if self.show_active:
            self.leave_show()  # a show belongs to its own track
        if self.scene is not None:
            self.scene.set_features(features, track=self.track_path)
        self._dirty = True
        self.statusMessage.emit(f"loaded {Path(path).name}")
        self.trackLoaded.emit(features)
        self._find_bars(str(path), features)

    def _find_bars(self, path: str, features) -> None:
        """Bars and sections after the preview already plays (they take a few seconds
        more on a new track); a failure leaves the beat grid from the features."""
        if self.bars is not None:
            self.bars.cancel()

        def finished(structure):
            if self.features is not features:
                return  # another track was loaded meanwhile
            self.structure = structure
            if self.scene is not None:
                self.scene.set_features(features, structure, track=self.track_path)
            self._dirty = True
            self.trackReady.emit()

        def failed(err):
            log.warning("bars and sections of %s: %s", path, err.message)
            self.statusMessage.emit(f"no bars or sections for this track: {err.message}")
            if self.features is features:
                self.trackReady.emit()

        worker = Worker(analyze_bars, path, name="bars and sections")
        worker.on(finished=finished, errored=failed,
                  done=lambda: setattr(self, "bars", None) if self.bars is worker else None)
        self.bars = worker
        worker.start()

    def clear_track(self) -> None:
        self.pause()
        if self.show_active:
            self.leave_show()
        self.structure = None
        self.features = None
        self.track_path = None
        self.clock.duration = math.inf
        self.clock.set(0.0)
        self.timeline.set_features(None)
        if self.player is not None:
            self.player.setSource(QUrl())
        self.track_label.setText("no track loaded")
        if self.scene is not None:
            self.scene.set_features(None)
        self._dirty = True
        self.trackCleared.emit()

    # -- reactivity ------------------------------------------------------------------------
    def set_reactivity(self, preset, amounts: dict[str, float] | None = None) -> None:
        self.preset = preset
        self.amounts = dict(amounts or {})
        if self.live_set is not None:
            from engine.errors import SonolumeError

            try:
                self.live_set.set_reactivity(preset, self.amounts)
            except SonolumeError as exc:
                self.statusMessage.emit(str(exc))
        elif self.scene is not None:
            self.scene.set_reactivity(preset, self.amounts)
        self._dirty = True

    def effective_preset(self):
        """The chosen preset with each target scaled by its slider (0 = off, 1 = as is)."""
        if self.preset is None or self.scene is None:
            return None
        return self.scene.effective_preset()

    def frame_at(self, t: float):
        """The scene's frame at ``t`` (None: nothing to draw)."""
        return self.scene.frame_at(t) if self.scene is not None else None

    def params_at(self, t: float) -> FrameParams:
        frame = self.frame_at(t)
        return frame.params if frame is not None else FrameParams.neutral(0)

    # -- shows -------------------------------------------------------------------------------
    def start_show(self, show) -> None:
        """Play a show: an engine Scene (opened from a file) or an Arrangement to lay over
        this track with the current reactivity (a new show)."""
        from engine.scene import Scene

        if isinstance(show, Scene):
            scene = show
            self.preset = scene.loaded_preset()
            self.amounts = dict(scene.amounts)
        else:
            used = {s.style for s in show.segments}
            scene = Scene({k: v for k, v in show.styles if k in used}, list(show.segments),
                          list(show.transitions), features=self.features,
                          structure=self.structure, preset=self.preset, amounts=self.amounts,
                          track=self.track_path)
        self.scene = scene
        self.show_active = True
        for v in (self.raster, self.gl):
            if v is not None:
                v.set_cppn(scene.cppn(scene.segments[0].style))
        self.scene_edited()

    def leave_show(self) -> None:
        """Back to the library's selected style over the whole track."""
        self.show_active = False
        self.scene = None
        self.set_style(self.shown_style)
        self.showChanged.emit()

    def scene_edited(self) -> None:
        self._dirty = True
        if self.show_timeline is not None:
            self.show_timeline.refresh()
        self.showChanged.emit()

    def add_show_timeline(self, panel) -> None:
        """The show's panel (controls + timeline) goes under the energy/beat timeline; its
        timeline seeks like that one and follows the play head."""
        timeline = panel.timeline
        self.show_timeline = timeline
        self.layout().addWidget(panel)
        timeline.seekRequested.connect(self.seek)
        for sig in (self.trackLoaded, self.trackReady, self.trackCleared):
            sig.connect(lambda *_: timeline.refresh())

    def export_scene(self):
        """A snapshot of what the preview plays, for the export (edits made while it runs
        do not reach it), or None when there is no style or no track."""
        if self.scene is None or self.features is None:
            return None
        return self.scene.copy()

    # -- transport -------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.clock.playing

    def current_time(self) -> float:
        """The clock the views and control moves follow: the player's, or in live mode the
        stream's (the newest features step, which the preview and the output draw; a live
        set places moves just after it itself)."""
        if self.live_set is not None:
            return self.live_set.now()
        return self.clock.now()

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.features is not None and self.clock.now() >= self.clock.duration - 1e-3:
            self.seek(0.0)
        self.clock.start()
        if self.player is not None and self.features is not None:
            self._sync_player()
            player_call(self.player, "play")
        self.play_button.setText("Pause")
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self.meter.reset()

    def pause(self) -> None:
        self.clock.stop()
        if self.player is not None:
            player_call(self.player, "pause")
        self.play_button.setText("Play")
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self._dirty = True

    def seek(self, t: float) -> None:
        if self.live_set is not None:
            return  # live, the stream is the clock
        self.clock.set(float(t))
        self._sync_player()
        self._dirty = True

    def _sync_player(self) -> None:
        """Move the player to the clock; until it reports a position near there, its
        (stale) reports are ignored rather than dragging the clock back."""
        if self.player is not None and self.features is not None:
            self._hold = (self.clock.now(), time.monotonic() + 1.5)
            player_call(self.player, "setPosition", int(self.clock.now() * 1000))

    def _player_position(self, ms: int) -> None:
        if not self.playing:
            return
        t = ms / 1000.0
        target, until = self._hold
        if until:
            if abs(t - target) > 0.3 and time.monotonic() < until:
                return  # still the position from before the seek
            self._hold = (0.0, 0.0)
        if abs(t - self.clock.now()) > 0.2:  # the audio is the master clock
            self.clock.set(t)

    def _media_status(self, status) -> None:
        # A position set before the media finished loading is dropped by the backend:
        # apply the clock's position again once it can take it.
        if status in (QMediaPlayer.MediaStatus.LoadedMedia,
                      QMediaPlayer.MediaStatus.BufferedMedia) and self.clock.now() > 0.05:
            self._sync_player()

    def _player_error(self, _error, text: str) -> None:
        log.warning("media player: %s", text)
        self.statusMessage.emit(f"audio playback unavailable ({text}); visuals keep time")

    # -- live audio ----------------------------------------------------------------------
    # In live mode the preview draws the engine's LiveSet (engine.control.live_set): a
    # scene on the stream's clock, stepped by every features frame, changed by control moves
    # on the live tracker's beats, and recorded into a show that renders the same frames.
    @property
    def live_active(self) -> bool:
        return self.live_set is not None

    @property
    def live_recording(self) -> bool:
        return self.live_set is not None and self.live_set.recording

    def start_live(self, live_input, device=None) -> bool:
        """Let live sound drive the preview instead of the track: ``live_input`` (an
        app.live.audio_input.LiveInput) captures and analyses it and a LiveSet plays the
        scene on it, starting with the style at the paused position (seek to pick a show's
        segment); style changes walk the show's styles (or the library's with one style).
        False (with the input's own message) when it cannot start."""
        from engine.control.live_set import LiveSet
        from engine.errors import SonolumeError

        if self.scene is None:
            self.statusMessage.emit("choose a style first: live sound moves a style")
            return False
        self.pause()
        self.stop_live()
        if not live_input.start(device):
            return False
        self.liveStarting.emit()
        try:
            live_set = LiveSet(self.scene, getattr(live_input, "analyzer", None),
                               fps=float(self.settings.target_fps), controller=self.controller,
                               start_time=self.clock.now(), on_error=self._live_problem)
        except SonolumeError as exc:
            live_input.stop()
            self.statusMessage.emit(f"live: {exc}")
            return False
        self._live = live_input
        self.live_set = live_set
        self._before_live = self.scene
        self.scene = live_set.scene
        if hasattr(live_input, "stepsReady"):
            live_input.stepsReady.connect(self._live_block)
        else:  # an input that hands over features only (no recording possible)
            live_input.featuresReady.connect(self._live_step)
        self._dirty = True
        self.liveChanged.emit(True)
        return True

    def stop_live(self):
        """Back to the track. A set being recorded is saved first (its show's path is
        returned and announced by ``liveSetRecorded``)."""
        from engine.errors import SonolumeError

        live, self._live = self._live, None
        live_set = self.live_set
        path = None
        if live_set is not None and live_set.recording:
            try:
                path = live_set.stop_recording()
            except SonolumeError as exc:
                self.statusMessage.emit(str(exc))
            self.liveRecordingChanged.emit(False)
        if live is not None:
            if hasattr(live, "stepsReady"):
                live.stepsReady.disconnect(self._live_block)
            else:
                live.featuresReady.disconnect(self._live_step)
            live.stop()
        if live_set is not None:
            self.live_set = None
            self.scene = self._before_live
            self._before_live = None
            if self.scene is not None:  # reactivity chosen while live holds on the track too
                self.scene.set_reactivity(self.preset, self.amounts)
            if not self.show_active and self.shown_style is not None and \
                    self.scene is not None and self.shown_style is not \
                    self.scene.styles.get(self.scene.segments[0].style):
                self.set_style(self.shown_style)  # a library click made while live
            self._dirty = True
            self.liveChanged.emit(False)
        if path is not None:
            self.statusMessage.emit(f"live set saved: {path}")
            self.liveSetRecorded.emit(str(path))
        return path

    def start_live_recording(self, show_path) -> bool:
        """Record the set from now into ``show_path`` (with its .flac and .steps beside);
        False (with a status message) when it cannot, and the preview plays on."""
        from engine.errors import SonolumeError

        if self.live_set is None:
            self.statusMessage.emit("start live input first: a set records what it hears")
            return False
        try:
            path = self.live_set.start_recording(show_path)
        except SonolumeError as exc:
            self.statusMessage.emit(f"cannot record the set: {exc}")
            return False
        self.statusMessage.emit(f"recording the live set to {path}")
        self.liveRecordingChanged.emit(True)
        return True

    def _live_problem(self, message: str) -> None:
        """The LiveSet stopped recording by itself (disk full, the input's rate changed)."""
        self.statusMessage.emit(f"live set: {message}")
        self.liveRecordingChanged.emit(False)

    def _live_block(self, block, steps) -> None:
        if self.live_set is None:
            return
        self.live_set.take(block, steps)
        if steps:
            self._dirty = True

    def _live_step(self, features) -> None:
        if self.live_set is None:
            return
        self.live_set.step(features)
        self._dirty = True

    def live_frame(self):
        """What the live set draws now."""
        return self.live_set.frame_at()

    def tick(self) -> None:
        if self.live_active and self.scene is not None:
            if self._dirty:
                self._dirty = False
                self.view.draw(self.live_frame())
                ls = self.live_set
                self.time_label.setText(f"live {fmt_time(ls.now())}" + (
                    f" · ● {fmt_time(ls.elapsed)}" if ls.recording else ""))
            now = time.perf_counter()
            if now - self._last_tick > 0.5:
                self._last_tick = now
                self._update_labels()
            return
        t = self.clock.now()
        if self.features is not None and self.playing and t >= self.clock.duration - 1e-3:
            self.pause()
        self.time_label.setText(
            fmt_time(t) + (f" / {fmt_time(self.clock.duration)}" if self.features else ""))
        self.timeline.set_time(t)
        if self.show_timeline is not None:
            self.show_timeline.set_time(t)
        if (self.playing or self._dirty) and self.scene is not None:
            still = self._dirty and not self.playing
            self._dirty = False
            self.view.draw(self.frame_at(t))
            if still:
                self._refine.start()
        now = time.perf_counter()
        if now - self._last_tick > 0.5:
            self._last_tick = now
            self._update_labels()

    def _draw_full(self) -> None:
        if not self.playing and self.scene is not None:
            self.view.draw(self.frame_at(self.clock.now()), full=True)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._dirty = True

    def _frame_shown(self) -> None:
        self.meter.tick()

    def _update_labels(self) -> None:
        view = self.view
        running = self.playing or self.live_active
        w, h = view.render_size if running else view.shown_size
        fps = self.meter.fps if running else 0.0
        name = "GL" if self.active_path == "gl" else "torch"
        precision = getattr(view, "shown_precision", "fp32")
        if name == "torch" and precision != "fp32":
            name = f"torch {precision}"  # the background check switched this view to bf16
        self.path_label.setText(f"{name} · {w}×{h}")
        note = getattr(view, "precision_note", "")
        self.path_label.setToolTip(self.path_note + (f"\n{note}" if note else ""))
        self.fps_label.setText((f"live {fps:4.1f} fps" if self.live_active else
                                f"{fps:4.1f} fps") if running else "paused")

    def set_target_fps(self, fps: int) -> None:
        self.timer.setInterval(max(5, int(1000 / fps)))
        for v in (self.raster, self.gl):
            if v is not None:
                v.set_target_fps(fps)

    # -- drag and drop -----------------------------------------------------------------------
    @staticmethod
    def _audio_file(event) -> str | None:
        md = event.mimeData()
        if md.hasUrls():
            for u in md.urls():
                if u.isLocalFile() and u.toLocalFile().lower().endswith(AUDIO_SUFFIXES):
                    return u.toLocalFile()
        return None

    def dragEnterEvent(self, event):
        # Live, the preview draws the stream: a track loaded now would give the live set
        # the track's length (as File > Load, which is off while live), so no drop.
        if self._audio_file(event) and not self.live_active:
            event.acceptProposedAction()

    def dropEvent(self, event):
        path = self._audio_file(event)
        if not path:
            return
        if self.live_active:
            event.ignore()
            self.statusMessage.emit(f"live input is on: stop it to load {Path(path).name}")
            return
        event.acceptProposedAction()
        self.load_track(path)

    def shutdown(self) -> None:
        self.timer.stop()
        self.stop_live()
        if self.analysis is not None:
            self.analysis.cancel()
        if self.player is not None:
            player_call(self.player, "stop")
            # setSource releases the GIL (PySide marks it so): the FFmpeg engine's threads
            # wind down now, not later inside a destructor that runs with the GIL held.
            self.player.setSource(QUrl())
        self.raster.shutdown()
        if self.gl is not None:
            self.gl.shutdown()
