"""Progress bars that are live on a terminal and stay short in a log.

tqdm redraws whenever it is asked to, and when its stream is a file or a pipe every redraw
is kept: one 60-epoch ``nerv train`` wrote 1.1 MB of bar updates into a log. On a
terminal :func:`progress_bar` is an ordinary tqdm bar; elsewhere it draws at most one
line every ``log_interval`` seconds (plus the first and the last), each a real line
(``\\n``, not ``\\r``), in plain ASCII.

Callers move the bar with ``update``/``set_postfix``; an explicit ``refresh()`` draws
regardless of any interval, so leave drawing to tqdm.
"""

from __future__ import annotations

import sys
from typing import IO

LOG_INTERVAL_S = 10.0


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or not a real stream
        return False


class _Lines:
    """A stream wrapper that turns tqdm's carriage-return redraws into lines: a log keeps
    each update readable instead of one line that grows with every redraw."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self._last = ""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").rstrip()
        # tqdm also writes bare "\r", "\n" and blanks to clear the bar, and draws the
        # last state again on close
        if line and line != self._last:
            self.stream.write(line + "\n")
            self._last = line
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


def progress_bar(total: float | None = None, *, desc: str | None = None, unit: str = "it",
                 initial: float = 0, file: IO[str] | None = None, disable: bool = False,
                 log_interval: float = LOG_INTERVAL_S, **kwargs):
    """A tqdm bar on ``file`` (default stderr), throttled to ``log_interval`` seconds per
    line when ``file`` is not a terminal. Extra keyword arguments go to tqdm."""
    from tqdm import tqdm

    file = file if file is not None else sys.stderr
    if is_terminal(file):
        kwargs.setdefault("dynamic_ncols", True)
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=file,
                    disable=disable, **kwargs)
    kwargs.pop("dynamic_ncols", None)
    kwargs.setdefault("ncols", 100)
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=_Lines(file),
                disable=disable, mininterval=log_interval, maxinterval=log_interval,
                ascii=True, **kwargs)
