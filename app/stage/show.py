"""The show timeline under the preview: sections, bars, the show's segments as coloured
blocks with their style's thumbnail, and the transition at every boundary.

It only shows and edits the engine's objects: the Stage's :class:`engine.scene.Scene`, and
edits from :mod:`engine.scene.edit` kept on a QUndoStack as arrangements (before, after),
so every edit undoes exactly. Files are the engine's show files (:mod:`engine.scene.show`).

Mouse: click to seek; click a boundary's marker for its transition; right-click a segment
to use the library's selected style, split at the pointer or merge with the next; drop a
style from the library onto a segment.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from PySide6.QtCore import QObject, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QPainter,
    QPen,
    QPixmap,
    QPolygonF,
    QUndoCommand,
    QUndoGroup,
    QUndoStack,
)
from PySide6.QtWidgets import QMenu, QSizePolicy, QWidget

from app import dialogs
from app.common import STYLE_MIME
from app.workers import Worker
from engine.errors import SonolumeError
from engine.scene import TRANSITIONS, Transition, edit

log = logging.getLogger("sonolume.app.show")

SECTION_H, BLOCK_H, BAR_H = 16, 40, 14
HEIGHT = SECTION_H + BLOCK_H + BAR_H + 4
GRAB_PX = 6  # how close to a boundary a click picks it
TRANSITION_BEATS = (1, 2, 4, 8)
_PALETTE = [QColor(c) for c in ("#3a6ea5", "#a5493a", "#4f8a3c", "#8a3c7d", "#b08a2e",
                                "#2e8a8a", "#6a4fb0", "#8a5a3c")]


def _label_colour(label: str) -> QColor:
    return _PALETTE[(ord(label[0]) - ord("A")) % len(_PALETTE)] if label else _PALETTE[0]


class ArrangementEdit(QUndoCommand):
    """One timeline edit: the arrangement before and after (engine values)."""

    def __init__(self, editor: ShowEditor, text: str, before, after):
        super().__init__(text)
        self.editor, self.before, self.after = editor, before, after

    def redo(self) -> None:
        self.editor._apply(self.after)

    def undo(self) -> None:
        self.editor._apply(self.before)


class ShowEditor(QObject):
    """The show open in the app: the stage's scene as a show, its file, its undo stack."""

    changed = Signal()  # the arrangement (or the whole show) changed: redraw
    titleChanged = Signal(str)
    statusMessage = Signal(str)

    def __init__(self, stage, library_getter, parent=None):
        super().__init__(parent)
        self.stage = stage
        self.library = library_getter  # callable: the app's current Library
        self.undo = QUndoStack(self)
        self.undo.cleanChanged.connect(self._clean_changed)
        # The Edit menu's undo/redo follow the group's active stack: none while live input
        # plays the show, so an undo cannot rewrite a set being performed (and recorded).
        self.group = QUndoGroup(self)
        self.group.addStack(self.undo)
        self.group.setActiveStack(self.undo)
        stage.liveChanged.connect(self._live_changed)
        self.path: Path | None = None
        self.name = ""
        self.worker: Worker | None = None
        self._pending = None  # (Show, path) waiting for its track's analysis
        self._waiting = False
        self._replay: Worker | None = None  # a recorded set's steps, replayed off the GUI

    def _clean_changed(self, _clean: bool) -> None:
        import shiboken6

        if shiboken6.isValid(self.undo):  # not while the window tears the stack down
            self.titleChanged.emit(self.title())

    def _live_changed(self, live: bool) -> None:
        self.group.setActiveStack(None if live else self.undo)
        self.changed.emit()

    # -- state ---------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.stage.show_active

    @property
    def editable(self) -> bool:
        """Not while live input plays the show: live, the arrangement is the set's own,
        changed only on the live beats, so a render of the recorded set stays exact."""
        return not getattr(self.stage, "live_active", False)

    def _refuse_live(self) -> bool:
        if self.editable:
            return False
        self.statusMessage.emit("the show cannot be edited while live input plays it: "
                                "stop live first (style changes live: next / previous / pick)")
        return True

    def title(self) -> str:
        if not self.active:
            return ""
        name = self.name or (self.path.stem if self.path else "untitled show")
        return name + ("" if self.undo.isClean() else " *")

    def arrangement(self):
        return edit.Arrangement.of(self.stage.scene)

    def _apply(self, arrangement) -> None:
        arrangement.apply(self.stage.scene)
        self.stage.scene_edited()
        self.changed.emit()

    def push(self, text: str, after) -> None:
        if self._refuse_live():
            return
        self.undo.push(ArrangementEdit(self, text, self.arrangement(), after))

    def _try(self, text: str, make) -> bool:
        """Apply an engine edit, or say in one line why it cannot be done."""
        if self._refuse_live():
            return False
        try:
            after = make(self.arrangement())
        except SonolumeError as exc:
            self.statusMessage.emit(str(exc))
            return False
        self.push(text, after)
        return True

    # -- edits -----------------------------------------------------------------------------
    def split(self, t: float) -> bool:
        return self._try("split", lambda a: edit.split(a, self.stage.scene.grid, t))

    def merge(self, index: int) -> bool:
        return self._try("merge", lambda a: edit.merge(a, index))

    def assign(self, index: int, style) -> bool:
        return self._try(f"use {style.name}", lambda a: edit.assign(a, index, style))

    def set_transition(self, boundary: int, transition: Transition) -> bool:
        return self._try(f"transition {transition.text}",
                         lambda a: edit.set_transition(a, boundary, transition))

    # -- whole shows -------------------------------------------------------------------------
    def auto_arrange(self, rule: str = "sections", transition: str = "crossfade:2",
                     styles=None) -> Worker | None:
        """Pick a style per section (the suggestion ranking on each section's own sound;
        repeats share one) off the GUI thread; the result is one undoable edit."""
        stage = self.stage
        if self._refuse_live():
            return None
        if stage.features is None:
            dialogs.error(None, "Show", "Load a track first: a show is arranged on its bars "
                          "and sections.")
            return None
        candidates = list(styles) if styles is not None else self.library().list()
        if not candidates:
            dialogs.error(None, "Show", "The library has no styles to arrange.")
            return None
        tr = Transition.parse(transition)
        features, structure = stage.features, stage.structure

        def work(*, progress, cancel):
            from engine.scene import BeatGrid
            from engine.scene.arrange import (
                ChangeRule,
                arrange,
                arrange_by_labels,
                auto_styles,
            )

            grid = BeatGrid.build(features, structure)
            change = ChangeRule.parse(rule)
            chosen = auto_styles(candidates, features, grid)
            if change.kind == "sections":
                segs, trans = arrange_by_labels({k: v.id for k, v in chosen.items()}, grid,
                                                tr, change, features)
            else:
                order = list(dict.fromkeys(s.id for s in chosen.values()))
                order += [s.id for s in candidates if s.id not in order]
                segs, trans = arrange(order[:max(2, len(chosen))], change, grid, tr, features)
            styles_by_id = {s.id: s for s in candidates}
            return edit.Arrangement(tuple((s.style, styles_by_id[s.style]) for s in segs),
                                    tuple(segs), tuple(trans))

        def finished(arrangement) -> None:
            if self._refuse_live():  # live input started while it was arranging
                return
            seen = dict(arrangement.styles)
            arrangement = edit.Arrangement(tuple(seen.items()), arrangement.segments,
                                           arrangement.transitions)
            if not self.active:
                self.stage.start_show(arrangement)
                self.path, self.name = None, ""
                self.undo.clear()
                self.undo.setClean()
                self.changed.emit()
                self.titleChanged.emit(self.title())
            else:
                self.push("auto-arrange", arrangement)
            self.statusMessage.emit(
                f"show: {len(arrangement.segments)} segments, "
                f"{len({s.style for s in arrangement.segments})} styles ({rule})")

        def failed(err) -> None:
            dialogs.error(None, "Auto-arrange", err.message,
                          err.traceback if err.is_bug else "")

        self.worker = Worker(work, name="auto-arrange")
        self.worker.on(finished=finished, errored=failed,
                       done=lambda: setattr(self, "worker", None))
        return self.worker.start()

    def save(self, path: Path | str | None = None) -> Path | None:
        from engine.scene.show import save_show, show_from_scene

        if not self.active:
            return None
        target = Path(path) if path else self.path
        try:
            show = show_from_scene(self.stage.scene, name=self.name)
            written = save_show(show, target, getattr(self.library(), "user_dir", None),
                                grid=self.stage.scene.grid)
        except (SonolumeError, OSError) as exc:
            dialogs.error(None, "Save show", str(exc))
            return None
        self.path, self.name = written, show.name
        self.undo.setClean()
        self.titleChanged.emit(self.title())
        self.statusMessage.emit(f"saved show {written}")
        return written

    def open(self, path: Path | str) -> bool:
        """Read a show file; its track is loaded (if it is not already) and the show plays
        once the track's analysis is ready."""
        from engine.scene.show import check_track, read_show, resolve_styles

        try:
            show = read_show(path)
            track = check_track(show, None, Path(path).name)
            resolve_styles(show, self.library(), Path(path).name)
        except SonolumeError as exc:
            dialogs.error(None, "Open show", str(exc))
            return False
        self._pending = (show, Path(path))
        if self.stage.track_path and Path(self.stage.track_path).resolve() == track.resolve() \
                and self.stage.features is not None:
            self._open_pending()
        else:
            if not self._waiting:
                self.stage.trackReady.connect(self._open_pending)
                self._waiting = True
            self.stage.load_track(str(track))
        return True

    def _open_pending(self, *_args) -> None:
        from engine.scene.show import open_show

        if self._waiting:
            self.stage.trackReady.disconnect(self._open_pending)
            self._waiting = False
        pending, self._pending = self._pending, None
        if pending is None:
            return
        show, path = pending
        try:
            scene = open_show(show, self.library(), features=self.stage.features,
                              structure=self.stage.structure, where=path.name)
        except SonolumeError as exc:
            dialogs.error(None, "Open show", str(exc))
            return
        if self._replay is not None:
            self._replay.cancel()  # an earlier set still replaying: this open wins
            self._replay = None
        if scene.live is not None:
            self._replay_then_show(scene, show, path)
            return
        self._show_opened(scene, show, path)

    def _replay_then_show(self, scene, show, path: Path) -> None:
        """A recorded set draws from the replay of every step it took (0.37 s of CPU for
        2.5 minutes): done in a worker before the show starts, so its first frame does not
        stall the GUI thread. The scene keeps the tracks it computed."""
        shapes = sorted({int(scene.cppn(seg.style).config.extra_inputs)
                         for seg in scene.segments})

        def replay(*, progress, cancel):
            for e in shapes:
                if cancel.is_set():
                    return False
                scene.param_track(e)
            return True

        def done(finished: bool) -> None:
            if finished and self._replay is worker:
                self._replay = None
                if self._alive():
                    self._show_opened(scene, show, path)

        def failed(err) -> None:
            if self._replay is worker:
                self._replay = None
                if self._alive():
                    dialogs.error(None, "Open show", f"{path.name}: {err.message}")

        self.statusMessage.emit(f"opening {path.name}: replaying its recorded steps…")
        worker = self._replay = Worker(replay, name="replaying a recorded set").on(
            finished=done, errored=failed)
        worker.start()

    def _alive(self) -> bool:
        """Whether the window this editor shows in still exists: a replay can end after
        it closed (its answer then reaches a deleted stage)."""
        import shiboken6

        st = self.stage
        timeline = getattr(st, "show_timeline", None)
        return (shiboken6.isValid(self) and shiboken6.isValid(st)
                and (timeline is None or shiboken6.isValid(timeline)))

    def _show_opened(self, scene, show, path: Path) -> None:
        self.stage.start_show(scene)
        self.path, self.name = path, show.name
        self.undo.clear()
        self.undo.setClean()
        self.changed.emit()
        self.titleChanged.emit(self.title())
        self.statusMessage.emit(f"opened show {path.name}: {len(scene.segments)} segments")

    def close_show(self) -> None:
        self.stage.leave_show()
        self.path, self.name = None, ""
        self.undo.clear()
        self.changed.emit()
        self.titleChanged.emit(self.title())


class ShowTimeline(QWidget):
    """Paints the show (see the module docstring); the static part is cached in a pixmap,
    so playback repaints only the play head."""

    seekRequested = Signal(float)

    def __init__(self, stage, editor: ShowEditor, selected_style, parent=None):
        super().__init__(parent)
        self.stage = stage
        self.editor = editor
        self.selected_style = selected_style  # callable: the library's selected Style
        self.setFixedHeight(HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self.setToolTip("the show: click to seek, click a boundary for its transition, "
                        "right-click a segment to edit it, drop a library style on it")
        self._cache: QPixmap | None = None
        self._head_x = -1
        self._thumbs: dict[str, QPixmap] = {}
        editor.changed.connect(self.refresh)

    def sizeHint(self) -> QSize:
        return QSize(640, HEIGHT)

    # -- geometry ----------------------------------------------------------------------------
    @property
    def duration(self) -> float:
        f = self.stage.features
        return float(f.duration) if f is not None else 0.0

    def x_of(self, t: float) -> float:
        d = self.duration
        return 0.0 if d <= 0 else t / d * self.width()

    def t_of(self, x: float) -> float:
        return min(max(x / max(self.width(), 1) * self.duration, 0.0), self.duration)

    def boundary_at(self, x: float) -> int | None:
        scene = self.stage.scene
        if scene is None or not self.editor.active:
            return None
        for i, b in enumerate(scene.boundaries()[1:], start=1):
            if abs(self.x_of(b) - x) <= GRAB_PX:
                return i
        return None

    # -- painting ----------------------------------------------------------------------------
    def refresh(self) -> None:
        self._cache = None
        self.update()

    def resizeEvent(self, event) -> None:
        self._cache = None
        super().resizeEvent(event)

    def set_time(self, t: float) -> None:
        x = int(round(self.x_of(t)))
        if x != self._head_x:
            old, self._head_x = self._head_x, x
            for px in (old, x):
                if px >= 0:
                    self.update(QRect(px - 2, 0, 5, self.height()))

    def _thumb(self, style) -> QPixmap | None:
        path = getattr(style, "thumb_path", None)
        if not path:
            return None
        key = str(path)
        pm = self._thumbs.get(key)
        if pm is None:
            pm = QPixmap(key)
            if pm.isNull():
                return None
            pm = pm.scaled(BLOCK_H - 6, BLOCK_H - 6, Qt.AspectRatioMode.KeepAspectRatio,
                           Qt.TransformationMode.SmoothTransformation)
            self._thumbs[key] = pm
        return pm

    def _render_cache(self) -> QPixmap:
        pm = QPixmap(self.size())
        pm.fill(QColor(24, 24, 28))
        p = QPainter(pm)
        try:
            self._paint_static(p)
        finally:
            p.end()
        return pm

    def _paint_static(self, p: QPainter) -> None:
        scene, d, w = self.stage.scene, self.duration, self.width()
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.8))
        p.setFont(small)
        if d <= 0 or scene is None:
            p.setPen(QColor(150, 150, 150))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                       "load a track and choose a style; then File → New show "
                       "(auto-arrange) or Open show…")
            return
        grid = scene.grid
        # sections
        for s in grid.sections:
            x0, x1 = self.x_of(s.start), self.x_of(min(s.end, d))
            colour = _label_colour(s.label)
            colour.setAlpha(150)
            p.fillRect(QRectF(x0, 0, max(1.0, x1 - x0), SECTION_H - 2), colour)
            p.setPen(QColor(235, 235, 235))
            p.drawText(QRectF(x0 + 3, 0, max(1.0, x1 - x0 - 3), SECTION_H - 2),
                       Qt.AlignmentFlag.AlignVCenter, s.label)
        # segments (a single style: one block)
        top = SECTION_H
        names = {}
        for i, seg in enumerate(scene.segments):
            x0, x1 = self.x_of(seg.start), self.x_of(min(seg.end, d))
            style = scene.styles[seg.style]
            names[i] = getattr(style, "name", seg.style)
            rect = QRectF(x0 + 1, top + 1, max(1.0, x1 - x0 - 2), BLOCK_H - 2)
            p.fillRect(rect, QColor(58, 60, 70) if i % 2 == 0 else QColor(68, 70, 82))
            thumb = self._thumb(style)
            tx = rect.left() + 3
            if thumb is not None and rect.width() > thumb.width() + 6:
                p.drawPixmap(int(tx), int(rect.top() + 2), thumb)
                tx += thumb.width() + 4
            p.setPen(QColor(230, 230, 230))
            p.drawText(QRectF(tx, rect.top(), max(0.0, rect.right() - tx - 2), rect.height()),
                       Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap,
                       str(names[i]))
        # transitions: the window each one takes, and its marker at the boundary
        for win in scene.windows():
            x0, x1 = self.x_of(win.start), self.x_of(win.end)
            shade = QColor(255, 210, 90, 70)
            p.fillRect(QRectF(x0, top, max(2.0, x1 - x0), BLOCK_H), shade)
        for i, b in enumerate(scene.boundaries()[1:], start=1):
            x = self.x_of(b)
            tr = scene.transitions[i - 1]
            p.setPen(QPen(QColor(255, 210, 90), 2))
            p.drawLine(QPointF(x, top), QPointF(x, top + BLOCK_H))
            marker = QPolygonF([QPointF(x - 5, top), QPointF(x + 5, top), QPointF(x, top + 7)])
            p.setBrush(QColor(255, 210, 90))
            p.drawPolygon(marker)
            p.setBrush(Qt.BrushStyle.NoBrush)
            if tr.kind != "cut":
                label = tr.text
                box = p.fontMetrics().boundingRect(label).adjusted(-2, -1, 2, 1)
                box.moveTopLeft(QPointF(x + 6, top + 1).toPoint())
                p.fillRect(box, QColor(20, 20, 24, 200))
                p.setPen(QColor(255, 230, 150))
                p.drawText(box, Qt.AlignmentFlag.AlignCenter, label)
        # bars: a tick per bar, a number every few
        y = top + BLOCK_H
        bars = grid.downbeats
        step = max(1, int(math.ceil(len(bars) * 28 / max(w, 1))))
        p.setPen(QColor(120, 120, 130))
        for k, t in enumerate(bars):
            x = self.x_of(float(t))
            p.drawLine(QPointF(x, y), QPointF(x, y + (6 if k % step == 0 else 3)))
            if k % step == 0:
                p.drawText(QPointF(x + 2, y + BAR_H), str(k + 1))

    def paintEvent(self, _event) -> None:
        if self._cache is None or self._cache.size() != self.size():
            self._cache = self._render_cache()
        p = QPainter(self)
        p.drawPixmap(0, 0, self._cache)
        if self._head_x >= 0 and self.duration > 0:
            p.setPen(QPen(QColor(255, 80, 80), 2))
            p.drawLine(self._head_x, 0, self._head_x, self.height())
        p.end()

    # -- mouse -------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        x = event.position().x()
        if self.duration <= 0:
            return
        if event.button() == Qt.MouseButton.RightButton:
            self._segment_menu(x, event.globalPosition().toPoint())
            return
        b = self.boundary_at(x)
        if b is not None:
            self._transition_menu(b, event.globalPosition().toPoint())
            return
        self.seekRequested.emit(self.t_of(x))

    def transition_menu(self, boundary: int) -> QMenu:
        """The choices for one boundary: every transition kind, each over 1-8 beats."""
        menu = QMenu(self)
        current = self.stage.scene.transitions[boundary - 1]
        for kind in TRANSITIONS:
            if kind == "cut":
                act = menu.addAction("cut (on the beat)")
                act.setCheckable(True)
                act.setChecked(current.kind == "cut")
                act.triggered.connect(
                    lambda _=False, b=boundary: self.editor.set_transition(b, Transition("cut")))
                continue
            sub = menu.addMenu(kind)
            for beats in TRANSITION_BEATS:
                act = sub.addAction(f"{beats} beat{'s' if beats > 1 else ''}")
                act.setCheckable(True)
                act.setChecked(current.kind == kind and current.beats == beats)
                act.triggered.connect(
                    lambda _=False, b=boundary, k=kind, n=beats:
                    self.editor.set_transition(b, Transition(k, n)))
        return menu

    def _transition_menu(self, boundary: int, where) -> None:
        self.transition_menu(boundary).exec(where)

    def segment_menu(self, x: float) -> QMenu | None:
        if not self.editor.active:
            return None
        t = self.t_of(x)
        index = edit.segment_at(self.editor.arrangement(), t)
        menu = QMenu(self)
        style = self.selected_style()
        act = menu.addAction(f"Use '{style.name}' here" if style else "Use the selected style")
        act.setEnabled(style is not None)
        act.triggered.connect(lambda: self.editor.assign(index, self.selected_style()))
        menu.addAction("Split at this bar", lambda: self.editor.split(t))
        merge = menu.addAction("Merge with the next", lambda: self.editor.merge(index))
        merge.setEnabled(index + 1 < len(self.stage.scene.segments))
        return menu

    def _segment_menu(self, x: float, where) -> None:
        menu = self.segment_menu(x)
        if menu is not None:
            menu.exec(where)

    # -- drops from the library --------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(STYLE_MIME) and self.editor.active:
            event.acceptProposedAction()
        else:
            event.ignore()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event) -> None:
        if not (event.mimeData().hasFormat(STYLE_MIME) and self.editor.active):
            event.ignore()
            return
        style_id = bytes(event.mimeData().data(STYLE_MIME)).decode("utf-8")
        self.drop_style(style_id, event.position().x())
        event.acceptProposedAction()

    def drop_style(self, style_id: str, x: float) -> bool:
        try:
            style = self.editor.library().get(style_id)
        except SonolumeError as exc:
            self.editor.statusMessage.emit(str(exc))
            return False
        index = edit.segment_at(self.editor.arrangement(), self.t_of(x))
        return self.editor.assign(index, style)


class ShowPanel(QWidget):
    """The row of show controls over the timeline: how to arrange (change rule and
    transition), Auto-arrange, undo/redo, save, close; then the timeline itself."""

    RULES = (("on sections", "sections"), ("every 4 bars", "bars:4"),
             ("every 8 bars", "bars:8"), ("every 16 bars", "bars:16"))
    DEFAULT_TRANSITIONS = ("cut", "crossfade:2", "crossfade:4", "morph:4", "bloom:4", "zoom:2")

    def __init__(self, stage, editor: ShowEditor, selected_style, parent=None):
        from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

        super().__init__(parent)
        self.editor = editor
        self.timeline = ShowTimeline(stage, editor, selected_style)
        self.name = QLabel("")
        self.name.setMinimumWidth(120)
        self.rule = QComboBox()
        for text, data in self.RULES:
            self.rule.addItem(text, data)
        self.rule.setToolTip("where the style changes: the song's sections, or every N bars")
        self.transition = QComboBox()
        for t in self.DEFAULT_TRANSITIONS:
            self.transition.addItem(t, t)
        self.transition.setCurrentIndex(1)
        self.transition.setToolTip("the transition at each change (N = beats); click a "
                                   "boundary in the timeline to change one")
        self.arrange = QPushButton("Auto-arrange")
        self.arrange.setToolTip("pick a library style for each section of the song (repeats "
                                "of a section get the same style); undo goes back")
        self.arrange.clicked.connect(self.auto_arrange)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(editor.undo.undo)
        self.redo_button = QPushButton("Redo")
        self.redo_button.clicked.connect(editor.undo.redo)
        editor.undo.canUndoChanged.connect(self._undo_state_changed)
        editor.undo.canRedoChanged.connect(self._undo_state_changed)
        self.close_button = QPushButton("Close show")
        self.close_button.setToolTip("back to the library's selected style for the whole "
                                     "track")
        self.close_button.clicked.connect(editor.close_show)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.name, 1)
        row.addWidget(self.rule)
        row.addWidget(self.transition)
        row.addWidget(self.arrange)
        row.addWidget(self.undo_button)
        row.addWidget(self.redo_button)
        row.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(row)
        lay.addWidget(self.timeline)
        editor.changed.connect(self._update)
        editor.titleChanged.connect(lambda _t: self._update())
        stage.trackLoaded.connect(lambda _f: self._update())
        stage.trackCleared.connect(self._update)
        self._update()

    def auto_arrange(self):
        return self.editor.auto_arrange(self.rule.currentData(), self.transition.currentData())

    def _undo_state_changed(self, _on: bool) -> None:
        import shiboken6

        if shiboken6.isValid(self) and shiboken6.isValid(self.editor.undo):  # not mid-teardown
            self._update()

    def _update(self) -> None:
        active = self.editor.active
        has_track = self.editor.stage.features is not None
        self.name.setText(f"Show: {self.editor.title()}" if active else
                          "One style for the whole track" if has_track else "")
        editable = self.editor.editable
        self.arrange.setEnabled(has_track and editable)
        self.arrange.setText("Re-arrange" if active else "Auto-arrange a show")
        self.close_button.setVisible(active)
        self.close_button.setEnabled(editable)
        self.undo_button.setVisible(active)
        self.redo_button.setVisible(active)
        self.undo_button.setEnabled(editable and self.editor.undo.canUndo())
        self.redo_button.setEnabled(editable and self.editor.undo.canRedo())
