"""The style library browser: a thumbnail grid with search, sort, favourites and a context
menu; share files dropped on it are imported."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QItemSelectionModel,
    QMimeData,
    QModelIndex,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.common import STYLE_MIME
from app.workers import Worker
from engine.errors import SonolumeError
from engine.styles.library import SHARE_SUFFIX, Library

log = logging.getLogger("sonolume.app.library")

StyleRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2
ICON = 128
IMPORT_SUFFIXES = (SHARE_SUFFIX, ".zip", ".pth", ".pt")
SORTS = ("Name", "Newest", "Score")


def _badge(p: QPainter, rect: QRectF, text: str, bg: QColor) -> None:
    font = QFont(p.font())
    font.setPixelSize(11)
    font.setBold(True)
    p.setFont(font)
    w = p.fontMetrics().horizontalAdvance(text) + 10
    r = QRectF(rect.left(), rect.top(), w, 17)
    path = QPainterPath()
    path.addRoundedRect(r, 4, 4)
    p.fillPath(path, bg)
    p.setPen(QColor("white"))
    p.drawText(r, Qt.AlignmentFlag.AlignCenter, text)


def style_pixmap(style, size: int = ICON, badges: bool = True) -> QPixmap:
    """The style's thumbnail with its badges: SEEDED for untrained patterns, RANDOM CLIP
    for styles judged by a random test CLIP, a star for favourites."""
    pm = QPixmap(size, size)
    pm.fill(QColor("#2b2b2b"))
    thumb = QPixmap(str(style.thumb_path)) if style.thumb_path else QPixmap()
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    if not thumb.isNull():
        p.drawPixmap(pm.rect(), thumb)
    else:
        p.setPen(QColor("#bbbbbb"))
        p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, "no thumbnail")
    if not badges:
        p.end()
        return pm
    y = size - 21
    if not style.trained:
        _badge(p, QRectF(4, y, 0, 0), "UNTRAINED", QColor(90, 90, 90, 230))
        y -= 20
    if style.clip_random:
        _badge(p, QRectF(4, y, 0, 0), "RANDOM CLIP", QColor(190, 30, 30, 235))
    if style.favourite:
        font = QFont(p.font())
        font.setPixelSize(22)
        p.setFont(font)
        p.setPen(QColor(0, 0, 0, 160))
        p.drawText(QRectF(size - 27, 3, 24, 24), Qt.AlignmentFlag.AlignCenter, "★")
        p.setPen(QColor("#ffcc33"))
        p.drawText(QRectF(size - 28, 2, 24, 24), Qt.AlignmentFlag.AlignCenter, "★")
    p.end()
    return pm


def style_tooltip(style, relevance: float | None = None) -> str:
    m = style.meta
    rows = [f"<b>{_esc(style.name)}</b>", _esc(style.kind)]
    if style.readonly:
        rows.append("bundled (read-only)")
    prompts = "; ".join(f"{p['text']}" + (f" ×{p['weight']:g}" if p['weight'] != 1 else "")
                        for p in style.prompts)
    if prompts:
        rows.append(f"prompts: {_esc(prompts)}")
    if m.get("negatives"):
        rows.append(f"negative: {_esc('; '.join(m['negatives']))}")
    rows.append(f"CLIP: {_esc(style.clip_label)}")
    if m.get("score") is not None:
        rows.append(f"score: {m['score']:.3f}")
    if relevance is not None:
        rows.append(f"match: {relevance:.3f}")
    if m.get("created"):
        rows.append(f"created: {m['created']}")
    return "<br>".join(rows)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class StyleModel(QAbstractListModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.styles: list = []
        self.relevance: dict[str, float] = {}
        self._icons: dict[tuple, QIcon] = {}

    def set_styles(self, styles: list, relevance: dict[str, float] | None = None) -> None:
        self.beginResetModel()
        self.styles = list(styles)
        self.relevance = dict(relevance or {})
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.styles)

    def _icon(self, style) -> QIcon:
        thumb = style.thumb_path
        try:
            stamp = thumb.stat().st_mtime_ns if thumb else 0
        except OSError:
            stamp = 0
        key = (str(style.path), stamp, style.trained, style.clip_random, style.favourite)
        icon = self._icons.get(key)
        if icon is None:
            icon = QIcon(style_pixmap(style))
            self._icons[key] = icon
        return icon

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.styles):
            return None
        style = self.styles[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return style.name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icon(style)
        if role == Qt.ItemDataRole.ToolTipRole:
            return style_tooltip(style, self.relevance.get(style.id))
        if role == StyleRole:
            return style
        if role == IdRole:
            return style.id
        return None

    def flags(self, index: QModelIndex):
        flags = super().flags(index)
        if index.isValid():
            flags |= Qt.ItemFlag.ItemIsDragEnabled  # onto a show's segment in the timeline
        return flags

    def mimeTypes(self) -> list[str]:
        return [STYLE_MIME]

    def mimeData(self, indexes):
        data = QMimeData()
        styles = [self.styles[i.row()] for i in indexes
                  if i.isValid() and 0 <= i.row() < len(self.styles)]
        if styles:
            data.setData(STYLE_MIME, QByteArray(styles[0].id.encode("utf-8")))
        return data

    def row_of(self, style_id: str) -> int:
        for i, s in enumerate(self.styles):
            if s.id == style_id:
                return i
        return -1


class StyleGrid(QListView):
    filesDropped = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(ICON, ICON))
        self.setGridSize(QSize(ICON + 22, ICON + 44))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWordWrap(True)
        self.setUniformItemSizes(True)
        self.setSpacing(4)
        self.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setAcceptDrops(True)
        # Styles drag out (onto a show's timeline); files drop in (import). Not DragOnly:
        # that mode turns drops off.
        self.setDragEnabled(True)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.viewport().setAcceptDrops(True)
        self.setDropIndicatorShown(False)

    @staticmethod
    def _files(event) -> list[str]:
        md = event.mimeData()
        if not md.hasUrls():
            return []
        return [u.toLocalFile() for u in md.urls()
                if u.isLocalFile() and u.toLocalFile().lower().endswith(IMPORT_SUFFIXES)]

    def dragEnterEvent(self, event):
        if self._files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):
        if self._files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event):
        files = self._files(event)
        if files:
            event.acceptProposedAction()
            self.filesDropped.emit(files)
        else:
            event.ignore()


class LibraryPanel(QWidget):
    styleSelected = Signal(object)  # Style or None
    styleActivated = Signal(object)  # double-click
    libraryChanged = Signal()

    def __init__(self, library: Library, settings, clip_service=None, parent=None):
        super().__init__(parent)
        self.library = library
        self.settings = settings
        self.clip_service = clip_service
        self._search_gen = 0
        self._quiet = False  # following the app's choice: no styleSelected (see follow)
        self._semantic_worker: Worker | None = None
        self.all_styles: list = []

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search styles (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.semantic = QCheckBox("by meaning")
        self.semantic.setToolTip("Rank styles by CLIP similarity between your words and each "
                                 "style's prompts (uses the loaded CLIP)")
        self.semantic.setVisible(False)
        self.sort = QComboBox()
        self.sort.addItems(SORTS)
        self.sort.setToolTip("Sort order")
        self.favourites = QToolButton()
        self.favourites.setText("★")
        self.favourites.setCheckable(True)
        self.favourites.setToolTip("Show favourites only")
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip(f"Import a style share file ({SHARE_SUFFIX}) or a "
                                      "legacy .pth; you can also drop files on the grid")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.search, 1)
        top.addWidget(self.semantic)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(QLabel("Sort:"))
        bottom.addWidget(self.sort)
        bottom.addWidget(self.favourites)
        bottom.addStretch(1)
        bottom.addWidget(self.import_button)

        self.model = StyleModel(self)
        self.grid = StyleGrid()
        self.grid.setModel(self.model)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: palette(mid);")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(bottom)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.status)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(200)
        self._debounce.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _: self._debounce.start())
        self.semantic.toggled.connect(lambda _: self.apply_filter())
        self.sort.currentIndexChanged.connect(lambda _: self.apply_filter())
        self.favourites.toggled.connect(lambda _: self.apply_filter())
        self.import_button.clicked.connect(self.choose_import)
        self.grid.filesDropped.connect(self.import_files)
        self.grid.customContextMenuRequested.connect(self._context_menu)
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.doubleClicked.connect(
            lambda idx: self.styleActivated.emit(idx.data(StyleRole)))
        if clip_service is not None:
            clip_service.loaded.connect(self._clip_loaded)
            clip_service.unloaded.connect(self._clip_unloaded)
            if clip_service.current is not None:
                self._clip_loaded(clip_service.current.label)
        self.refresh()

    # -- data ------------------------------------------------------------------------------
    def set_library(self, library: Library) -> None:
        self.library = library
        self.refresh()

    def refresh(self, select_id: str | None = None) -> None:
        """Re-read the library from disk and show it (keeps or sets the selection)."""
        keep = select_id or self.current_id()
        try:
            self.all_styles = self.library.list()
        except SonolumeError as exc:
            self.all_styles = []
            dialogs.error(self, "Style library", str(exc))
        for problem in self.library.problems:
            log.warning("library: %s", problem)
        self.apply_filter(select_id=keep)

    def current_style(self):
        idx = self.grid.currentIndex()
        return idx.data(StyleRole) if idx.isValid() else None

    def current_id(self) -> str | None:
        style = self.current_style()
        return style.id if style else None

    def visible_ids(self) -> list[str]:
        return [s.id for s in self.model.styles]

    def select(self, style_id: str) -> bool:
        row = self.model.row_of(style_id)
        if row < 0:
            return False
        idx = self.model.index(row)
        self.grid.selectionModel().setCurrentIndex(
            idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.grid.scrollTo(idx)
        return True

    def follow(self, style_id: str) -> bool:
        """Select and scroll to a style the app shows already (live: the style a set
        changed to), without ``styleSelected``: announced, the app would show it again,
        which live cuts to it anew or, while a set records, is refused. False when the
        style is not in the grid (filtered out, or not in this library)."""
        self._quiet = True
        try:
            return self.select(style_id)
        finally:
            self._quiet = False

    def _sorted(self, styles: list) -> list:
        key = self.sort.currentText()
        if key == "Newest":
            return sorted(styles, key=lambda s: (s.meta.get("created") or ""), reverse=True)
        if key == "Score":
            return sorted(styles, key=lambda s: (s.meta.get("score") is None,
                                                 -(s.meta.get("score") or 0.0)))
        return sorted(styles, key=lambda s: s.name.casefold())

    def apply_filter(self, select_id: str | None = None) -> None:
        keep = select_id or self.current_id()
        self._search_gen += 1
        text = self.search.text().strip()
        styles = [s for s in self.all_styles if s.favourite or not self.favourites.isChecked()]
        if text and self.semantic.isChecked() and self.semantic.isVisible() \
                and self.clip_service is not None and self.clip_service.current is not None:
            self._semantic(text, styles, keep)
            return
        if text:
            try:
                hits = {s.id for s in self.library.search(text)}
            except SonolumeError:
                hits = set()
            styles = [s for s in styles if s.id in hits]
        self._show(self._sorted(styles), keep)

    def _semantic(self, text: str, allowed: list, keep: str | None) -> None:
        gen = self._search_gen
        clip = self.clip_service.current
        allowed_ids = {s.id for s in allowed}
        library = self.library
        self.status.setText("ranking by meaning…")

        def done(ranked):
            if gen != self._search_gen:
                return  # a newer search replaced this one
            styles = [s for s, _ in ranked if s.id in allowed_ids]
            self._show(styles, keep, {s.id: score for s, score in ranked},
                       note="ranked by meaning (CLIP)")

        def failed(err):
            if gen == self._search_gen:
                self.status.setText(f"semantic search failed: {err.message}")

        self._semantic_worker = Worker(
            lambda: library.semantic_search(clip, text, top=100000),
            name="semantic search", pass_control=False,
        ).on(finished=done, errored=failed).start()

    def _show(self, styles: list, keep: str | None, relevance=None, note: str = "") -> None:
        self.model.set_styles(styles, relevance)
        total = len(self.all_styles)
        seeded = sum(1 for s in self.all_styles if not s.trained)
        if len(styles) == total and not note:
            text = f"{total} styles ({seeded} seeded, untrained patterns)"
        elif not styles:
            text = f"no style matches (of {total})"
        else:
            text = f"{len(styles)} of {total} styles"
        if note:
            text += f" · {note}"
        self.status.setText(text)
        if keep and self.select(keep):
            return
        if styles and not self.grid.currentIndex().isValid():
            self.select(styles[0].id)
        if not styles:
            self.styleSelected.emit(None)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._quiet:
            return
        self.styleSelected.emit(current.data(StyleRole) if current.isValid() else None)

    def _clip_loaded(self, label: str) -> None:
        self.semantic.setVisible(True)
        random = self.clip_service.is_random
        self.semantic.setToolTip(
            f"Rank styles by CLIP similarity ({label})"
            + (" — a RANDOM test CLIP: rankings are noise" if random else ""))

    def _clip_unloaded(self) -> None:
        self.semantic.setChecked(False)
        self.semantic.setVisible(False)

    # -- actions ---------------------------------------------------------------------------
    def _context_menu(self, pos) -> None:
        idx = self.grid.indexAt(pos)
        if not idx.isValid():
            menu = QMenu(self)
            menu.addAction("Import style file…", self.choose_import)
            menu.addAction("Reload library", self.refresh)
            menu.exec(self.grid.viewport().mapToGlobal(pos))
            return
        style = idx.data(StyleRole)
        menu = QMenu(self)
        fav = "Remove from favourites" if style.favourite else "Add to favourites"
        menu.addAction(fav, lambda: self.toggle_favourite(style))
        if not style.readonly:
            menu.addAction("Rename…", lambda: self.rename(style))
        menu.addAction("Duplicate", lambda: self.duplicate(style))
        menu.addAction("Export share file…", lambda: self.export_share(style))
        menu.addAction("Reveal in folder", lambda: dialogs.open_folder(style.path))
        if not style.readonly:
            menu.addSeparator()
            menu.addAction("Delete…", lambda: self.delete(style))
        else:
            menu.addSeparator()
            note = menu.addAction("Bundled style: duplicate it to rename or change it")
            note.setEnabled(False)
        menu.exec(self.grid.viewport().mapToGlobal(pos))

    def _do(self, what: str, fn, select: bool = True):
        try:
            result = fn()
        except SonolumeError as exc:
            dialogs.error(self, what, str(exc))
            return None
        except OSError as exc:
            dialogs.error(self, what, f"{exc.strerror or exc}")
            return None
        self.refresh(select_id=getattr(result, "id", None) if select else None)
        self.libraryChanged.emit()
        return result

    def toggle_favourite(self, style) -> None:
        self._do("Favourite", lambda: self.library.set_favourite(style.id, not style.favourite))

    def rename(self, style) -> None:
        name = dialogs.ask_text(self, "Rename style", "New name:", style.name)
        if name is None or name.strip() == style.name:
            return
        self._do("Rename", lambda: self.library.rename(style.id, name))

    def duplicate(self, style) -> None:
        self._do("Duplicate", lambda: self.library.duplicate(style.id))

    def delete(self, style) -> None:
        if not dialogs.confirm(self, "Delete style",
                               f"Delete the style '{style.name}'?\n\nIts folder "
                               f"{style.path} is removed; this cannot be undone."):
            return
        self._do("Delete", lambda: self.library.delete(style.id), select=False)

    def export_share(self, style) -> None:
        start = str(Path(self.settings.last_dir("share")) / f"{style.id}{SHARE_SUFFIX}")
        path = dialogs.save_file(self, "Export style", start,
                                 f"Sonolume style (*{SHARE_SUFFIX})")
        if not path:
            return
        self.settings.remember_dir("share", path)
        try:
            out = self.library.export_share(style.id, path)
        except SonolumeError as exc:
            dialogs.error(self, "Export style", str(exc))
            return
        self.window().statusBar().showMessage(f"exported '{style.name}' to {out}", 8000) \
            if hasattr(self.window(), "statusBar") else None

    def choose_import(self) -> None:
        path = dialogs.open_file(self, "Import style", self.settings.last_dir("share"),
                                 f"Sonolume styles (*{SHARE_SUFFIX} *.zip *.pth *.pt);;"
                                 "All files (*)")
        if path:
            self.settings.remember_dir("share", path)
            self.import_files([path])

    def import_files(self, paths: list[str]) -> list:
        added, errors = [], []
        for path in paths:
            try:
                added.append(self.library.import_file(path))
            except SonolumeError as exc:
                errors.append(str(exc))
        if added:
            self.refresh(select_id=added[-1].id)
            self.libraryChanged.emit()
        if errors:
            dialogs.error(self, "Import style", "\n".join(errors))
        return added
