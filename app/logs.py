"""Logging for the app: a rotating file everyone can attach to a bug report, plus stderr."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from engine.paths import LOG_ENV, log_file

_configured: Path | None = None
__all__ = ["LOG_ENV", "log_path", "setup_logging"]


def log_path() -> Path:
    """Where the engine says the log lives (``SONOLUME_LOG`` moves it)."""
    return log_file()


def setup_logging(level: int = logging.INFO) -> Path:
    global _configured
    path = log_path()
    if _configured == path:
        return path
    logger = logging.getLogger("sonolume")
    logger.setLevel(level)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for h in [h for h in logger.handlers if getattr(h, "_sonolume_file", False)]:
        logger.removeHandler(h)  # the log moved (a new $SONOLUME_LOG)
        h.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(path, maxBytes=2 << 20, backupCount=2,
                                                  encoding="utf-8")
        fh.setFormatter(fmt)
        fh._sonolume_file = True
        logger.addHandler(fh)
    except OSError:
        pass
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               for h in logger.handlers):
        sh = logging.StreamHandler()
        sh.setLevel(logging.WARNING)
        sh.setFormatter(fmt)
        logger.addHandler(sh)
    _configured = path
    return path
