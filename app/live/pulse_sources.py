"""The sources of the PulseAudio server that runs now, asked with ``pactl``.

Why not Qt: after the audio server is killed and restarted, Qt 6.11's QMediaDevices keeps
the old server's list for good and never says it changed, so the live input asks the
server itself while Qt's list is stale (app.live.audio_input). Qt-free, and no libpulse
introspection through ctypes: two short pactl runs side by side cost one call (~8 ms).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

log = logging.getLogger("sonolume.app.live.audio_input")

PACTL_TIMEOUT_S = 2.0  # one query waits at most this long (both pactl runs are killed)


@dataclass(frozen=True)
class PulseSource:
    """A Pulse source as the server lists it; ``sink_monitor``: the monitor of a sink,
    which Qt's PulseAudio backend does not list (nor does LiveInput.devices(), to show the
    same inputs before and after a server restart; a remap source such as Sonolume's
    monitor is listed)."""

    name: str
    description: str
    is_default: bool
    sample_rate: int  # 0: not said
    channels: int
    sink_monitor: bool


def _spec(text: str) -> tuple[int, int]:
    """(rate, channels) of a Pulse sample spec like "s16le 2ch 48000Hz" (0: not said)."""
    rate = channels = 0
    for part in text.split():
        if part.endswith("Hz") and part[:-2].isdigit():
            rate = int(part[:-2])
        elif part.endswith("ch") and part[:-2].isdigit():
            channels = int(part[:-2])
    return rate, channels


def _source(name: str, description: str, spec: str, monitor_of: str, device_class: str,
            default: str) -> PulseSource:
    rate, channels = _spec(spec)
    monitor = monitor_of not in ("", "n/a") or device_class == "monitor"
    return PulseSource(name, description or name, name == default, rate, channels, monitor)


def _sources_json(text: str, default: str) -> list[PulseSource]:
    """``pactl -f json list sources`` (pactl 16 names the monitored sink
    "monitor_source")."""
    return [_source(s["name"], s.get("description") or "",
                    s.get("sample_specification") or "",
                    s.get("monitor_of_sink") or s.get("monitor_source") or "",
                    (s.get("properties") or {}).get("device.class") or "", default)
            for s in json.loads(text)]


def _sources_text(text: str, default: str) -> list[PulseSource]:
    """``pactl list sources`` in the C locale (pactl before 16 has no JSON)."""
    blocks: list[dict] = []
    for line in text.splitlines():
        if line.startswith("Source #"):
            blocks.append({})
        elif blocks and line.startswith("\t\t") and "=" in line:
            key, _, value = line.strip().partition("=")
            blocks[-1].setdefault(key.strip(), value.strip().strip('"'))
        elif blocks and line.startswith("\t") and ":" in line:
            key, _, value = line.strip().partition(":")
            blocks[-1].setdefault(key, value.strip())
    return [_source(b["Name"], b.get("Description", ""), b.get("Sample Specification", ""),
                    b.get("Monitor of Sink", ""), b.get("device.class", ""), default)
            for b in blocks if b.get("Name")]


_pactl_json = True  # until a pactl from before PulseAudio 16 (no -f json) says otherwise


def query_sources(timeout: float = PACTL_TIMEOUT_S) -> list[PulseSource] | None:
    """Every source of the Pulse server that runs now, or None (no pactl, no server
    answering within ``timeout``). Its list and its default source are asked side by side,
    so this waits for about one pactl call."""
    global _pactl_json
    pactl = shutil.which("pactl")
    if pactl is None:
        return None
    env = dict(os.environ, LC_ALL="C")  # the text forms are translated otherwise
    while True:
        json_form = _pactl_json
        listing = [pactl, *(["-f", "json"] if json_form else []), "list", "sources"]
        runs = _run_together([listing, [pactl, "info"]], env, timeout)
        if runs is None:
            return None
        (rc, out, err), (info_rc, info, _) = runs
        if rc != 0 and json_form and "option" in err:
            _pactl_json = False  # once: the text form from now on
            continue
        if rc != 0:
            return None
        default = ""
        for line in info.splitlines() if info_rc == 0 else ():
            if line.startswith("Default Source:"):
                default = line.partition(":")[2].strip()
        try:
            return _sources_json(out, default) if json_form else _sources_text(out, default)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("live input: cannot read pactl's source list: %s", exc)
            return None


def _run_together(commands, env, timeout: float):
    """Run ``commands`` side by side: [(returncode, stdout, stderr)], or None when one
    could not start or all did not end within ``timeout`` (they are killed)."""
    procs = []
    try:
        for cmd in commands:
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          stdin=subprocess.DEVNULL, text=True, env=env))
        end = time.monotonic() + timeout
        done = []
        for p in procs:
            out, err = p.communicate(timeout=max(0.0, end - time.monotonic()))
            done.append((p.returncode, out, err))
        return done
    except (OSError, subprocess.SubprocessError):
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
        return None
