"""Live scenario of the soak run (``bench/soak.py --live``): a VJ's set in the real window.

    .venv/bin/python bench/soak.py --live [--minutes 10] [--track SONG.ogg] [--keep]

Why: live mode is where a performer cannot stop and restart the app; it runs a whole set
with audio arriving from a device, knobs turning and the output on a projector. Short
tests do not see what an hour does (memory that grows per features step, a stall when a
set is saved, an audio server that goes away). What it runs:

- a PulseAudio server of its own (a null sink at 48 kHz, its socket, cookie, runtime and
  home folders in the run's work folder: nothing of the user's audio setup is touched),
  and ``paplay`` playing a real track into the sink in a loop;
- the app window through ``sonolume app``'s own code path on an X display (an Xvfb of its
  own when none is set), as in the file soak;
- the performer in the window (Qt timers in the app's process, doing what a hand does):
  picks a style, chooses "What this computer plays (monitor)" in the Live dock, turns OSC
  on, starts live; opens and closes the output window twice; records a set with Record set
  (a quarter of the run, at most 3 minutes), stops it (the show is saved and opens), and
  starts live again; stops and restarts the live input once; when the input is lost for
  more than 12 s, clicks Stop and Start as a user would;
- the OSC controller in the parent process, over a real UDP socket to the app's OSC server:
  knob sweeps at 30 messages a second (amounts, hue, brightness, zoom), style next and
  previous, transitions of every kind, freeze and blackout, tap tempo;
- audio trouble from the parent: the sink suspended for 10 s at 70 % of the run, and the
  audio server killed (SIGKILL) at 80 % and started again 8 s later.

Recorded once a second: RSS and threads (parent, from /proc), and in the app preview fps,
event-loop delay, features steps reaching the stage, blocks, stream time against the wall
clock, how far the drawn frame's set time lags the newest input when it is shown, preview
frames asked for and shown (the rest dropped), the output window's frames, OSC received.
After the run the saved set is read with ``engine.scene.show.read_show`` and its audio
file's duration compared with the time the app said it had recorded.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SINK = "soak_null"
RATE = 48000  # a 44.1 kHz null sink lost audio in bursts through QAudioSource (tests)
LOST_PATIENCE_S = 12.0  # a performer waits this long for the input to come back by itself
OSC_RATE = 30.0  # knob sweep messages per second
GOALS = {"rss_mb_per_min": 1.0, "loop_p99_ms": 50.0, "exit_s": 2.0}


def schedule(duration_s: float) -> dict[str, float]:
    """When each act happens, seconds after live started: fractions of the run so a short
    development run does all of them, capped so a long run records a few minutes."""
    d = duration_s
    rec = min(180.0, 0.25 * d)
    out = min(30.0, 0.08 * d)
    return {
        "record_start": 0.05 * d, "record_stop": 0.05 * d + rec,
        "output1_open": 0.10 * d, "output1_close": 0.10 * d + out,  # while recording
        "restart_stop": 0.45 * d, "restart_start": 0.45 * d + 3.0,
        "output2_open": 0.55 * d, "output2_close": 0.55 * d + out,
        "suspend": 0.70 * d, "resume": 0.70 * d + min(10.0, 0.05 * d),
        "kill_server": 0.80 * d, "restart_server": 0.80 * d + 8.0,
        "osc_stop": d - 5.0, "close": d,
    }


def percentile(values, q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[k]


# --------------------------------------------------------------------------------------
# parent side: the audio server, the player, the OSC controller
# --------------------------------------------------------------------------------------

class PulseServer:
    """A private PulseAudio daemon with one null sink (the default sink, so the app's
    "what this computer plays" is its monitor). ``env`` reaches it from any client."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.run_dir = self.folder / "run"
        self.socket = self.folder / "native"
        self.log = self.folder / "pulse.log"
        self.env = {"PULSE_SERVER": f"unix:{self.socket}",
                    "PULSE_COOKIE": str(self.folder / "cookie"),  # clients write none at home
                    "PULSE_CLIENTCONFIG": str(self.folder / "client.conf")}
        self.starts = 0

    def _daemon_env(self) -> dict:
        env = dict(os.environ, PULSE_RUNTIME_PATH=str(self.run_dir), HOME=str(self.folder),
                   XDG_RUNTIME_DIR=str(self.run_dir), XDG_CONFIG_HOME=str(self.folder),
                   PULSE_STATE_PATH=str(self.folder / "state"))
        env.pop("PULSE_SERVER", None)
        return env

    def start(self) -> None:
        exe = shutil.which("pulseaudio")
        if exe is None or shutil.which("paplay") is None or shutil.which("pactl") is None:
            raise SystemExit("soak --live: PulseAudio is not installed "
                             "(apt-get install pulseaudio pulseaudio-utils)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        (self.folder / "client.conf").write_text("autospawn = no\n")
        res = subprocess.run(
            [exe, "-D", "-n", "--exit-idle-time=-1", "--disallow-exit=no",
             "--use-pid-file=yes", f"--load=module-null-sink sink_name={SINK} rate={RATE}",
             f"--load=module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
             f"--log-target=file:{self.log}"],
            env=self._daemon_env(), capture_output=True, text=True, timeout=30)
        for _ in range(100):
            if self.pactl("info").returncode == 0:
                self.starts += 1
                return
            time.sleep(0.1)
        tail = self.log.read_text()[-300:] if self.log.exists() else ""
        raise SystemExit(f"soak --live: the audio server did not start: "
                         f"{(res.stderr or tail).strip()!r}")

    def pid(self) -> int | None:
        try:
            return int((self.run_dir / "pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pactl(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=dict(os.environ, **self.env),
                              capture_output=True, text=True, timeout=10)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, sig)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:  # what a crashed server leaves behind
            for p in (self.run_dir / "pid",):
                p.unlink(missing_ok=True)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


class Player(threading.Thread):
    """``paplay`` the track into the sink, again and again; when the server is gone it
    retries every half second (the music comes back with the server)."""

    def __init__(self, server: PulseServer, track: str):
        super().__init__(name="soak-player", daemon=True)
        self.server, self.track = server, track
        self.stopping = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.plays = 0
        self.failures = 0

    def run(self) -> None:
        env = dict(os.environ, **self.server.env)
        while not self.stopping.is_set():
            t = time.monotonic()
            self.proc = subprocess.Popen(["paplay", f"--device={SINK}", self.track], env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            code = self.proc.wait()
            if self.stopping.is_set():
                break
            if code == 0 and time.monotonic() - t > 5:
                self.plays += 1
            else:
                self.failures += 1
                self.stopping.wait(0.5)

    def stop(self) -> None:
        self.stopping.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.join(timeout=10)


class OscPerformer(threading.Thread):
    """A controller on another device: OSC over UDP to the app's server while the app is
    live. A 12 s cycle: a knob sweep (2 s at 30 messages/s on an amount), a hue sweep,
    style next (previous every 5th cycle), a brightness or zoom sweep, a transition (cut,
    crossfade, morph, bloom, zoom in turn), freeze or blackout held briefly; four taps at
    the track's tempo once a minute."""

    KINDS = [("crossfade", 4), ("morph", 2), ("bloom", 2), ("zoom", 2), ("cut", None)]
    TARGETS = ["pulse", "drift", "tone", "zoom", "rotation", "hue", "brightness", "warp", "all"]

    def __init__(self, tap_bpm: float = 100.0):
        super().__init__(name="soak-osc", daemon=True)
        self.port: int | None = None
        self.live = False
        self.stopping = threading.Event()
        self.sent: dict[str, int] = {}
        self.tap_bpm = tap_bpm

    def total(self) -> int:
        return sum(self.sent.values())

    def run(self) -> None:
        from pythonosc.udp_client import SimpleUDPClient

        client = None
        tick = 1.0 / OSC_RATE
        cycle_t = 0.0
        cycle = 0
        last_tap = -math.inf
        next_t = time.monotonic()
        while not self.stopping.is_set():
            next_t += tick
            delay = next_t - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)
            else:
                next_t = time.monotonic()
            if self.port is None or not self.live:
                continue
            if client is None:
                client = SimpleUDPClient("127.0.0.1", self.port)
            now = time.monotonic()
            msgs = self._moves(cycle, cycle_t)
            if now - last_tap > 60.0 and 9.0 <= cycle_t < 9.0 + tick:
                last_tap = now
                beat = 60.0 / self.tap_bpm
                threading.Thread(target=self._taps, args=(client, beat), daemon=True).start()
            for address, args in msgs:
                client.send_message(address, args)
                key = address.split("/")[2]
                self.sent[key] = self.sent.get(key, 0) + 1
            cycle_t += tick
            if cycle_t >= 12.0:
                cycle_t = 0.0
                cycle += 1

    def _taps(self, client, beat: float) -> None:
        start = time.monotonic()
        for k in range(4):
            delay = start + k * beat - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            client.send_message("/sonolume/tap", [])
            self.sent["tap"] = self.sent.get("tap", 0) + 1

    def _moves(self, cycle: int, t: float) -> list[tuple[str, list]]:
        tick = 1.0 / OSC_RATE
        out: list[tuple[str, list]] = []

        def at(x: float) -> bool:
            return x <= t < x + tick

        if t < 2.0:  # a knob sweep: up and back down
            target = self.TARGETS[cycle % len(self.TARGETS)]
            out.append((f"/sonolume/amount/{target}", [1.0 + math.sin(math.pi * t)]))
        elif at(2.0):
            out.append((f"/sonolume/amount/{self.TARGETS[cycle % len(self.TARGETS)]}", [1.0]))
        elif 3.0 <= t < 4.5:
            out.append(("/sonolume/hue", [(t - 3.0) / 1.5 * 0.5 + 0.1 * cycle % 1.0]))
        elif at(5.0):
            out.append(("/sonolume/style/previous" if cycle % 5 == 4 else
                        "/sonolume/style/next", []))
        elif 6.0 <= t < 7.5:
            u = (t - 6.0) / 1.5
            if cycle % 2:
                out.append(("/sonolume/zoom", [1.0 + 0.5 * math.sin(math.pi * u)]))
            else:
                out.append(("/sonolume/brightness", [1.0 + 0.6 * math.sin(math.pi * u)]))
        elif at(7.5):
            out.append(("/sonolume/zoom" if cycle % 2 else "/sonolume/brightness", [1.0]))
        elif at(8.0):
            kind, beats = self.KINDS[cycle % len(self.KINDS)]
            out.append((f"/sonolume/transition/{kind}", [] if beats is None else [beats]))
        elif at(11.0):
            if cycle % 3 == 2:
                out.append(("/sonolume/freeze", [1]))
            elif cycle % 4 == 3:
                out.append(("/sonolume/blackout", [1]))
        elif at(11.6):
            if cycle % 3 == 2:
                out.append(("/sonolume/freeze", [0]))
            elif cycle % 4 == 3:
                out.append(("/sonolume/blackout", [0]))
        return out


def _read_events(path: Path, pos: int) -> tuple[list[dict], int]:
    if not path.exists():
        return [], pos
    with open(path, encoding="utf-8") as f:
        f.seek(pos)
        data = f.read()
    end = data.rfind("\n")
    if end < 0:
        return [], pos
    lines = data[: end + 1].splitlines()
    return [json.loads(x) for x in lines if x.strip()], pos + len(data[: end + 1].encode())


def parent_main(args) -> int:
    from bench.soak import _proc_status, _start_xvfb, pick_track

    track = pick_track(args.track, "soak --live")
    work = Path(tempfile.mkdtemp(prefix="sonolume-soak-live-"))
    samples = work / "samples.jsonl"
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    server = PulseServer(work / "pulse")
    server.start()
    player = Player(server, track)
    player.start()
    osc = OscPerformer()
    osc.start()
    env = dict(os.environ, **server.env)
    xvfb = None
    if not env.get("DISPLAY") or args.xvfb:
        xvfb, env["DISPLAY"] = _start_xvfb()
    env["QT_QPA_PLATFORM"] = "xcb"
    for var, sub in (("SONOLUME_LIBRARY", "library"), ("SONOLUME_LOG", "sonolume.log"),
                     ("SONOLUME_RUNS", "runs"), ("SONOLUME_CACHE_DIR", "cache")):
        env[var] = str(work / sub)
    env.setdefault("HF_HUB_OFFLINE", "1")
    if args.preview:
        env["SONOLUME_PREVIEW"] = args.preview
    cmd = [sys.executable, str(ROOT / "bench" / "soak.py"), "--child", "--live",
           "--minutes", str(args.minutes), "--samples", str(samples), "--workdir", str(work)]
    print(f"soak --live: {args.minutes:g} min, {Path(track).name} played into "
          f"{SINK} on {env['PULSE_SERVER']}, window on {env['DISPLAY']}; work folder {work}; "
          f"load average {' '.join(load_before)}", flush=True)
    log = open(work / "child.log", "w")  # noqa: SIM115
    child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    exited: dict = {}
    threading.Thread(target=lambda: exited.setdefault("wall", (child.wait(), time.time())),
                     daemon=True).start()
    proc_samples: list[dict] = []
    parent_events: list[dict] = []
    loads: list[list[float]] = []
    plan = schedule(args.minutes * 60.0)
    acts = [("suspend", plan["suspend"]), ("resume", plan["resume"]),
            ("kill_server", plan["kill_server"]), ("restart_server", plan["restart_server"])]
    t0 = None
    pos = 0
    t_start = time.time()
    limit = args.minutes * 60.0 + 600.0
    try:
        while "wall" not in exited:
            st = _proc_status(child.pid)
            now = time.time()
            if st:
                proc_samples.append({"wall": now, "rss_mb": st[0], "threads": st[1]})
            if len(proc_samples) % 10 == 1:
                loads.append([float(x) for x in Path("/proc/loadavg").read_text().split()[:3]])
            new, pos = _read_events(samples, pos)
            for e in new:
                if e["kind"] == "osc":
                    osc.port = e["port"]
                elif e["kind"] == "live_started" and t0 is None:
                    t0 = e["wall"]
                elif e["kind"] == "sample":
                    osc.live = bool(e.get("live")) and (t0 is None or
                                                        now - t0 < plan["osc_stop"])
            if t0 is not None:
                osc.live = osc.live and now - t0 < plan["osc_stop"]
                while acts and now - t0 >= acts[0][1]:
                    act = acts.pop(0)[0]
                    parent_events.append(_act(server, act))
                    print(f"soak --live: {parent_events[-1]}", flush=True)
            if now - t_start > limit:
                child.kill()
                print("soak --live: the app did not finish in time; killed")
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        raise
    finally:
        osc.stopping.set()
        deadline = time.time() + 30
        while "wall" not in exited and time.time() < deadline:
            time.sleep(0.05)
        if "wall" not in exited:
            child.kill()
            child.wait()
        log.close()
        player.stop()
        osc.join(timeout=5)
        server.stop()
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)
    code, exit_wall = exited.get("wall", (child.returncode, time.time()))
    events, _ = _read_events(samples, 0)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    report = summarise(events, proc_samples, parent_events, code, exit_wall, args, track)
    report["load_average"] = {"before": load_before, "after": load_after,
                              "max_1min": max((x[0] for x in loads), default=None)}
    report["osc_sent"] = dict(osc.sent, total=osc.total())
    report["player"] = {"plays_finished": player.plays, "failed_starts": player.failures}
    report["audio_server_starts"] = server.starts
    report["saved_set"] = check_saved_set(events, track)
    report["log"] = scan_log(work / "sonolume.log", work / "child.log")
    report["child_log_tail"] = (work / "child.log").read_text(errors="replace")[-3000:]
    report["verdict"] = verdict(report)
    out = Path(args.out) if args.out else work / "soak-live.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print_report(report)
    print(f"soak --live: full report {out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report["verdict"]["all_met"] else 1


def _act(server: PulseServer, act: str) -> dict:
    t = time.time()
    if act == "suspend":
        res = server.pactl("suspend-sink", SINK, "1")
        ok = res.returncode == 0
    elif act == "resume":
        res = server.pactl("suspend-sink", SINK, "0")
        ok = res.returncode == 0
    elif act == "kill_server":
        server.kill()
        ok = server.pactl("info").returncode != 0
    else:
        server.start()
        ok = True
    return {"kind": "server", "act": act, "wall": t, "ok": ok}


# --------------------------------------------------------------------------------------
# child side: the app and the performer's hands
# --------------------------------------------------------------------------------------

def child_main(args) -> int:
    from app.stage.glview import configure_gl_format, preload_llvm_users

    preload_llvm_users()
    configure_gl_format()
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    performer = Performer(app, args)  # noqa: F841 - lives as long as the app
    from app.launcher import main as sonolume

    settings = Path(args.workdir) / "settings.ini"
    return sonolume(["app", "--settings", str(settings)])


class Performer:
    """The VJ's hands on the window, on the app's own event loop (see the module notes)."""

    def __init__(self, app, args):
        from PySide6.QtCore import Qt, QTimer

        self.app = app
        self.args = args
        self.duration = args.minutes * 60.0
        self.plan = schedule(self.duration)
        self.samples = open(args.samples, "a", encoding="utf-8")  # noqa: SIM115
        self.w = None
        self.t0 = None  # monotonic time live first started
        self.setup_step = 0
        self.setup_since = time.monotonic()
        self.done: set[str] = set()
        self.closing = False
        self.delays: list[float] = []
        self.last_tick = None
        self.c = {"steps": 0, "blocks": 0, "features": 0, "shown": 0}
        self.draws: deque = deque(maxlen=256)  # (serial, set time, perf) of preview requests
        self.lags: list[float] = []  # stream s between the newest input and the frame shown
        self.render_ms: list[float] = []
        self.last_serial = 0
        self.stream_prev = None  # (analyzer id, stream time, monotonic)
        self.lost_since = None
        self.user_restarts = 0
        self.last_user_restart = -math.inf
        self.saved: dict | None = None
        self.rec_elapsed = None
        self.rec_wall = None
        self.messages: list[str] = []
        self.wait_open_since = None
        self.lag = QTimer()
        self.lag.setTimerType(Qt.TimerType.PreciseTimer)
        self.lag.timeout.connect(self._loop_tick)
        self.lag.start(20)
        self.sec = QTimer()
        self.sec.timeout.connect(self._second)
        self.sec.start(1000)
        app.aboutToQuit.connect(lambda: self.emit("exited", code=0))

    def emit(self, kind: str, **data) -> None:
        self.samples.write(json.dumps({"kind": kind, "wall": time.time(), **data},
                                      default=str) + "\n")
        self.samples.flush()

    def _loop_tick(self) -> None:
        now = time.perf_counter()
        if self.last_tick is not None:
            self.delays.append(max(0.0, (now - self.last_tick) - 0.020) * 1000.0)
        self.last_tick = now

    # -- the window -------------------------------------------------------------------------
    def window(self):
        if self.w is None:
            from app.main import MainWindow

            for w in self.app.topLevelWidgets():
                if isinstance(w, MainWindow):
                    self.w = w
                    self._hook(w)
        return self.w

    def _hook(self, w) -> None:
        """Counters on the app's own signals (nothing in the app changes)."""
        live, stage = w.live_input, w.stage

        def steps(_block, s):
            self.c["blocks"] += 1
            self.c["steps"] += len(s)

        def features(_f):
            self.c["features"] += 1

        live.stepsReady.connect(steps)
        live.featuresReady.connect(features)
        live.errorOccurred.connect(lambda m: self._message("live input", m))
        live.stateChanged.connect(lambda s: self.emit("live_state", state=s, t=self.t()))
        stage.liveSetRecorded.connect(self._set_saved)
        w.statusBar().messageChanged.connect(lambda m: m and self._message("status", m))
        for view in {stage.raster, stage.gl} - {None}:
            view.frameShown.connect(lambda v=view: self._shown(v))

    def _message(self, source: str, text: str) -> None:
        self.emit("message", source=source, text=text, t=self.t())

    def t(self) -> float:
        return round(time.monotonic() - self.t0, 2) if self.t0 is not None else -1.0

    def _stream_now(self):
        """Newest input on the set's clock (seconds), or None."""
        ls = self.w.stage.live_set
        an = self.w.live_input.analyzer
        if ls is None or an is None:
            return None
        return an.time - ls.origin

    def _instrument_draws(self) -> None:
        """Note the set time of each preview request, to see how late it is when shown."""
        stage = self.w.stage
        if getattr(stage, "_soak_wrapped", False):
            return
        real = stage.live_frame

        def live_frame():
            frame = real()
            view = stage.view
            self.draws.append((getattr(view, "_serial", 0) + 1, stage.live_set.now(),
                               time.perf_counter(), stage.live_set.origin))
            return frame

        stage.live_frame = live_frame
        stage._soak_wrapped = True

    def _shown(self, view) -> None:
        self.c["shown"] += 1
        stage = self.w.stage
        if stage.live_set is None or view is not stage.view:
            return
        serial = getattr(view, "_shown", None)
        hit = None
        for d in reversed(self.draws):
            if serial is None or d[0] == serial:
                hit = d
                break
        now = self._stream_now()
        if hit is not None and now is not None and hit[3] == stage.live_set.origin:
            self.lags.append(now - hit[1])
            self.render_ms.append((time.perf_counter() - hit[2]) * 1000.0)

    def _set_saved(self, path: str) -> None:
        self.saved = {"path": path, "t": self.t()}
        self.wait_open_since = time.monotonic()
        self.emit("set_saved", **self.saved, recorded_s=self.rec_elapsed,
                  wall_s=round(time.monotonic() - self.rec_wall, 2) if self.rec_wall else None)

    # -- the run ------------------------------------------------------------------------------
    def _answer_modal(self) -> None:
        """A dialog nobody scripted: note it and answer as a user in a hurry would."""
        from PySide6.QtWidgets import QMessageBox

        m = self.app.activeModalWidget()
        if m is None:
            return
        text = m.text() if isinstance(m, QMessageBox) else ""
        self.emit("modal", title=m.windowTitle(), text=text[:500], t=self.t())
        if isinstance(m, QMessageBox) and \
                m.standardButtons() & QMessageBox.StandardButton.Yes:
            m.done(int(QMessageBox.StandardButton.Yes.value))
        else:
            m.reject()

    def _setup(self, w) -> bool:
        """Style, monitor input, OSC on, Start. True once live runs."""
        from app.live.bar import MONITOR

        bar, cp, stage = w.live_bar, w.control_panel, w.stage
        if self.setup_step == 0:
            styles = [s.id for s in w.library.list()]
            if not styles:
                return False
            w.select_style(styles[0])
            cp.osc_port.setValue(_free_udp_port())
            cp.osc_on.setChecked(True)
            if cp.osc is None:
                self.emit("fatal", why=f"OSC did not start: {cp.osc_status.text()}")
                w.close()
                return False
            self.emit("osc", port=cp.osc.port)
            self.setup_step = 1
            return False
        if self.setup_step == 1:
            if stage.scene is None:
                return False
            bar.device.setCurrentIndex(bar.device.findData(MONITOR))
            bar.start_button.click()
            self.setup_step = 2
            self.setup_since = time.monotonic()
            return False
        if stage.live_active:
            self._instrument_draws()
            return True
        if time.monotonic() - self.setup_since > 20:
            self.emit("fatal", why=f"live did not start: {bar.status.text()}")
            w.close()
        return False

    def _start_live(self, why: str) -> None:
        from app.live.bar import MONITOR

        bar = self.w.live_bar
        if bar.device.currentData() is None:
            bar.device.setCurrentIndex(bar.device.findData(MONITOR))
        if not self.w.stage.live_active:
            bar.start_button.click()
        self.emit("live_start", why=why, ok=self.w.stage.live_active, t=self.t(),
                  status=bar.status.text(), device=bar.device.currentData())
        if self.w.stage.live_active:
            self._instrument_draws()

    def _act(self, name: str, elapsed: float) -> bool:
        if name in self.done or elapsed < self.plan[name]:
            return False
        self.done.add(name)
        return True

    def _second(self) -> None:
        self._answer_modal()
        w = self.window()
        if w is None or self.closing:
            return
        if self.t0 is None:
            if not self._setup(w):
                return
            self.t0 = time.monotonic()
            self.emit("live_started", styles=len(w.library.list()),
                      device=w.live_input.device.id if w.live_input.device else None,
                      preview=w.stage.active_path, plan=self.plan)
            return
        stage, bar, live = w.stage, w.live_bar, w.live_input
        el = time.monotonic() - self.t0
        if self._act("output1_open", el) or self._act("output2_open", el):
            w.output.set_open(True)
            self.emit("output", open=w.output.is_open, t=self.t())
        if self._act("output1_close", el) or self._act("output2_close", el):
            self._output_totals("output_closed")
            w.output.set_open(False)
        if self._act("record_start", el):
            bar.set_name.setText("soak set")
            bar.record.click()
            self.rec_wall = time.monotonic()
            self.emit("record", on=stage.live_recording, t=self.t(), status=bar.status.text())
        if "record_start" in self.done and "record_stop" not in self.done and \
                stage.live_recording:
            self.rec_elapsed = round(stage.live_set.elapsed, 4)
        if self._act("record_stop", el) and stage.live_recording:
            self.rec_elapsed = stage.live_set.elapsed
            t = time.perf_counter()
            bar.record.click()  # stop and save: leaves live, the show opens
            self.emit("record", on=False, t=self.t(), recorded_s=self.rec_elapsed,
                      wall_s=round(time.monotonic() - self.rec_wall, 2),
                      stop_ms=round((time.perf_counter() - t) * 1000.0, 1),
                      live=stage.live_active)
        if self.wait_open_since is not None:
            opened = stage.show_active and stage.scene is not None and \
                stage.scene.live is not None
            waited = time.monotonic() - self.wait_open_since
            if opened or waited > 120:
                self.emit("set_opened", ok=bool(opened), after_s=round(waited, 2),
                          segments=len(stage.scene.segments) if opened else 0, t=self.t())
                self.wait_open_since = None
                self._start_live("after the recorded set opened")
        if self._act("restart_stop", el) and stage.live_active:
            bar.start_button.click()
            self.emit("live_stop", t=self.t(), live=stage.live_active)
        if self._act("restart_start", el):
            self._start_live("restart once")
        # Lost for long: a user clicks Stop and Start (re-exposes the monitor too), unless
        # the app said only a restart of the app helps (then the set plays on, silent).
        if live.state == "lost":
            self.lost_since = self.lost_since or time.monotonic()
            if time.monotonic() - self.lost_since > LOST_PATIENCE_S and \
                    "restarting Sonolume" not in bar.status.text() and \
                    time.monotonic() - self.last_user_restart > 10:
                self.last_user_restart = time.monotonic()
                self.user_restarts += 1
                bar.start_button.click()  # stop
                self._start_live("the input was lost for more than "
                                 f"{LOST_PATIENCE_S:.0f} s")
        else:
            self.lost_since = None
        self._sample(w)
        if el >= self.duration and not self.closing:
            self.closing = True
            self._output_totals("output_closed")
            self.emit("closing", t=self.t(), user_restarts=self.user_restarts,
                      osc=self._osc_counts(), shown=self.c["shown"])
            w.close()

    def _osc_counts(self) -> dict:
        osc = self.w.control_panel.osc
        return {"received": osc.received, "rejected": osc.rejected} if osc else {}

    def _output_totals(self, kind: str) -> None:
        win = self.w.output.window
        if win is not None and win.isVisible():
            v = win.view
            self.emit(kind, t=self.t(), requested=getattr(v, "requested", None),
                      shown=getattr(v, "shown", None), path=win.path,
                      size=list(getattr(v, "shown_size", (0, 0))))

    def _sample(self, w) -> None:
        stage, live = w.stage, w.live_input
        an = live.analyzer
        now = time.monotonic()
        adv = None
        if an is not None:
            key = (id(an), an.time, now)
            if self.stream_prev is not None and self.stream_prev[0] == id(an):
                adv = round(an.time - self.stream_prev[1], 4)
            self.stream_prev = key
        view = stage.view
        serial = getattr(view, "_serial", 0)
        requested = serial - self.last_serial
        self.last_serial = serial
        delays, self.delays = self.delays, []
        lags, self.lags = self.lags, []
        rms, self.render_ms = self.render_ms, []
        c, self.c = self.c, {"steps": 0, "blocks": 0, "features": 0, "shown": 0}
        ls = stage.live_set
        out = w.output.window
        out_open = out is not None and out.isVisible()
        self.emit(
            "sample", t=self.t(), live=stage.live_active, state=live.state,
            recording=stage.live_recording,
            rec_s=round(ls.elapsed, 3) if ls is not None else 0.0,
            fps=round(stage.meter.fps, 2), path=stage.active_path,
            precision=getattr(view, "shown_precision", None),
            size=list(view.render_size if stage.live_active else view.shown_size),
            steps=c["steps"], blocks=c["blocks"], features=c["features"],
            shown=c["shown"], requested=requested,
            stream_adv=adv, stream_t=round(an.time, 3) if an is not None else None,
            step_lag=round(self._stream_now() - ls.now(), 4)
            if ls is not None and self._stream_now() is not None else None,
            lag_p50=round(percentile(lags, 50), 4) if lags else None,
            lag_max=round(max(lags), 4) if lags else None,
            render_p50=round(percentile(rms, 50), 1) if rms else None,
            level=w.live_bar.meter.value(),
            output=out_open,
            out_size=list(out.view.shown_size) if out_open else None,
            out_requested=getattr(out.view, "requested", None) if out_open else None,
            out_shown=getattr(out.view, "shown", None) if out_open else None,
            osc=self._osc_counts(),
            loop_p50=round(percentile(delays, 50), 2),
            loop_p99=round(percentile(delays, 99), 2),
            loop_max=round(max(delays) if delays else 0.0, 2), ticks=len(delays),
            delays=[round(d, 1) for d in delays], lags=[round(x, 3) for x in lags])


def _free_udp_port() -> int:
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------

def audio_skips(recording, source, chunk_s: float = 0.25, step_s: float = 0.5) -> dict:
    """Where a recording of ``source`` (played in a loop) skipped: each ``chunk_s`` of it,
    every ``step_s``, is found in the source by normalised cross-correlation near where it
    should be; a forward jump of that place is audio the capture lost (a sink that starved
    would instead insert silence). Why: the stream clock alone cannot tell lost audio from
    latency; the music itself can."""
    import numpy as np
    import soundfile as sf
    from scipy.signal import fftconvolve

    rec, sr = sf.read(str(recording), dtype="float32", always_2d=True)
    src, sr2 = sf.read(str(source), dtype="float32", always_2d=True)
    if sr != sr2:
        return {"error": f"sample rates differ ({sr} vs {sr2} Hz)"}
    rec, src = rec.mean(axis=1), src.mean(axis=1)
    n, step = int(chunk_s * sr), int(step_s * sr)

    def find(chunk, lo, hi):
        seg = src[max(0, lo): min(len(src), hi)]
        if len(seg) < len(chunk):
            return None, -1.0
        c = fftconvolve(seg, chunk[::-1], mode="valid")
        local = fftconvolve(seg ** 2, np.ones(len(chunk)), mode="valid")
        energy = float((chunk ** 2).sum())
        score = np.where(local > 0.05 * energy,
                         c / np.sqrt(np.maximum(local, 1e-12) * energy), -1.0)
        k = int(np.argmax(score))
        return max(0, lo) + k, float(score[k])

    loud = [p for p in range(0, len(rec) - n, n) if np.sqrt((rec[p:p + n] ** 2).mean()) > 0.05]
    if not loud:
        return {"error": "the recording is silent"}
    p0 = loud[0]
    at, _ = find(rec[p0:p0 + n], 0, len(src))
    skips, checked, unmatched = [], 0, 0
    for p in range(p0 + step, len(rec) - n, step):
        chunk = rec[p:p + n]
        if np.abs(chunk).max() < 1e-3:
            continue
        expected = at + step
        o, q = find(chunk, expected - sr // 2, expected + sr // 2 + n)
        if q < 0.9:  # the track started again (paplay's loop), or a long jump
            o2, q2 = find(chunk, 0, len(src))
            if q2 > q:
                o, q = o2, q2
        checked += 1
        if q < 0.9:
            unmatched += 1
            at = expected
            continue
        jump = (o - expected) / sr
        if 0.0005 < jump < 0.5 * len(src) / sr:
            skips.append([round(p / sr, 2), round(jump * 1000.0, 1)])
        at = o
    lost = sum(ms for _, ms in skips)
    return {"chunks": checked, "unmatched": unmatched, "skips": len(skips),
            "lost_ms": round(lost, 1),
            "lost_percent": round(100 * lost / 1000 / (len(rec) / sr), 3),
            "largest_ms": max((ms for _, ms in skips), default=0.0), "first": skips[:12]}


def check_saved_set(events: list[dict], track: str | None = None) -> dict:
    """The recorded set as a user gets it: the show reads, its audio is as long as the
    app said it recorded."""
    saved = next((e for e in events if e["kind"] == "set_saved"), None)
    if saved is None:
        return {"saved": False}
    import soundfile as sf

    from engine.control.live_set import set_files
    from engine.scene.show import read_show

    show, audio, steps = set_files(saved["path"])
    r: dict = {"saved": True, "path": Path(saved["path"]).name,
               "recorded_s": saved.get("recorded_s"), "record_wall_s": saved.get("wall_s"),
               "steps_file": steps.is_file(), "audio_file": audio.is_file()}
    try:
        s = read_show(show)
        r["show_reads"] = True
        r["show_track_s"] = round(s.track_duration, 4)
        r["segments"] = len(s.segments) if hasattr(s, "segments") else None
    except Exception as exc:  # noqa: BLE001 - reported
        r["show_reads"] = False
        r["show_error"] = str(exc)[:300]
    if audio.is_file():
        info = sf.info(str(audio))
        r["audio_s"] = round(info.frames / info.samplerate, 4)
        r["audio_rate"] = info.samplerate
        if r.get("recorded_s") is not None:
            r["audio_minus_recorded_s"] = round(r["audio_s"] - r["recorded_s"], 4)
    if audio.is_file() and track:
        try:
            r["audio_skips"] = audio_skips(audio, track)
        except Exception as exc:  # noqa: BLE001 - reported
            r["audio_skips"] = {"error": str(exc)[:300]}
    opened = next((e for e in events if e["kind"] == "set_opened"), None)
    r["opened"] = bool(opened and opened["ok"])
    r["opened_after_s"] = opened["after_s"] if opened else None
    return r


def scan_log(*paths: Path) -> dict:
    """Warnings, errors and tracebacks in the app's log and the process's output."""
    out: dict = {"warnings": 0, "errors": 0, "tracebacks": 0, "lines": []}
    seen: set[str] = set()
    for p in paths:
        if not p.exists():
            continue
        for line in p.read_text(errors="replace").splitlines():
            level = ("error" if re.search(r"\b(ERROR|CRITICAL)\b|^Assertion|^Fatal Python",
                                          line) else
                     "warning" if re.search(r"\bWARNING\b|Warning:|^qt\.|QObject::|"
                                            r"^PulseAudioService|^Stream error|"
                                            r"^Connection failure", line)
                     else None)
            if "Traceback" in line:
                out["tracebacks"] += 1
                level = level or "error"
            if level is None:
                continue
            out["warnings" if level == "warning" else "errors"] += 1
            key = re.sub(r"\d+(\.\d+)?", "#", line.split(": ", 1)[-1])[:160]
            if key not in seen and len(out["lines"]) < 40:
                seen.add(key)
                out["lines"].append(f"{p.name}: {line[:300]}")
    return out


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 3:
        return 0.0
    xs = [p[0] / 60.0 for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def _creep(points: list[tuple[float, float]]) -> tuple[float | None, list]:
    """RSS growth per minute leaving out steps (more than 2 MB up or down within 10 s),
    and the steps: a leak creeps with time or with each action, a one-time load (a set
    opened and its audio analysed, the output window's renderers) or a transient (a
    buffer freed again) is a step."""
    pts = [p for i, p in enumerate(points) if i % 10 == 0]
    if len(pts) < 3:
        return None, []
    creep, steps = 0.0, []
    for (t0, m0), (_t1, m1) in zip(pts, pts[1:]):
        if abs(m1 - m0) > 2.0:
            steps.append([round(t0), round(m1 - m0, 1)])
        else:
            creep += m1 - m0
    minutes = (pts[-1][0] - pts[0][0]) / 60.0
    return (round(creep / minutes, 3) if minutes > 0 else None), steps


def _spell(values, digits=1) -> dict:
    if not values:
        return {}
    return {"p50": round(percentile(values, 50), digits),
            "p95": round(percentile(values, 95), digits),
            "max": round(max(values), digits), "min": round(min(values), digits)}


def summarise(events, proc_samples, parent_events, code, exit_wall, args, track) -> dict:
    started = next((e for e in events if e["kind"] == "live_started"), None)
    closing = next((e for e in events if e["kind"] == "closing"), None)
    exited = next((e for e in events if e["kind"] == "exited"), None)
    samples = [e for e in events if e["kind"] == "sample"]
    t0 = started["wall"] if started else (proc_samples[0]["wall"] if proc_samples else 0.0)
    warmup = min(3.0, args.minutes / 3.0) * 60.0
    rss = [(p["wall"] - t0, p["rss_mb"]) for p in proc_samples
           if p["wall"] >= t0 and p["rss_mb"] > 0]
    late = [(t, m) for t, m in rss if t >= warmup]
    t_close = closing["wall"] if closing else math.inf
    threads = [p["threads"] for p in proc_samples if t0 <= p["wall"] < t_close]
    running = [s for s in samples if s["live"] and s["state"] == "running"]
    # Steady: running, not within 5 s of a (re)start, nor from an audio-server act to 10 s
    # after it was undone.
    starts = [e["t"] for e in events if e["kind"] == "live_state" and e["state"] == "running"]
    acts = {e["act"]: e["wall"] - t0 for e in parent_events}
    quiet = [(acts[a], acts.get(b, math.inf) + 10.0) for a, b in
             (("suspend", "resume"), ("kill_server", "restart_server")) if a in acts]
    steady = [s for s in running if s["stream_adv"] is not None
              and not any(0 <= s["t"] - x < 5.0 for x in starts + [0.0])
              and not any(lo <= s["t"] < hi for lo, hi in quiet)]
    delays = [d for s in samples for d in s.get("delays", [])]
    lags = [x for s in samples for x in s.get("lags", [])]
    exit_s = (exit_wall - closing["wall"]) if closing else None
    msgs = [e for e in events if e["kind"] == "message"]

    def phase(lo, hi):
        return [d for s in samples if lo <= s["t"] < hi for d in s.get("delays", [])]

    plan = started["plan"] if started else schedule(args.minutes * 60.0)
    # The recorded set's opening loads the audio analysis (librosa, numba) once: the
    # steady stretch runs from a minute after it to the server kill.
    opened = next((e for e in events if e["kind"] == "set_opened"), None)
    lo = (opened["t"] + 60.0) if opened else warmup
    hi = acts.get("kill_server", math.inf)
    stretch = [(t, m) for t, m in rss if lo <= t < hi]
    live_stretch = {"from_s": round(lo), "to_s": round(min(hi, rss[-1][0])) if rss else None,
                    "mb_per_min": round(_slope(stretch), 3) if len(stretch) > 30 else None}
    rec_delays = phase(plan["record_start"], plan["record_stop"])
    out_delays = phase(plan["output1_open"], plan["output1_close"]) + \
        phase(plan["output2_open"], plan["output2_close"])
    worst = sorted(samples, key=lambda s: -s["loop_max"])[:5]
    r = {
        "track": Path(track).name, "minutes": args.minutes, "exit_code": code,
        "crashed": code not in (0, None) or closing is None,
        "fatal": [e["why"] for e in events if e["kind"] == "fatal"],
        "live_start": {k: started[k] for k in ("device", "preview", "styles")}
        if started else None,
        "rss_mb": {"start": round(rss[0][1], 1) if rss else None,
                   "at_warmup": round(late[0][1], 1) if late else None,
                   "end": round(rss[-1][1], 1) if rss else None,
                   "max": round(max(m for _, m in rss), 1) if rss else None},
        "warmup_min": round(warmup / 60.0, 2),
        "rss_mb_per_min_after_warmup": round(_slope(late), 3) if late else None,
        "rss_mb_per_min_live_stretch": live_stretch,
        "rss_creep_mb_per_min_after_warmup": _creep(late)[0],
        "rss_steps": _creep(rss)[1],
        "rss_series": [[round(t), round(m, 1)] for t, m in rss[::10]],
        "loop_ms": {"p50": round(percentile(delays, 50), 1) if delays else None,
                    "p99": round(percentile(delays, 99), 1) if delays else None,
                    "max": round(max(delays, default=0.0), 1),
                    "p99_while_recording": round(percentile(rec_delays, 99), 1)
                    if rec_delays else None,
                    "p99_output_open": round(percentile(out_delays, 99), 1)
                    if out_delays else None,
                    "worst_seconds": [[s["t"], s["loop_max"]] for s in worst]},
        "fps": {"median": round(statistics.median([s["fps"] for s in running]), 1)
                if running else 0.0,
                "p10": round(percentile([s["fps"] for s in running], 10), 1)},
        "preview": {"path": sorted({s["path"] for s in samples}),
                    "precision": sorted({str(s["precision"]) for s in running}),
                    "width_median": int(statistics.median([s["size"][0] for s in running]))
                    if running else 0,
                    "requested": sum(s["requested"] for s in running),
                    "shown": sum(s["shown"] for s in running)},
        "steady_seconds": len(steady),
        "steps_per_s": _spell([s["steps"] for s in steady]),
        "features_per_s": _spell([s["features"] for s in steady]),
        "blocks_per_s": _spell([s["blocks"] for s in steady]),
        "stream_s_per_wall_s": round(sum(s["stream_adv"] for s in steady)
                                     / max(1, len(steady)), 4) if steady else None,
        "seconds_short_of_audio": sum(1 for s in steady if s["stream_adv"] < 0.9),
        "tap_bpm": [float(m["text"].split()[2]) for m in msgs
                    if m["text"].startswith("tap tempo:")],
        "step_lag_ms": _spell([1000 * s["step_lag"] for s in running
                               if s["step_lag"] is not None]),
        "drawn_lag_ms": _spell([1000 * x for x in lags]),
        "render_ms_p50": _spell([s["render_p50"] for s in running
                                 if s["render_p50"] is not None]),
        "live_seconds": len(running), "lost_seconds": sum(1 for s in samples
                                                          if s["state"] == "lost"),
        "not_live_seconds": sum(1 for s in samples if not s["live"]),
        "output": [e for e in events if e["kind"] == "output_closed"],
        "osc_received": closing["osc"] if closing else None,
        "user_restarts": closing["user_restarts"] if closing else None,
        "threads": {"min": min(threads, default=0), "max": max(threads, default=0),
                    "end": threads[-1] if threads else 0},
        "exit_s": round(exit_s, 2) if exit_s is not None else None,
        "exit_loop_s": round(exited["wall"] - closing["wall"], 2)
        if closing and exited else None,
        "acts": [{k: e.get(k) for k in ("kind", "t", "why", "ok", "on", "recorded_s",
                                         "wall_s", "stop_ms", "after_s", "status", "state")
                  if e.get(k) is not None}
                 for e in events if e["kind"] in ("record", "set_saved", "set_opened",
                                                  "live_start", "live_stop", "live_state",
                                                  "modal")],
        "server": [dict(e, t=round(e["wall"] - t0, 1)) for e in parent_events],
        "messages": [[m["t"], m["source"], m["text"]] for m in msgs][:60],
    }
    r["trouble"] = trouble(samples, parent_events, events, t0)
    return r


def trouble(samples, parent_events, events, t0) -> list[dict]:
    """For each suspend and kill: did the app notice, say so, keep drawing, come back."""
    out = []
    acts = {e["act"]: e["wall"] - t0 for e in parent_events}
    for start, end in (("suspend", "resume"), ("kill_server", "restart_server")):
        if start not in acts:
            continue
        a = acts[start]
        b = acts.get(end, math.inf)
        later = [x for x in acts.values() if x > b]
        msgs = [e for e in events if e["kind"] == "message"
                and a <= e["t"] < min([a + 60.0] + later)]
        lost = next((s["t"] for s in samples if s["t"] >= a and s["state"] == "lost"), None)
        back = next((s["t"] for s in samples if s["t"] >= b and s["live"]
                     and s["state"] == "running" and s["steps"] > 0
                     and (s["stream_adv"] or 0) > 0.5), None)
        during = [s for s in samples if a <= s["t"] < b]
        out.append({
            "event": start, "at_s": round(a, 1), "back_at_s": round(b, 1),
            "lost_after_s": round(lost - a, 1) if lost is not None else None,
            "messages": [m["text"] for m in msgs][:6],
            "fps_while_out": round(statistics.median([s["fps"] for s in during]), 1)
            if during else None,
            "steps_while_out": sum(s["steps"] for s in during),
            "resumed_after_s": round(back - b, 1) if back is not None else None,
        })
    return out


def verdict(r: dict) -> dict:
    s = r["saved_set"]
    met = {
        "no_crash": not r["crashed"] and not r["fatal"],
        "rss": r["rss_mb_per_min_after_warmup"] is not None
        and r["rss_mb_per_min_after_warmup"] < GOALS["rss_mb_per_min"],
        "loop_p99": r["loop_ms"]["p99"] is not None
        and r["loop_ms"]["p99"] < GOALS["loop_p99_ms"],
        "exit": r["exit_s"] is not None and r["exit_s"] < GOALS["exit_s"],
        "set_saved_and_reads": bool(s.get("saved") and s.get("show_reads")
                                    and s.get("audio_minus_recorded_s") is not None
                                    and abs(s["audio_minus_recorded_s"]) < 0.05),
        # a suspended sink comes back by itself; a killed server: no crash, one clear line
        "resumed_after_suspend": all(t["resumed_after_s"] is not None for t in r["trouble"]
                                     if t["event"] == "suspend"),
        "server_loss_said": all(any("audio server" in m or "No audio" in m
                                    for m in t["messages"])
                                for t in r["trouble"] if t["event"] == "kill_server"),
    }
    return {**met, "all_met": all(met.values())}


def print_report(r: dict) -> None:
    v = r["verdict"]
    ok = {True: "ok", False: "MISSED"}
    print(f"live soak: {r['minutes']} min, {r['track']}, exit code {r['exit_code']}, "
          f"crashed {r['crashed']} {r['fatal'] or ''}; load {r['load_average']}")
    print(f"RSS MB {r['rss_mb']}; after {r['warmup_min']} min "
          f"{r['rss_mb_per_min_after_warmup']} MB/min {ok[v['rss']]}; live stretch "
          f"{r['rss_mb_per_min_live_stretch']}; creep without steps "
          f"{r['rss_creep_mb_per_min_after_warmup']} MB/min, steps {r['rss_steps']}")
    print(f"tap tempo heard {r['tap_bpm']} (sent {OscPerformer().tap_bpm:g} BPM)")
    print(f"event loop ms {r['loop_ms']} {ok[v['loop_p99']]}")
    print(f"fps {r['fps']}, preview {r['preview']}, threads {r['threads']}")
    print(f"steps/s {r['steps_per_s']}, features/s {r['features_per_s']}, stream s per wall "
          f"s {r['stream_s_per_wall_s']} ({r['seconds_short_of_audio']} s short)")
    print(f"step lag ms {r['step_lag_ms']}; drawn lag ms {r['drawn_lag_ms']}; render ms "
          f"{r['render_ms_p50']}")
    print(f"live {r['live_seconds']} s, lost {r['lost_seconds']} s, not live "
          f"{r['not_live_seconds']} s, user restarts {r['user_restarts']}")
    print(f"OSC sent {r['osc_sent']}, received {r['osc_received']}")
    print(f"output windows {r['output']}")
    print(f"saved set {r['saved_set']} {ok[v['set_saved_and_reads']]}")
    for t in r["trouble"]:
        print(f"trouble {t}")
    print(f"acts {r['acts']}")
    print(f"log: {r['log']['warnings']} warnings, {r['log']['errors']} errors, "
          f"{r['log']['tracebacks']} tracebacks")
    for line in r["log"]["lines"]:
        print(f"  {line}")
    print(f"exit {r['exit_s']} s after closing ({r['exit_loop_s']} s to the loop's end) "
          f"{ok[v['exit']]}")
