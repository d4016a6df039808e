"""The research tools (NeRV-CLIP, spatial CLIP maps) in windows of their own.

They are for a different job than making visuals, so they stay out of the main window's
docks: each opens from the Research menu, is built on first use (no cost for users who
never open it), and lives as long as the main window, keeping its state when closed and
reopened."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QScrollArea


class ResearchWindow(QMainWindow):
    def __init__(self, title: str, name: str, panel, parent):
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(f"{title} — Sonolume")
        self.setObjectName(name)
        self.panel = panel
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setWidget(panel)
        area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setCentralWidget(area)
        self.resize(1120, 860)

    def present(self) -> None:
        self.show()
        self.raise_()
        self.activateWindow()

    def shutdown(self) -> None:
        self.panel.shutdown()
        self.close()
