"""The stage's transport row in live mode.

Live, the track's transport says nothing true: there is no track position to play from
or seek to (the stream is the clock), "no track loaded" is beside the point, and loading
a track would lay its duration over the running set. So while live input drives the
preview, :class:`LiveTransport` hides the controls that cannot work there (play/pause,
load, the track's time and the energy timeline) and shows one line of what is true
instead, most telling first (a narrow window cuts the end; the whole line is the
tooltip)::

    LIVE · ● REC 0:42 · 123.4 BPM · 2:31 elapsed · Monitor of Null Output

(the tempo reads "tapped 100.0 BPM" when it comes from taps and "finding the beat" before
the tracker has one; the input's own trouble, "input lost", shows too). The show panel
under the timeline goes too: live its arrangement cannot be edited or seeked, and its hint
is about loading a track. Stopping live puts the track's transport back as it was.

It only looks at the Stage (``live_set``, ``liveChanged``, ``liveRecordingChanged``) and
the live input (``device``, ``state``, ``analyzer``); the stage's own code is unchanged.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QLabel, QSizePolicy

REFRESH_MS = 250


def fmt_clock(t: float) -> str:
    """m:ss, or h:mm:ss from an hour on (a set can run all night)."""
    s = max(0, int(t))
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def live_text(device: str, tempo: float, tapped: bool, elapsed: float, state: str = "",
              recording: float | None = None) -> str:
    """The live transport's line (a pure function, so its wording is tested directly)."""
    parts = ["LIVE"]
    if recording is not None:
        parts.append(f"● REC {fmt_clock(recording)}")
    if state == "lost":
        parts.append("input lost")
    if tempo > 0:
        parts.append(f"{'tapped ' if tapped else ''}{tempo:.1f} BPM")
    else:
        parts.append("finding the beat")
    parts.append(f"{fmt_clock(elapsed)} elapsed")
    if device:
        parts.append(device)
    return " · ".join(parts)


def live_html(text: str) -> str:
    """``text`` with its recording mark in red."""
    from html import escape

    out = escape(text)
    i = out.find("● REC")
    if i >= 0:
        j = out.find(" · ", i)
        j = len(out) if j < 0 else j
        out = f"{out[:i]}<span style='color:#e04848'>{out[i:j]}</span>{out[j:]}"
    return out


class LiveTransport(QObject):
    """See the module docstring. ``stage``: the app's Stage; ``live_input``: the
    app.live.audio_input.LiveInput the Live dock starts (its device name and state)."""

    def __init__(self, stage, live_input, parent=None):
        super().__init__(parent or stage)
        self.stage, self.live = stage, live_input
        self.label = QLabel("")
        self.label.setObjectName("liveTransport")
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setStyleSheet("QLabel#liveTransport { font-weight: bold; }")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setVisible(False)
        self._place_label()
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._hidden: list = []  # the track controls hidden while live
        self.shown = ""  # the line shown (plain text)
        stage.liveChanged.connect(self._live_changed)
        stage.liveRecordingChanged.connect(lambda _on: self.refresh())

    def _place_label(self) -> None:
        """Beside the track's label, in the stage's transport row."""
        track = self.stage.track_label
        lay = self.stage.layout()
        for i in range(lay.count() if lay is not None else 0):
            row = lay.itemAt(i).layout()
            if row is not None and row.indexOf(track) >= 0:
                row.insertWidget(row.indexOf(track) + 1, self.label, 1)
                return
        raise RuntimeError("the stage has no transport row holding its track label")

    def track_controls(self) -> list:
        """What cannot work on a live stream: play/pause, loading a track, the track's
        time, the energy timeline's seeking, the show panel (timeline and arranging)."""
        st = self.stage
        out = [st.load_button, st.play_button, st.time_label, st.track_label, st.timeline]
        show = getattr(st, "show_timeline", None)
        if show is not None and show.parentWidget() is not None:
            out.append(show.parentWidget())
        return out

    def _live_changed(self, on: bool) -> None:
        if on:
            self._hidden = [w for w in self.track_controls() if not w.isHidden()]
            for w in self._hidden:
                w.setVisible(False)
            self.label.setVisible(True)
            self.refresh()
            self._timer.start()
        else:
            self._timer.stop()
            self.label.setVisible(False)
            self.shown = ""
            for w in self._hidden:
                w.setVisible(True)
            self._hidden = []

    def text(self) -> str:
        ls = self.stage.live_set
        if ls is None:
            return ""
        an = ls.analyzer
        tr = getattr(an, "tracker", None)
        device = getattr(self.live, "device", None)
        recording = ls.elapsed if ls.recording else None
        return live_text(getattr(device, "description", "") or "",
                         float(tr.tempo) if tr is not None else 0.0,
                         bool(getattr(tr, "tapped", False)),
                         float(an.time) if an is not None else ls.now(),
                         getattr(self.live, "state", ""), recording)

    def refresh(self) -> None:
        ls = self.stage.live_set
        if ls is None:
            return
        text = self.text()
        if text == self.shown:
            return
        self.shown = text
        self.label.setText(live_html(text))
        tip = text.replace(" · ", "\n")
        if ls.recording and ls.show_path:
            tip += f"\nrecording to {ls.show_path}"
        self.label.setToolTip(tip + "\n\nlive input drives the preview: the stream is the "
                              "clock, so there is nothing to play, pause or seek")
