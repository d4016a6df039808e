"""Track and reactivity: what the loaded track is, how it drives the picture (preset and
per-effect amounts, effective at once), and which library styles suit it."""

from __future__ import annotations

import logging

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.workers import Worker
from engine.errors import SonolumeError

log = logging.getLogger("sonolume.app.reactivity")

SUGGESTIONS = 6
TARGET_LABELS = {
    "drift": ("Drift", "how fast harmony moves the picture through its latent space"),
    "pulse": ("Pulse", "how hard beats and percussion kick the picture"),
    "tone": ("Tone", "how much the chords colour the pattern"),
    "zoom": ("Zoom", "bass pushes the picture in"),
    "rotation": ("Rotation", "loudness turns the picture"),
    "hue": ("Hue", "brightness of the sound shifts the colours"),
    "brightness": ("Flash", "onsets brighten the picture"),
    "warp": ("Warp", "treble ripples the coordinates"),
}


class AmountSlider(QWidget):
    changed = Signal()

    def __init__(self, label: str, tip: str, parent=None):
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 200)
        self.slider.setValue(100)
        self.slider.setToolTip(tip)
        self.value_label = QLabel("100%")
        self.value_label.setMinimumWidth(40)
        self.slider.valueChanged.connect(self._changed)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        row.addWidget(self.value_label)

    def _changed(self, v: int) -> None:
        self.value_label.setText(f"{v}%")
        self.changed.emit()

    @property
    def amount(self) -> float:
        return self.slider.value() / 100.0


class ReactivityPanel(QWidget):
    styleChosen = Signal(str)  # style id

    def __init__(self, stage, library, clip_service=None, parent=None):
        super().__init__(parent)
        self.stage = stage
        self.library = library
        self.clip_service = clip_service

        self.track_info = QLabel("No track loaded. Use “Load track…” under the preview, or "
                                 "drop an audio file on it.")
        self.track_info.setWordWrap(True)
        track_box = QGroupBox("Track")
        tl = QVBoxLayout(track_box)
        tl.addWidget(self.track_info)

        self.preset = QComboBox()
        self.preset.setToolTip("how features of the sound map to motion and colour")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: palette(mid);")
        self.overall = AmountSlider("All", "scales every effect at once")
        self.sliders: dict[str, AmountSlider] = {}
        form = self.form = QFormLayout()
        form.addRow("Preset:", self.preset)
        form.addRow("", self.description)
        form.addRow("All effects:", self.overall)
        for key, (label, tip) in TARGET_LABELS.items():
            s = AmountSlider(label, tip)
            self.sliders[key] = s
            form.addRow(f"{label}:", s)
            s.changed.connect(self._changed_soon)
        self.overall.changed.connect(self._changed_soon)
        reset = QPushButton("Reset amounts")
        reset.clicked.connect(self.reset_amounts)
        react_box = QGroupBox("Reactivity (takes effect at once)")
        rl = QVBoxLayout(react_box)
        rl.addLayout(form)
        rl.addWidget(reset, 0, Qt.AlignmentFlag.AlignRight)

        self.suggestions = QListWidget()
        self.suggestions.setMinimumHeight(300)
        self.suggestions.setIconSize(QSize(48, 48))
        self.suggestions.setWordWrap(True)
        self.suggestions.setToolTip("click a style to switch the preview to it")
        self.suggestions.itemClicked.connect(self._suggestion_clicked)
        self.suggestions.setVisible(False)
        self.suggest_note = QLabel("Load a track to see which styles suit it.")
        self.suggest_note.setWordWrap(True)
        sug_box = QGroupBox("Suggested styles for this track")
        sl = QVBoxLayout(sug_box)
        sl.addWidget(self.suggest_note)
        sl.addWidget(self.suggestions)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(track_box)
        layout.addWidget(react_box)
        layout.addWidget(sug_box)
        layout.addStretch(1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(40)
        self._debounce.timeout.connect(self.apply)
        self.preset.currentIndexChanged.connect(lambda _: self._preset_changed())
        stage.trackLoaded.connect(self._track_loaded)
        stage.trackCleared.connect(self._track_cleared)
        self.reload_presets()

    # -- presets ---------------------------------------------------------------------------
    def reload_presets(self) -> None:
        from engine.reactive import DEFAULT_PRESET, list_presets

        current = self.preset.currentText() or DEFAULT_PRESET
        self.preset.blockSignals(True)
        self.preset.clear()
        names = list_presets(self.library.user_dir)
        self.preset.addItems(names)
        self.preset.setCurrentIndex(max(0, self.preset.findText(current)))
        self.preset.blockSignals(False)
        self._preset_changed()

    def _preset_changed(self) -> None:
        from engine.reactive import load_preset

        name = self.preset.currentText()
        if not name:
            return
        try:
            preset = load_preset(name, self.library.user_dir)
        except SonolumeError as exc:
            dialogs.error(self, "Reactivity preset", str(exc))
            return
        self.current_preset = preset
        self.description.setText(preset.description)
        for key, s in self.sliders.items():
            s.setVisible(key in preset.targets)
            label = self.form.labelForField(s)
            if label is not None:
                label.setVisible(key in preset.targets)
        self.apply()

    def amounts(self) -> dict[str, float]:
        out = {k: s.amount for k, s in self.sliders.items()}
        out["_all"] = self.overall.amount
        return out

    def reset_amounts(self) -> None:
        for s in [self.overall, *self.sliders.values()]:
            s.slider.blockSignals(True)
            s.slider.setValue(100)
            s.value_label.setText("100%")
            s.slider.blockSignals(False)
        self.apply()

    def _changed_soon(self) -> None:
        self._debounce.start()

    def apply(self) -> None:
        self.stage.set_reactivity(getattr(self, "current_preset", None), self.amounts())

    # -- track -----------------------------------------------------------------------------
    def _track_loaded(self, features) -> None:
        s = features.stats or {}
        rows = [f"<b>{_esc(_name(self.stage.track_path))}</b>"]
        rows.append(f"{features.duration:.1f} s · {features.tempo:.0f} BPM · "
                    f"{len(features.beat_times)} beats")
        if s.get("key"):
            rows.append(f"key {s['key']} {s.get('mode', '')}")
        if s.get("loudness_db") is not None:
            rows.append(f"loudness {s['loudness_db']:.1f} dBFS · percussive "
                        f"{100 * s.get('percussive_ratio', 0):.0f}% · brightness "
                        f"{100 * s.get('brightness', 0):.0f}%")
        for w in s.get("warnings", []) or []:
            rows.append(f"<span style='color:#d08000'>{_esc(w)}</span>")
        self.track_info.setText("<br>".join(rows))
        self.refresh_suggestions()

    def _track_cleared(self) -> None:
        self.track_info.setText("No track loaded.")
        self.suggestions.clear()
        self.suggestions.setVisible(False)
        self.suggest_note.setText("Load a track to see which styles suit it.")

    def refresh_suggestions(self) -> None:
        """Rank the library's styles for the loaded track (in the background: with a CLIP
        loaded this encodes every style's prompts)."""
        features = self.stage.features
        self.suggestions.clear()
        self.suggestions.setVisible(False)
        if features is None:
            return
        from engine.audio.suggest import rank_styles

        clip = self.clip_service.current if self.clip_service is not None else None
        styles = self.library.list()
        self._suggest_gen = getattr(self, "_suggest_gen", 0) + 1
        gen = self._suggest_gen
        self.suggest_note.setText("ranking the library for this track…")

        def done(ranked):
            if gen == self._suggest_gen:
                self._show_suggestions(ranked[:SUGGESTIONS], clip is not None)

        def failed(err):
            if gen == self._suggest_gen:
                self.suggest_note.setText(f"no suggestions: {err.message}")

        self._suggest_worker = Worker(rank_styles, features, styles, clip=clip,
                                      name="style suggestions", pass_control=False)
        self._suggest_worker.on(finished=done, errored=failed).start()

    def _show_suggestions(self, ranked, with_clip: bool) -> None:
        from app.library.panel import style_pixmap

        self.suggestions.clear()
        self.suggest_note.setText(
            "Ranked by CLIP: a description of the track against each style's prompts. "
            "Click one to switch." if with_clip else
            "Ranked by the track's tempo, energy and brightness against each style's words "
            "(load a CLIP for better matches). Click one to switch.")
        for entry in ranked:
            style, score, reason = _unpack(entry)
            kind = "" if style.trained else " (untrained pattern)"
            if style.clip_random:
                kind = " (RANDOM CLIP)"
            item = QListWidgetItem(f"{style.name}{kind}\n{reason}" if reason else
                                   style.name + kind)
            item.setIcon(style_pixmap(style, 48, badges=False))
            item.setData(Qt.ItemDataRole.UserRole, style.id)
            item.setToolTip(f"score {score:.3f}" + (f": {reason}" if reason else ""))
            self.suggestions.addItem(item)
        self.suggestions.setVisible(self.suggestions.count() > 0)

    def _suggestion_clicked(self, item: QListWidgetItem) -> None:
        self.styleChosen.emit(item.data(Qt.ItemDataRole.UserRole))


def _unpack(entry):
    """(style, score, reason) from whatever rank_styles returns per entry."""
    if isinstance(entry, tuple):
        style = entry[0]
        score = float(entry[1]) if len(entry) > 1 else 0.0
        reason = entry[2] if len(entry) > 2 else ""
        if isinstance(reason, (list, tuple)):
            reason = "; ".join(str(r) for r in reason)
        return style, score, reason
    style = getattr(entry, "style", entry)
    score = float(getattr(entry, "score", 0.0))
    reason = getattr(entry, "reason", "") or "; ".join(getattr(entry, "reasons", []) or [])
    return style, score, reason


def _name(path) -> str:
    from pathlib import Path

    return Path(path).name if path else ""


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
