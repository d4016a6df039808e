"""Every modal question the app asks goes through here, so tests can answer them.

Tests monkeypatch these functions (``app.dialogs.confirm`` etc.); the widgets always call
them as ``dialogs.confirm(...)``, never by a name imported into their own module.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

log = logging.getLogger("sonolume.app")


def error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    log.warning("%s: %s", title, message)
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                      parent)
    if details:
        box.setDetailedText(details)
    box.exec()


def info(parent: QWidget | None, title: str, message: str) -> None:
    QMessageBox.information(parent, title, message)


def confirm(parent: QWidget | None, title: str, message: str) -> bool:
    answer = QMessageBox.question(parent, title, message,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def ask_text(parent: QWidget | None, title: str, label: str, text: str = "") -> str | None:
    value, ok = QInputDialog.getText(parent, title, label, text=text)
    return value if ok else None


def open_file(parent: QWidget | None, title: str, folder: str, filters: str) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, title, folder, filters)
    return path or None


def save_file(parent: QWidget | None, title: str, path: str, filters: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, path, filters)
    return path or None


def choose_folder(parent: QWidget | None, title: str, folder: str) -> str | None:
    return QFileDialog.getExistingDirectory(parent, title, folder) or None


def clip_unavailable(parent: QWidget | None, message: str) -> str:
    """Explain missing CLIP weights. Returns 'checkpoint' (user wants to pick a file),
    'settings' or 'close'."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("CLIP weights are missing")
    box.setText("Training and semantic search need CLIP weights, and they could not be "
                "loaded.")
    box.setInformativeText(message)
    pick = box.addButton("Choose checkpoint file…", QMessageBox.ButtonRole.AcceptRole)
    settings = box.addButton("Open Settings…", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.exec()
    clicked = box.clickedButton()
    if clicked is pick:
        return "checkpoint"
    if clicked is settings:
        return "settings"
    return "close"


def open_folder(path) -> bool:
    """Show a folder in the desktop's file manager."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    log.info("opening folder %s", path)
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
