"""One CLIP per app, loaded on demand in a worker thread and shared by training, semantic
search and track suggestions."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal

from engine.clip.loader import ClipSpec

log = logging.getLogger("sonolume.app.clip")


class ClipService(QObject):
    loaded = Signal(str)  # label of the CLIP now loaded
    unloaded = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._spec: ClipSpec | None = None
        self._clip = None

    @property
    def current(self):
        """The loaded CLIP, or None (never loads)."""
        return self._clip

    @property
    def is_random(self) -> bool:
        return bool(self._clip is not None and getattr(self._clip, "random", False))

    def get(self, spec: ClipSpec):
        """The CLIP for ``spec``, loading it if needed. Blocking: call from a worker.
        Raises :class:`engine.errors.ClipUnavailable` with instructions when it cannot."""
        with self._lock:
            if self._clip is not None and self._spec == spec:
                return self._clip
            from engine.clip.loader import load_clip

            log.info("loading CLIP %s", spec.label)
            clip = load_clip(spec, warn=log.warning)
            self._clip, self._spec = clip, spec
        self.loaded.emit(clip.label)
        return clip

    def forget(self, spec: ClipSpec | None = None) -> None:
        """Drop the loaded CLIP when the settings change to another one."""
        with self._lock:
            if self._clip is None or (spec is not None and spec == self._spec):
                return
            self._clip, self._spec = None, None
        self.unloaded.emit()


CHECKPOINT_FILTER = "CLIP checkpoints (*.pt *.pth *.bin *.safetensors);;All files (*)"


def ask_for_clip_weights(parent, settings, message: str) -> str | None:
    """The one answer every panel gives to missing CLIP weights: explain how to provide
    them, and store a checkpoint the user picks. Returns "checkpoint" (stored: retry),
    "settings" (the caller opens Settings) or None (the user closed the dialog)."""
    from app import dialogs

    choice = dialogs.clip_unavailable(parent, message)
    if choice == "checkpoint":
        path = dialogs.open_file(parent, "Choose a CLIP checkpoint",
                                 settings.last_dir("clip"), CHECKPOINT_FILTER)
        if not path:
            return None
        settings.clip_checkpoint = path
        settings.clip_config = ""
        settings.remember_dir("clip", path)
        return "checkpoint"
    return "settings" if choice == "settings" else None


RANDOM_CLIP_HTML = "<span style='color:#e04040'><b>random CLIP — testing only</b></span>"


def show_clip_choice(label, spec, role: str, random_note: str = "") -> None:
    """Put the chosen CLIP on a panel's label: its name, or a red warning for a random
    config (nothing user-facing may pass a random CLIP off as a real one)."""
    if spec.config:
        label.setText(RANDOM_CLIP_HTML)
        label.setToolTip(f"{spec.config}: an open_clip config with RANDOM weights. "
                         f"{random_note}Choose a real model or checkpoint in Settings.")
    else:
        label.setText(spec.label)
        label.setToolTip(f"the CLIP model that {role} (Settings)")
