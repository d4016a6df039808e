"""The live-input tests' audio server: a real PulseAudio daemon of their own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest


@pytest.fixture
def pulse_server(tmp_path):
    """A private PulseAudio daemon with a null sink; yields the environment to reach it.
    Skips (saying why) where QtMultimedia cannot load, since then nothing can capture."""
    from app.live.audio_input import LiveInput

    ok, why = LiveInput.available()
    if not ok:
        pytest.skip(f"QtMultimedia cannot load here, so nothing can capture: {why}")
    exe = shutil.which("pulseaudio")
    if exe is None or shutil.which("paplay") is None or shutil.which("pactl") is None:
        pytest.skip("no audio server to test against: PulseAudio is not installed "
                    "(apt-get install pulseaudio pulseaudio-utils)")
    run = tmp_path / "pulse"
    run.mkdir()
    env = dict(os.environ, PULSE_RUNTIME_PATH=str(run), HOME=str(tmp_path),
               XDG_RUNTIME_DIR=str(run))
    env.pop("PULSE_SERVER", None)
    # -n: no default.pa (no hardware probing); root in a container is fine with a private
    # runtime path. --exit-idle-time=-1: stay up between clients.
    res = subprocess.run(
        [exe, "-D", "-n", "--exit-idle-time=-1", "--disallow-exit=no", "--use-pid-file=yes",
         "--load=module-null-sink sink_name=sono_null rate=48000",
         "--load=module-native-protocol-unix",
         f"--log-target=file:{tmp_path / 'pulse.log'}"],
        env=env, capture_output=True, text=True, timeout=30)
    ok = False
    for _ in range(50):
        if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
            ok = True
            break
        time.sleep(0.1)
    if not ok:
        log = (tmp_path / "pulse.log").read_text() if (tmp_path / "pulse.log").exists() else ""
        pytest.skip("this machine cannot start an audio server: pulseaudio said "
                    f"{(res.stderr or log).strip()[-300:]!r}")
    try:
        yield env
    finally:
        pid_file = run / "pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            try:
                os.kill(pid, 15)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                pass


@pytest.fixture
def udp_port() -> int:
    """A UDP port on localhost that was free a moment ago (for the app's OSC server)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
