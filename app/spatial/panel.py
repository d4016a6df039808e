"""The spatial CLIP map inspector: pick a picture (image, video frame, style still or a
NeRV-CLIP run's frame), cut it into the patch grid, embed every patch with CLIP in a worker,
then look at the map: text-query heatmaps, similarity to a clicked patch, a run's predicted
map against the measured one, coherence. The current view exports as a PNG.

The views themselves come from :func:`engine.spatial.inspect.build_panels`, the same code
the ``sonolume spatial`` command draws, so the GUI and the CLI never disagree.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.clip_service import ask_for_clip_weights
from app.spatial.jobs import (
    ClipPool,
    MapResult,
    Source,
    compute,
    load_file,
    load_run,
    render_style,
    write_view_png,
)
from app.spatial.sources import SourcePicker
from app.spatial.view import SpatialView
from app.workers import Worker
from engine.errors import ClipUnavailable, SonolumeError
from engine.spatial import views
from engine.spatial.grid import make_grid
from engine.spatial.inspect import RANDOM_NOTE, Panel, build_panels

log = logging.getLogger("sonolume.app.spatial")

RANDOM_LABEL = ("<span style='color:#e04040'><b>RANDOM CLIP: testing only, these maps are "
                "noise</b></span>")


def _split_queries(text: str) -> list[str]:
    return list(dict.fromkeys(q.strip() for q in text.replace("\n", ";").split(";")
                              if q.strip()))


class SpatialPanel(QWidget):
    busyChanged = Signal(bool)
    openSettings = Signal()  # the user asked to change the CLIP
    mapReady = Signal(object)  # SpatialMap, each time a map is computed or read from cache

    def __init__(self, settings, clip_service, library, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.clip_service = clip_service
        self.library = library
        self.pool = ClipPool(clip_service)
        self.source: Source | None = None
        self.grid = None
        self.map = None  # SpatialMap of self.source on self.grid
        self.queries: list[str] = []
        self.text_emb: np.ndarray | None = None
        self.click: tuple[int, int] | None = None
        self.panels: list[Panel] = []
        self.random_clip = False
        self.worker: Worker | None = None
        self._what = ""
        self._pending = None
        self._generation = 0
        self.batch_size = 32
        self._regrid = QTimer(self, singleShot=True, interval=500)
        self._regrid.timeout.connect(self._grid_settled)
        self._build()
        self.refresh_styles()
        self.update_clip_label()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.sources = SourcePicker(self.settings, self.library)
        self.sources.imageRequested.connect(self.set_image)
        self.sources.videoRequested.connect(self.set_video)
        self.sources.styleRequested.connect(self.set_style)
        self.sources.runRequested.connect(self.set_run)

        self.auto_grid = QCheckBox("Scaled default (half the short side, 448 px max)")
        self.auto_grid.setChecked(True)
        self.patch = QSpinBox()
        self.patch.setRange(1, 100_000)
        self.patch.setSuffix(" px")
        self.stride = QSpinBox()
        self.stride.setRange(1, 100_000)
        self.stride.setSuffix(" px")
        self.coverage = QLabel("no picture")
        self.coverage.setWordWrap(True)
        for w in (self.patch, self.stride):
            w.valueChanged.connect(self._grid_edited)
        self.auto_grid.toggled.connect(self._grid_edited)
        grid_box = QGroupBox("Patch grid")
        gl = QFormLayout(grid_box)
        gl.addRow(self.auto_grid)
        gl.addRow("Patch:", self.patch)
        gl.addRow("Stride:", self.stride)
        gl.addRow(self.coverage)

        self.clip_label = QLabel()
        self.clip_label.setWordWrap(True)
        self.clip_label.setTextFormat(Qt.TextFormat.RichText)
        clip_change = QPushButton("Change…")
        clip_change.clicked.connect(self.openSettings.emit)
        clip_row = QHBoxLayout()
        clip_row.addWidget(QLabel("CLIP:"))
        clip_row.addWidget(self.clip_label, 1)
        clip_row.addWidget(clip_change)

        self.compute_button = QPushButton("Compute map")
        self.compute_button.setToolTip("embed every patch with CLIP (cached for next time)")
        self.compute_button.clicked.connect(self.compute_map)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        brow = QHBoxLayout()
        brow.addWidget(self.compute_button, 1)
        brow.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.status = QLabel("Load a picture to inspect its spatial CLIP map.")
        self.status.setWordWrap(True)

        self.query = QLineEdit()
        self.query.setPlaceholderText("text queries, separated by ';'  e.g. sky; water; a face")
        self.query.returnPressed.connect(self.show_queries)
        show = QPushButton("Show")
        show.clicked.connect(self.show_queries)
        qrow = QHBoxLayout()
        qrow.addWidget(self.query, 1)
        qrow.addWidget(show)
        self.relative = QCheckBox("Share among the queries (softmax)")
        self.relative.setToolTip("with 2+ queries: which patches match each query more than "
                                 "the others; raw cosines vary little across patches")
        self.relative.toggled.connect(lambda _: self._rebuild_views())
        query_box = QGroupBox("Text queries")
        ql = QVBoxLayout(query_box)
        ql.addLayout(qrow)
        ql.addWidget(self.relative)

        self.view_combo = QComboBox()
        self.view_combo.currentIndexChanged.connect(lambda _: self._show_current())
        self.stats = QLabel()
        self.stats.setWordWrap(True)
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        hint = QLabel("Click a patch to see how similar every other patch is to it.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(mid);")
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(lambda: self.export_png())
        view_box = QGroupBox("View")
        vl = QVBoxLayout(view_box)
        vl.addWidget(self.view_combo)
        vl.addWidget(self.stats)
        vl.addWidget(hint)
        vl.addWidget(self.export_button)

        controls = QWidget()
        controls.setMaximumWidth(380)
        cl = QVBoxLayout(controls)
        cl.setContentsMargins(0, 0, 0, 0)
        for w in (self.sources, grid_box):
            cl.addWidget(w)
        cl.addLayout(clip_row)
        cl.addLayout(brow)
        cl.addWidget(self.progress)
        cl.addWidget(self.status)
        cl.addWidget(query_box)
        cl.addWidget(view_box)
        cl.addStretch(1)

        self.view = SpatialView()
        self.view.patchClicked.connect(self.select_patch)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(controls)
        layout.addWidget(self.view, 1)
        self._sync_grid_controls()

    # -- sources ---------------------------------------------------------------------------
    def set_library(self, library) -> None:
        """Follow the app to another library folder."""
        self.library = self.sources.library = library
        self.refresh_styles()

    def refresh_styles(self) -> None:
        """Re-read the style list (connect to the library changing)."""
        self.sources.refresh_styles()

    def set_image(self, path) -> None:
        """Inspect an image file (a video file works too: its frame 0)."""
        self.sources.mark("image", str(path))
        self._run(load_file, str(path), what="Open image", on_result=self._set_source)

    def set_video(self, path, frame: int = 0) -> None:
        self.sources.mark("video", str(path), frame)
        self._run(load_file, str(path), int(frame), what="Open video frame",
                  on_result=self._set_source)

    def set_style(self, key: str, size: int | None = None) -> None:
        """Inspect a still of library style ``key`` (id or name), ``size`` px square."""
        self.sources.mark("style", key, size)
        self._run(render_style, self.library, key, self.sources.style_size.value(),
                  what="Render style still", on_result=self._set_source)

    def set_run(self, run_dir, frame: int = 0) -> None:
        """Inspect frame ``frame`` of a NeRV-CLIP run: predicted vs measured maps."""
        self.sources.mark("run", str(run_dir), frame)
        self._run(load_run, str(run_dir), int(frame), what="Open NeRV-CLIP run",
                  on_result=self._set_source)

    def _set_source(self, src: Source) -> None:
        self.source = src
        self.map, self.text_emb, self.click, self.panels = None, None, None, []
        if src.kind == "run":
            self.grid = src.predicted.grid
            if src.frame_count:
                self.sources.run_frame.setMaximum(src.frame_count - 1)
        else:
            self.grid = self._grid_from_controls()
        self._sync_grid_controls()
        self.view.set_picture(src.image, self.grid)
        self._fill_views()
        self.update_clip_label()
        h, w = src.image.shape[:2]
        self.status.setText(f"{src.describe}: {w}x{h}")
        self.compute_map()

    # -- grid ------------------------------------------------------------------------------
    def _grid_from_controls(self):
        h, w = self.source.image.shape[:2]
        if self.auto_grid.isChecked():
            return make_grid(w, h)
        return make_grid(w, h, patch=self.patch.value(), stride=self.stride.value())

    def _sync_grid_controls(self) -> None:
        """Show the grid in use; spin boxes are editable only off the scaled default and
        never for a run (its grid is the one it was trained on)."""
        run = self.source is not None and self.source.kind == "run"
        self.auto_grid.setEnabled(not run and self.source is not None)
        manual = not run and self.source is not None and not self.auto_grid.isChecked()
        for spin in (self.patch, self.stride):
            spin.setEnabled(manual)
        if self.grid is None:
            self.coverage.setText("no picture")
            return
        g = self.grid
        for spin, value in ((self.patch, g.patch), (self.stride, g.stride)):
            spin.blockSignals(True)
            spin.setMaximum(min(g.width, g.height))
            spin.setValue(value)
            spin.blockSignals(False)
        edge = "last patch flush with the edge" if g.edge == "align" else "edges dropped"
        self.coverage.setText(
            f"{g.rows} x {g.cols} = {g.count} patches of {g.patch} px, stride {g.stride} "
            f"({edge}); coverage {g.coverage:.1%}" + (" (the run's grid)" if run else ""))

    def _grid_edited(self, *_) -> None:
        if self.source is None or self.source.kind == "run":
            self._sync_grid_controls()
            return
        try:
            grid = self._grid_from_controls()
        except ValueError as exc:
            dialogs.error(self, "Patch grid", str(exc))
            return
        if self.grid is not None and grid.params() == self.grid.params():
            self._sync_grid_controls()
            return
        self.grid = grid
        self.map, self.click, self.panels = None, None, []
        self._sync_grid_controls()
        self.view.set_grid(grid)
        self._fill_views()
        self._regrid.start()  # recompute once the user stops typing

    def _grid_settled(self) -> None:
        if self.source is not None and self.map is None:
            self.compute_map()

    # -- CLIP ------------------------------------------------------------------------------
    def _clip(self):
        """(spec, shared): the run's own CLIP for a run, else the Settings' one."""
        spec = self.settings.clip_spec()
        if self.source is not None and self.source.kind == "run":
            if self.source.clip_spec is None:
                raise SonolumeError("this run does not record the CLIP it was trained "
                                    "against, so its maps cannot be compared")
            return self.source.clip_spec, self.source.clip_spec == spec
        return spec, True

    def update_clip_label(self) -> None:
        """Say which CLIP makes the maps, in red when it is random (call after Settings
        change; a map made by another CLIP is dropped)."""
        try:
            spec, _ = self._clip()
        except SonolumeError as exc:
            self.clip_label.setText(str(exc))
            return
        random = bool(spec.config) or (self.map is not None and self.map.random_clip)
        self.random_clip = random
        self.clip_label.setText(RANDOM_LABEL if random else spec.label)
        self.clip_label.setToolTip(
            f"{spec.config}: an open_clip config with RANDOM weights. Choose a real model "
            "or checkpoint in Settings." if spec.config else "the CLIP that embeds patches")
        self.view.set_warning(RANDOM_NOTE if random else "")
        if self.map is not None and self.map.clip_label != spec.label:
            self.map, self.text_emb, self.panels = None, None, []
            self._fill_views()
            self.compute_map()  # the same views, by the newly chosen CLIP

    def handle_clip_unavailable(self, message: str) -> None:
        choice = ask_for_clip_weights(self, self.settings, message)
        if choice == "checkpoint":
            self.clip_service.forget(self.settings.clip_spec())
            self.update_clip_label()
            self.compute_map()
            return
        if choice == "settings":
            self.openSettings.emit()
        self.status.setText(message)

    # -- maps ------------------------------------------------------------------------------
    def compute_map(self) -> None:
        """Embed the patches (and the typed queries) in a worker."""
        if self.source is None:
            dialogs.error(self, "Spatial map", "Load a picture first: an image, a video "
                          "frame, a style still or a NeRV-CLIP run.")
            return
        self._start_compute(self.queries or _split_queries(self.query.text()), None)

    def show_queries(self) -> None:
        """Heatmaps for the typed queries (the map is reused when it is still valid)."""
        queries = _split_queries(self.query.text())
        if not queries:
            dialogs.error(self, "Text queries", "Type one or more queries, separated by "
                          "';', e.g. 'sky; water'.")
            return
        if self.source is None:
            dialogs.error(self, "Text queries", "Load a picture first.")
            return
        self._start_compute(queries, self.map)

    def _start_compute(self, queries: list[str], existing) -> None:
        try:
            spec, shared = self._clip()
        except SonolumeError as exc:
            dialogs.error(self, "Spatial map", str(exc))
            return
        if existing is not None and existing.clip_label != spec.label:
            existing = None
        self._run(compute, self.pool, spec, shared, self.source.image, self.grid,
                  list(queries), existing, self.batch_size, what="Spatial CLIP map",
                  on_result=lambda res, src=self.source: self._map_done(res, src))

    def _map_done(self, res: MapResult | None, source: Source) -> None:
        if res is None or source is not self.source or res.map.grid != self.grid:
            return  # stale: the picture or the grid changed while it ran
        self.map, self.text_emb, self.queries = res.map, res.text_emb, res.queries
        self.update_clip_label()
        select = "query" if res.queries else None
        self._rebuild_views(select)
        cached = " (from the cache)" if res.map.info.get("cached") else ""
        self.status.setText(f"map of {self.grid.count} patches by CLIP {res.clip_label}"
                            f"{cached}")
        self.export_button.setEnabled(True)
        self.mapReady.emit(res.map)

    def select_patch(self, row: int, col: int) -> None:
        """Show every patch's similarity to patch (row, col)."""
        if self.map is None:
            self.status.setText("The map is not computed yet: press Compute map.")
            return
        self.click = (int(row), int(col))
        self._rebuild_views("click")

    # -- views -----------------------------------------------------------------------------
    def _rebuild_views(self, select: str | None = None) -> None:
        if self.map is None:
            self.panels = []
            self._fill_views()
            return
        pred = self.source.predicted if self.source.kind == "run" else None
        panels = build_panels(self.map, self.queries, self.text_emb, self.click, pred,
                              relative=self.relative.isChecked())
        if not any(p.key == "coherence" for p in panels):
            panels.append(Panel("coherence", "coherence: mean cosine to neighbouring patches",
                                views.coherence_map(self.map.embeddings, self.grid)))
        current = self.current_panel()
        self.panels = panels
        self._fill_views()
        keys = [p.key for p in panels]
        titles = [p.title for p in panels]
        if select and any(k.startswith(select) for k in keys):
            index = next(i for i, k in enumerate(keys) if k.startswith(select))
        elif current is not None and current.title in titles:
            index = titles.index(current.title)
        else:
            index = 0
        self.view_combo.setCurrentIndex(index)
        self._show_current()

    def _fill_views(self) -> None:
        self.view_combo.blockSignals(True)
        self.view_combo.clear()
        for p in self.panels:
            self.view_combo.addItem(p.title, p.key)
        self.view_combo.blockSignals(False)
        self.export_button.setEnabled(bool(self.panels))
        if not self.panels:
            self.view.set_values(None)
            self.stats.setText("")

    def current_panel(self) -> Panel | None:
        i = self.view_combo.currentIndex()
        return self.panels[i] if 0 <= i < len(self.panels) else None

    def _show_current(self) -> None:
        p = self.current_panel()
        if p is None:
            return
        self.view.set_values(p.values, p.colormap, p.vmin, p.vmax,
                             f"{p.title}  |  {self.source.describe}", p.highlight)
        s = views.summary(p.values)
        lines = [f"mean {s['mean']:.3f}, min {s['min']:.3f}, max {s['max']:.3f}"
                 if s["mean"] is not None else "no values"]
        coh = views.coherence(self.map.embeddings, self.grid)
        if np.isfinite(coh):
            lines.append(f"coherence (mean neighbour cosine): {coh:.3f}")
        if self.source.kind == "run":
            pred = self.source.predicted.embeddings
            agree = views.summary(views.agreement(pred, self.map.embeddings, self.grid))
            nc = views.neighbour_consistency(pred, self.map.embeddings, self.grid)
            pc = views.coherence(pred, self.grid)
            lines.append(f"predicted vs true: mean cosine {agree['mean']:.3f} "
                         f"(min {agree['min']:.3f})")
            if np.isfinite(nc):
                lines.append(f"neighbour consistency {nc:.3f}, predicted coherence "
                             f"{pc:.3f}")
        self.stats.setText("\n".join(lines))

    # -- export ----------------------------------------------------------------------------
    def export_png(self, path=None) -> Path | None:
        """Write the current view (with title, colour bar and any random-CLIP warning) as a
        PNG, atomically. Asks where when ``path`` is None."""
        p = self.current_panel()
        if p is None:
            dialogs.error(self, "Export", "Nothing to export yet: compute a map first.")
            return None
        if path is None:
            default = Path(self.settings.last_dir("spatial-export")) / \
                f"{self.source.name}-spatial.png"
            path = dialogs.save_file(self, "Export the view as PNG", str(default),
                                     "PNG images (*.png)")
            if not path:
                return None
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        try:
            write_view_png(path, self.source, self.map, p)
        except (OSError, ValueError) as exc:
            dialogs.error(self, "Export failed", f"Cannot write {path}: "
                          f"{getattr(exc, 'strerror', None) or exc}")
            return None
        self.settings.remember_dir("spatial-export", path)
        self.status.setText(f"exported {path}")
        return path

    # -- workers ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.worker is not None

    def _run(self, fn, *args, what: str, on_result) -> None:
        """Start ``fn`` in a worker; a request made while busy cancels the running one and
        starts when it has stopped (the latest request wins)."""
        if self.worker is not None:
            self._pending = (fn, args, what, on_result)
            self.worker.cancel()
            return
        self._what = what
        generation = self._generation

        def deliver(result):  # a result of work the user cancelled is dropped
            if generation == self._generation:
                on_result(result)

        self.progress.setRange(0, 0)
        self.progress.setFormat(f"{what}…")
        self.cancel_button.setEnabled(True)
        self.worker = Worker(fn, *args, name=what.lower()).on(
            progress=self._on_progress, finished=deliver, errored=self._on_error,
            cancelled=self._on_cancelled, done=self._on_done)
        self.worker.start()
        self.busyChanged.emit(True)

    def cancel(self) -> None:
        self._pending = None
        self._generation += 1
        if self.worker is not None:
            self.status.setText("cancelling…")
            self.worker.cancel()

    def shutdown(self) -> None:
        self._regrid.stop()
        self.cancel()

    def _on_progress(self, msg) -> None:
        if msg[0] == "status":
            self.status.setText(msg[1])
        elif msg[0] == "patches":
            done, total = msg[1], msg[2]
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            self.progress.setFormat(f"{done} / {total} patches")

    def _on_error(self, err) -> None:
        self.status.setText(err.message)
        if isinstance(err.exception, ClipUnavailable):
            self.handle_clip_unavailable(err.message)
            return
        dialogs.error(self, f"{self._what} failed", err.message,
                      err.traceback if err.is_bug else "")

    def _on_cancelled(self, message: str) -> None:
        if self._pending is None:
            self.status.setText("cancelled")
        self.progress.setFormat("cancelled")

    def _on_done(self) -> None:
        self.worker = None
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.progress.format() != "cancelled" else 0)
        if self.progress.format().endswith("…"):
            self.progress.setFormat("done")
        self.cancel_button.setEnabled(False)
        self.busyChanged.emit(False)
        if self._pending is not None:
            fn, args, what, on_result = self._pending
            self._pending = None
            self._run(fn, *args, what=what, on_result=on_result)
