"""Persistent preferences (QSettings): library location, CLIP choice, last folders, layout.

Tests and portable installs point ``SONOLUME_SETTINGS`` at an INI file; otherwise Qt's
native per-user store is used under the organisation ``Sonolume``.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from engine.clip.loader import DEFAULT_MODEL, DEFAULT_PRETRAINED, ClipSpec

SETTINGS_ENV = "SONOLUME_SETTINGS"
ORGANIZATION = "Sonolume"
APPLICATION = "Sonolume"

PREVIEW_PATHS = ("auto", "gl", "torch")
# The output window's internal resolution: "adaptive" holds the frame rate (as the preview
# does), a height such as "720p" is drawn at that size and scaled to the screen, "native" at
# the screen's own pixels.
OUTPUT_RESOLUTIONS = ("adaptive", "360p", "540p", "720p", "1080p", "native")


class AppSettings:
    """Typed access to the app's QSettings."""

    def __init__(self, path: str | os.PathLike | None = None):
        path = path or os.environ.get(SETTINGS_ENV)
        if path:
            self.q = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self.q = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                               ORGANIZATION, APPLICATION)
        self.path = Path(self.q.fileName())

    # -- generic ---------------------------------------------------------------------------
    def get_str(self, key: str, default: str = "") -> str:
        value = self.q.value(key, default)
        return "" if value is None else str(value)

    def get_int(self, key: str, default: int) -> int:
        try:
            return int(self.q.value(key, default))
        except (TypeError, ValueError):
            return default

    def get_float(self, key: str, default: float) -> float:
        try:
            return float(self.q.value(key, default))
        except (TypeError, ValueError):
            return default

    def set(self, key: str, value) -> None:
        self.q.setValue(key, value)

    def sync(self) -> None:
        self.q.sync()

    # -- library ---------------------------------------------------------------------------
    @property
    def library_dir(self) -> str:
        """The user library folder chosen in Settings ('' = $SONOLUME_LIBRARY or default)."""
        return self.get_str("library/dir")

    @library_dir.setter
    def library_dir(self, value: str) -> None:
        self.set("library/dir", value or "")

    # -- CLIP ------------------------------------------------------------------------------
    @property
    def clip_model(self) -> str:
        return self.get_str("clip/model", DEFAULT_MODEL) or DEFAULT_MODEL

    @clip_model.setter
    def clip_model(self, value: str) -> None:
        self.set("clip/model", value)

    @property
    def clip_pretrained(self) -> str:
        return self.get_str("clip/pretrained", DEFAULT_PRETRAINED) or DEFAULT_PRETRAINED

    @clip_pretrained.setter
    def clip_pretrained(self, value: str) -> None:
        self.set("clip/pretrained", value)

    @property
    def clip_checkpoint(self) -> str:
        return self.get_str("clip/checkpoint")

    @clip_checkpoint.setter
    def clip_checkpoint(self, value: str) -> None:
        self.set("clip/checkpoint", value or "")

    @property
    def clip_config(self) -> str:
        """Random-weight CLIP config (testing only); '' when a real CLIP is used."""
        return self.get_str("clip/random_config")

    @clip_config.setter
    def clip_config(self, value: str) -> None:
        self.set("clip/random_config", value or "")

    def clip_spec(self) -> ClipSpec:
        return ClipSpec(
            model=self.clip_model,
            pretrained=self.clip_pretrained,
            checkpoint=self.clip_checkpoint or None,
            config=self.clip_config or None,
        )

    # -- folders ---------------------------------------------------------------------------
    def last_dir(self, kind: str) -> str:
        path = self.get_str(f"folders/{kind}")
        return path if path and Path(path).is_dir() else str(Path.home())

    def remember_dir(self, kind: str, path: str | os.PathLike) -> None:
        p = Path(path)
        self.set(f"folders/{kind}", str(p if p.is_dir() else p.parent))

    # -- preview ---------------------------------------------------------------------------
    @property
    def preview_path(self) -> str:
        value = os.environ.get("SONOLUME_PREVIEW") or self.get_str("preview/path", "auto")
        return value if value in PREVIEW_PATHS else "auto"

    @preview_path.setter
    def preview_path(self, value: str) -> None:
        self.set("preview/path", value if value in PREVIEW_PATHS else "auto")

    @property
    def target_fps(self) -> int:
        return max(5, min(60, self.get_int("preview/target_fps", 24)))

    @target_fps.setter
    def target_fps(self, value: int) -> None:
        self.set("preview/target_fps", int(value))

    # -- output window -----------------------------------------------------------------------
    @property
    def output_screen(self) -> str:
        """The screen the output window goes to, by name ('' = none chosen yet): a name
        survives a restart and a projector plugged into another port reads differently."""
        return self.get_str("output/screen")

    @output_screen.setter
    def output_screen(self, value: str) -> None:
        self.set("output/screen", value or "")

    @property
    def output_resolution(self) -> str:
        value = self.get_str("output/resolution", "adaptive")
        return value if value in OUTPUT_RESOLUTIONS else "adaptive"

    @output_resolution.setter
    def output_resolution(self, value: str) -> None:
        if value not in OUTPUT_RESOLUTIONS:
            raise ValueError(f"unknown output resolution '{value}': choose one of "
                             + ", ".join(OUTPUT_RESOLUTIONS))
        self.set("output/resolution", value)

    @property
    def output_open(self) -> bool:
        """Whether the output window was open when the app quit (it reopens on its screen)."""
        return self.get_str("output/open", "false").lower() in ("true", "1")

    @output_open.setter
    def output_open(self, value: bool) -> None:
        self.set("output/open", "true" if value else "false")

    # -- window ----------------------------------------------------------------------------
    def window_bytes(self, key: str) -> QByteArray | None:
        value = self.q.value(f"window/{key}")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_bytes(self, key: str, value: QByteArray) -> None:
        self.set(f"window/{key}", value)
