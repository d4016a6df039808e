"""Live capture under a busy GUI thread: how much audio LiveInput loses, and how long its
Start and Stop hold the GUI thread, for the committed design and the current one.

    .venv/bin/python bench/live_capture.py [--seconds 20] [--stall-ms 150 --every-ms 200]
                                           [--old-rev 41f2b74] [--repeat 1] [--hogs 0]

Why: the live soak found the capture losing 0.3-1.5 % of the audio in skips of 11-170 ms
under load while ``parec`` on the same monitor lost nothing; a set recorded with skips has
audible jumps and reads as a faster tempo. What it runs, once per variant (``old``: the
module ``app/live/audio_input.py`` at ``--old-rev``, loaded from a copy: the capture on the
GUI thread; ``qt``: the working tree's capture thread reading QAudioSource
(``SONOLUME_LIVE_CAPTURE=qt``); ``new``: the working tree's as the app runs it, which reads
a PulseAudio stream of its own where a Pulse server runs):

- a PulseAudio server of its own with a 48 kHz null sink (bench/soak_live.PulseServer);
- ``paplay`` plays a *counter* into the sink: sample ``i`` carries ``i`` in its two int16
  channels (low 16 bits left, high bits + 1 right, so silence reads as "no counter"). The
  server passes int16 at unity volume unchanged, so every sample of a recording names its
  place in the source: a jump of the counter is audio lost, exactly, to the sample;
- in a child process (QtMultimedia binds to the server once per process) LiveInput
  captures the sink's monitor and records it to a float WAV (exact for int16 input), while
  a Qt timer on the GUI thread busy-waits ``--stall-ms`` every ``--every-ms`` (a render, a
  save, a busy machine); ``parec`` records the same monitor at the same time, as the
  reference for what the machine itself allowed;
- Start and Stop: the time inside ``start()``/``stop()`` and the longest gap of a 2 ms
  timer on the GUI thread in the second around each (the GUI-thread stall a user sees).

``--hogs N`` adds N busy processes for the length of each capture (the soak saw the loss
at load average 5-7). Prints one table and writes ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RATE = 48000
OLD_REV = "41f2b74"  # the last commit of app/live/audio_input.py before the capture thread


# -- the signal ------------------------------------------------------------------------------

def counter_wav(path: Path, seconds: float) -> None:
    """Sample i: left = low 16 bits of i (as int16), right = (i >> 16) + 1."""
    import numpy as np
    import soundfile as sf

    i = np.arange(int(seconds * RATE), dtype=np.int64)
    left = ((i & 0xFFFF) - 32768).astype(np.int16)
    right = ((i >> 16) + 1).astype(np.int16)
    sf.write(str(path), np.stack([left, right], axis=1), RATE, subtype="PCM_16")


def counter_gaps(samples) -> dict:
    """Lost audio in a recording of :func:`counter_wav`: ``samples`` int16-valued (n, 2).
    Silence (right channel 0: before playback, or the sink starving) is skipped; a counter
    that jumps forward by k + 1 lost k samples."""
    import numpy as np

    s = np.asarray(samples, np.int64)
    have = s[:, 1] > 0
    c = ((s[have, 1] - 1) << 16) | (s[have, 0] + 32768)
    if c.size < 2:
        return {"error": "no counter in the recording (nothing captured?)"}
    d = np.diff(c)
    jumps = d[d > 1] - 1
    odd = int(np.sum(d < 1))  # repeats or steps back: would mean a broken path
    span = int(c[-1] - c[0] + 1)
    lost = int(jumps.sum())
    return {"captured_s": round(c.size / RATE, 3), "span_s": round(span / RATE, 3),
            "gaps": int(jumps.size), "lost_ms": round(1000.0 * lost / RATE, 1),
            "lost_percent": round(100.0 * lost / max(span, 1), 3),
            "largest_ms": round(1000.0 * int(jumps.max() if jumps.size else 0) / RATE, 1),
            "not_forward": odd}


def read_counter_wav(path: Path):
    import numpy as np
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != RATE or y.shape[1] != 2:
        raise SystemExit(f"{path}: {sr} Hz, {y.shape[1]} channel(s); expected {RATE} Hz stereo")
    return np.rint(y.astype(np.float64) * 32768.0).astype(np.int64)


def read_counter_raw(path: Path):
    import numpy as np

    a = np.frombuffer(Path(path).read_bytes(), dtype="<i2")
    return a[: a.size - a.size % 2].reshape(-1, 2).astype(np.int64)


# -- the parent ------------------------------------------------------------------------------

def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def old_module(rev: str, folder: Path) -> Path:
    src = subprocess.run(["git", "show", f"{rev}:app/live/audio_input.py"], cwd=ROOT,
                         capture_output=True, text=True)
    if src.returncode != 0:
        raise SystemExit(f"cannot read app/live/audio_input.py at {rev}: {src.stderr.strip()}")
    path = folder / f"audio_input_{rev}.py"
    path.write_text(src.stdout)
    return path


def hog() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run_variant(name: str, module: str, server, wav: Path, work: Path, args,
                capture: str = "auto") -> dict:
    env = dict(os.environ, **server.env, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               SONOLUME_LIVE_CAPTURE=capture)
    out = work / f"{name}.json"
    rec = work / f"{name}.wav"
    raw = work / f"{name}.parec.raw"
    hogs = [hog() for _ in range(args.hogs)]
    load0 = _loadavg()
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", module, str(wav), str(rec), str(raw),
             str(out), str(args.seconds), str(args.stall_ms), str(args.every_ms)],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=args.seconds + 120)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    r = json.loads(out.read_text()) if out.exists() else {}
    r["load"] = f"{load0} -> {_loadavg()}"
    if proc.returncode != 0 or "error" in r:
        r.setdefault("error", f"child exit {proc.returncode}: {proc.stderr[-2000:]}")
        return r
    r["capture"] = counter_gaps(read_counter_wav(rec))
    r["parec"] = counter_gaps(read_counter_raw(raw)) if raw.exists() else {"error": "no parec"}
    return r


def parent_main(args) -> int:
    from bench.soak_live import PulseServer

    work = Path(tempfile.mkdtemp(prefix="sonolume-capture-"))
    wav = work / "counter.wav"
    counter_wav(wav, args.seconds + 15.0)
    old = old_module(args.old_rev, work)
    server = PulseServer(work / "pulse")
    server.start()
    results = []
    try:
        for k in range(args.repeat):
            for name, module, capture in (("old", str(old), "auto"),
                                          ("qt", "app.live.audio_input", "qt"),
                                          ("new", "app.live.audio_input", "auto")):
                if name not in args.variants.split(","):
                    continue
                r = run_variant(f"{name}{k}", module, server, wav, work, args, capture)
                r["variant"] = name
                results.append(r)
                print(json.dumps(r), flush=True)
    finally:
        server.stop()
    print()
    print(f"GUI thread busy {args.stall_ms} ms every {args.every_ms} ms, {args.seconds:.0f} s "
          f"per run, {args.hogs} hog process(es); old = {args.old_rev}")
    print("| variant | load before -> after | captured s | gaps | lost ms (%) | largest ms | "
          "parec gaps / lost ms | start call / GUI stall ms | stop call / GUI stall ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        c, p = r.get("capture", {}), r.get("parec", {})
        if "error" in r or "error" in c:
            print(f"| {r['variant']} | {r['load']} | error: {r.get('error') or c.get('error')} |")
            continue
        print(f"| {r['variant']} | {r['load']} | {c['captured_s']} | {c['gaps']} | "
              f"{c['lost_ms']} ({c['lost_percent']} %) | {c['largest_ms']} | "
              f"{p.get('gaps', '?')} / {p.get('lost_ms', '?')} | "
              f"{r['start_call_ms']:.0f} / {r['start_stall_ms']:.0f} | "
              f"{r['stop_call_ms']:.0f} / {r['stop_stall_ms']:.0f} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "runs": results}, indent=1))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


# -- the child: the app's side ---------------------------------------------------------------

def _load_live_input(module: str):
    if module.endswith(".py"):
        import importlib.util

        spec = importlib.util.spec_from_file_location("old_audio_input", module)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
        return mod.LiveInput
    import importlib

    return importlib.import_module(module).LiveInput


def child_main(module, wav, rec, raw, out, seconds, stall_ms, every_ms) -> int:
    from PySide6.QtCore import QCoreApplication, QTimer

    app = QCoreApplication([sys.argv[0]])
    LiveInput = _load_live_input(module)
    live = LiveInput(fps=30.0)
    r: dict = {"messages": []}
    live.errorOccurred.connect(r["messages"].append)
    seconds, stall_s, every = float(seconds), float(stall_ms) / 1000, int(every_ms)
    procs = []
    ticks = []
    probe = QTimer()
    probe.setInterval(2)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def run_for(s):
        end = time.monotonic() + s
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.001)

    def stall_around(call):
        """(ms inside call(), longest GUI event-loop gap in the second around it)."""
        ticks.clear()
        probe.start()
        run_for(0.3)
        t0 = time.perf_counter()
        call()
        t1 = time.perf_counter()
        run_for(1.0)
        probe.stop()
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        return 1000 * (t1 - t0), 1000 * max(gaps, default=t1 - t0)

    try:
        dev = live.expose_monitor()
        end = time.monotonic() + 5
        while time.monotonic() < end and not any(d.id == dev for d in live.devices()):
            run_for(0.05)
        ok = []
        r["start_call_ms"], r["start_stall_ms"] = stall_around(lambda: ok.append(live.start(dev)))
        if not ok[0]:
            raise RuntimeError(f"start failed: {r['messages']}")
        end = time.monotonic() + 8  # PulseAudio takes 1-2 s to start a stream when busy
        while time.monotonic() < end and live.stream_time() <= 0:
            run_for(0.05)
        if live.start_recording(rec) is None:
            raise RuntimeError(f"cannot record: {r['messages']}")
        procs.append(subprocess.Popen(
            ["parec", "--device=sonolume_monitor", "--format=s16le", f"--rate={RATE}",
             "--channels=2", "--raw", raw]))
        time.sleep(0.3)
        procs.append(subprocess.Popen(["paplay", "--device=soak_null", wav]))

        def busy():
            end = time.perf_counter() + stall_s
            while time.perf_counter() < end:
                pass

        load = QTimer()
        load.setInterval(every)
        load.timeout.connect(busy)
        load.start()
        run_for(seconds)
        load.stop()
        run_for(0.3)
        live.stop_recording()
        r["stream_s"] = live.stream_time()
        r["stop_call_ms"], r["stop_stall_ms"] = stall_around(live.stop)
        live.shutdown()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        r["error"] = repr(exc)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=5)
        Path(out).write_text(json.dumps(r))
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child_main(*argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--stall-ms", type=float, default=150.0)
    ap.add_argument("--every-ms", type=int, default=200)
    ap.add_argument("--old-rev", default=OLD_REV)
    ap.add_argument("--variants", default="old,qt,new",
                    help="old: the module at --old-rev; qt: the capture thread reading "
                         "QAudioSource; new: the capture thread as the app runs it (a "
                         "PulseAudio stream of its own where there is a Pulse server)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--hogs", type=int, default=0)
    ap.add_argument("--out", default="")
    ap.add_argument("--keep", action="store_true")
    return parent_main(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
