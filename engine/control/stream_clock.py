"""The monotonic clock of the control threads, read on the audio stream's clock.

A tap from OSC or MIDI is stamped with ``time.monotonic()`` when it arrives (see
:class:`engine.control.ControlEvent`), but the beat tracker counts time in seconds of
audio analysed. The two are tied together each time a block of audio is read: the
newest sample of that block is (nearly) "now", so ``stream - monotonic`` at that moment
is the offset between the clocks. A tap is then placed at ``arrival + offset``, however
late the GUI thread gets to it, and whether or not the audio that arrived meanwhile has
been read yet.

Reads can be late (a busy GUI thread, a capture buffer read in one go), which only ever
makes a block's newest sample *older* than the read: the offset it gives is too small,
never too large. So the clock keeps the largest offset seen over the last
:data:`WINDOW_S` (the freshest read), and forgets older ones so a device that drops
samples or is reopened does not skew taps for long.
"""

from __future__ import annotations

import time
from collections import deque

WINDOW_S = 2.0


class StreamClock:
    """``note(monotonic, stream)`` on every block read; ``stream_at(monotonic)`` for a
    tap's arrival. ``clock`` is the monotonic clock (a parameter for tests only)."""

    def __init__(self, window_s: float = WINDOW_S, clock=time.monotonic):
        if not window_s > 0:
            raise ValueError(f"window_s must be positive, not {window_s!r}")
        self.window_s = float(window_s)
        self.clock = clock
        self._offsets: deque[tuple[float, float]] = deque()  # (monotonic, stream - monotonic)

    def reset(self) -> None:
        """A new stream (live input started again): earlier offsets mean nothing."""
        self._offsets.clear()

    def note(self, stream: float, monotonic: float | None = None) -> None:
        """The stream reached ``stream`` seconds at ``monotonic`` (default: now)."""
        m = self.clock() if monotonic is None else float(monotonic)
        off = float(stream) - m
        q = self._offsets
        while q and q[-1][1] <= off:  # an older, smaller offset is never the largest again
            q.pop()
        q.append((m, off))
        while m - q[0][0] > self.window_s:  # too old (the newest one never is)
            q.popleft()

    @property
    def offset(self) -> float | None:
        """stream - monotonic, from the freshest read of the last ``window_s``; None before
        the first read."""
        return self._offsets[0][1] if self._offsets else None

    def stream_at(self, monotonic: float) -> float | None:
        """The stream time of the monotonic instant ``monotonic``; None before the first
        read (no tie between the clocks yet)."""
        off = self.offset
        return None if off is None else float(monotonic) + off
