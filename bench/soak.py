"""Soak run: the real window plays a real track for many minutes while a scripted user
switches styles, seeks, changes the reactivity preset and opens the export dialog.

    .venv/bin/python bench/soak.py [--minutes 10] [--track SONG.ogg] [--no-readme]
    .venv/bin/python bench/soak.py --live [--minutes 10] [--keep]   # a live set (soak_live.py)

Why: a binding bug that aborted the app 25 s into playback passed every short test. This
is the check that runs as long as a user does. The app runs in a child process through
``app.launcher.main(["app", TRACK])`` (what ``sonolume app TRACK`` runs) on an X display
(an Xvfb of its own when none is set). The child drives itself on the Qt event loop:

- every 2 s the next style in the library; every 15 s a seek (5 s back, then 5 s forward,
  so the track still reaches its end); every 30 s the next reactivity preset; every minute
  the export dialog opens and closes, and the first time it runs one short export;
- when the track ends it starts again from the top (the run counts the ends reached);
- once a second it records the preview's frame rate and internal size and the event-loop
  delay (a 20 ms timer's lateness: p50 / p99 / max over that second).

The parent records the child's RSS and thread count once a second from /proc, and after
the last minute measures how long the process takes to exit once the window is closed.
Goals (issue 9): no crash; RSS growth < 1 MB/min after the first 3 minutes; event-loop
p99 < 50 ms; exit within 2 s of closing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REAL_TRACKS = [  # Debian's singularity-music (CC BY-SA): ~5-minute real songs
    "/usr/share/games/singularity/music/By-Product.ogg",
    "/usr/share/games/singularity/music/Aberrations.ogg",
]
GOALS = {"rss_mb_per_min": 1.0, "loop_p99_ms": 50.0, "exit_s": 2.0}
WARMUP_MIN = 3.0


# --------------------------------------------------------------------------------------
# child: the app and the scripted user
# --------------------------------------------------------------------------------------

def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[k]


def child_main(args) -> int:
    from app.stage.glview import configure_gl_format, preload_llvm_users

    preload_llvm_users()
    configure_gl_format()
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    samples = open(args.samples, "a", encoding="utf-8")  # noqa: SIM115 - lives with the app

    def emit(kind: str, **data) -> None:
        samples.write(json.dumps({"kind": kind, "wall": time.time(), **data}) + "\n")
        samples.flush()

    state = {"window": None, "t0": None, "step": 0, "ends": 0, "styles": [],
             "presets": 0, "dialogs": 0, "seeks": 0, "style_switches": 0, "export": None,
             "closing": False, "last_tick": None, "delays": [], "last_pos": 0.0,
             "seek_dir": -1}
    duration_s = args.minutes * 60.0

    def window():
        if state["window"] is None:
            from app.main import MainWindow

            for w in app.topLevelWidgets():
                if isinstance(w, MainWindow):
                    state["window"] = w
        return state["window"]

    def loop_tick() -> None:  # event-loop lateness, 20 ms nominal
        now = time.perf_counter()
        if state["last_tick"] is not None:
            state["delays"].append(max(0.0, (now - state["last_tick"]) - 0.020) * 1000.0)
        state["last_tick"] = now

    lag = QTimer()
    lag.setTimerType(Qt.TimerType.PreciseTimer)
    lag.timeout.connect(loop_tick)
    lag.start(20)

    def start_playing(w) -> None:
        stage = w.stage
        if not stage.playing:
            stage.play()

    def export_once(w) -> None:
        dlg = w.export_dialog
        out = Path(args.workdir) / "soak-export.mp4"
        dlg.target.setText(str(out))
        dlg.part.setChecked(True)
        dlg.length.setValue(3.0)
        dlg.size.setCurrentIndex(dlg.size.count() - 1)  # custom size
        dlg.width_box.setValue(320)
        dlg.height_box.setValue(180)
        t = time.perf_counter()
        worker = dlg.start_export()
        state["export"] = {"started": True}

        def finished(*_):
            res = dlg.result
            state["export"] = {
                "ok": res is not None, "seconds": round(time.perf_counter() - t, 2),
                "file_bytes": out.stat().st_size if out.exists() else 0,
                "frames": getattr(res, "frames", 0)}
            emit("export", **state["export"])
            dlg.close()
            start_playing(w)

        worker.on(done=finished)

    def second() -> None:
        w = window()
        if w is None:
            return
        stage = w.stage
        if stage.features is None:  # run_app loads the track given on its command line
            return
        if state["t0"] is None:  # track analysed: the run starts now
            state["t0"] = time.monotonic()
            state["styles"] = [s.id for s in w.library.list()]
            w.select_style(state["styles"][0])
            start_playing(w)
            emit("start", duration=float(stage.features.duration),
                 styles=len(state["styles"]))
        elapsed = time.monotonic() - state["t0"]
        k = state["step"] = state["step"] + 1
        dlg = w.export_dialog
        dialog_open = dlg is not None and dlg.isVisible()
        if not dialog_open:
            pos = stage.current_time()
            if not stage.playing and pos >= stage.features.duration - 0.5:
                state["ends"] += 1
                emit("end", position=pos)
                stage.seek(0.0)
            if not stage.playing:
                start_playing(w)
            if k % 2 == 0 and state["styles"]:
                state["style_switches"] += 1
                w.select_style(state["styles"][state["style_switches"] % len(state["styles"])])
            if k % 15 == 0:
                state["seeks"] += 1
                state["seek_dir"] *= -1
                target = min(max(0.0, pos + 5.0 * state["seek_dir"]),
                             stage.features.duration - 1.0)
                stage.seek(target)
            if k % 30 == 0:
                combo = w.reactivity_panel.preset
                state["presets"] += 1
                combo.setCurrentIndex(state["presets"] % combo.count())
            if k % 60 == 0:
                state["dialogs"] += 1
                w.open_export()
                if state["export"] is None:
                    export_once(w)
                else:
                    QTimer.singleShot(1000, lambda: (w.export_dialog.close(),
                                                     start_playing(w)))
        view = stage.view
        size = view.render_size if stage.playing else view.shown_size
        delays, state["delays"] = state["delays"], []
        emit("sample", t=round(elapsed, 2), fps=round(stage.meter.fps, 2),
             size=list(size), playing=stage.playing, position=round(stage.current_time(), 2),
             loop_p50=round(_percentile(delays, 50), 2),
             loop_p99=round(_percentile(delays, 99), 2),
             loop_max=round(max(delays) if delays else 0.0, 2), ticks=len(delays),
             delays=[round(d, 1) for d in delays])
        if elapsed >= duration_s and not state["closing"]:
            state["closing"] = True
            if w.export_dialog is not None and w.export_dialog.isVisible():
                w.export_dialog.close()
            emit("closing", ends=state["ends"], seeks=state["seeks"],
                 style_switches=state["style_switches"], presets=state["presets"],
                 dialogs=state["dialogs"], export=state["export"])
            w.close()

    sec = QTimer()
    sec.timeout.connect(second)
    sec.start(1000)
    # The event loop's end is recorded; then the process ends as `sonolume app` does.
    app.aboutToQuit.connect(lambda: emit("exited", code=0))
    from app.launcher import main as sonolume

    return sonolume(["app", args.track, "--settings", str(Path(args.workdir) / "settings.ini")])


# --------------------------------------------------------------------------------------
# parent: display, process, /proc sampling, report
# --------------------------------------------------------------------------------------

def _proc_status(pid: int) -> tuple[float, int] | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    rss = threads = 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024.0
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss, threads


def _start_xvfb() -> tuple[subprocess.Popen | None, str]:
    if not shutil.which("Xvfb"):
        raise SystemExit("soak: no DISPLAY and no Xvfb (apt-get install xvfb)")
    for n in range(91, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1600x1000x24",
                                     "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            for _ in range(100):
                if Path(f"/tmp/.X11-unix/X{n}").exists():
                    return proc, f":{n}"
                time.sleep(0.05)
            proc.kill()
    raise SystemExit("soak: could not start Xvfb")


def _slope_mb_per_min(points: list[tuple[float, float]]) -> float:
    if len(points) < 3:
        return 0.0
    xs = [p[0] / 60.0 for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def pick_track(track: str | None, who: str = "soak") -> str:
    """The given track, else the first real ~5-minute song installed, else the demo."""
    track = track or next((t for t in REAL_TRACKS if Path(t).is_file()), None)
    if track is None:
        track = str(ROOT / "resources" / "audio" / "demo.ogg")
        print(f"{who}: no real track found ({REAL_TRACKS[0]}: apt-get install "
              f"singularity-music); using the demo track, looped")
    return track


def parent_main(args) -> int:
    track = pick_track(args.track)
    work = Path(tempfile.mkdtemp(prefix="sonolume-soak-"))
    samples = work / "samples.jsonl"
    env = dict(os.environ)
    xvfb = None
    if not env.get("DISPLAY") or args.xvfb:
        xvfb, env["DISPLAY"] = _start_xvfb()
    env["QT_QPA_PLATFORM"] = "xcb"
    for var, sub in (("SONOLUME_LIBRARY", "library"), ("SONOLUME_LOG", "sonolume.log"),
                     ("SONOLUME_RUNS", "runs")):
        env[var] = str(work / sub)
    env.setdefault("HF_HUB_OFFLINE", "1")
    if args.preview:
        env["SONOLUME_PREVIEW"] = args.preview
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--track", track,
           "--minutes", str(args.minutes), "--samples", str(samples), "--workdir", str(work)]
    print(f"soak: {args.minutes:g} min of {Path(track).name} on {env['DISPLAY']}; "
          f"work folder {work}", flush=True)
    log = open(work / "child.log", "w")  # noqa: SIM115
    child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    exited = {}
    threading.Thread(target=lambda: exited.setdefault("wall", (child.wait(), time.time())),
                     daemon=True).start()
    proc_samples: list[dict] = []
    t_start = time.time()
    limit = args.minutes * 60.0 + 600.0  # analysis of a long track, export, shutdown
    try:
        while "wall" not in exited:
            st = _proc_status(child.pid)
            if st:
                proc_samples.append({"wall": time.time(), "rss_mb": st[0], "threads": st[1]})
            if time.time() - t_start > limit:
                child.kill()
                print("soak: child did not finish in time; killed")
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        raise
    finally:
        deadline = time.time() + 30
        while "wall" not in exited and time.time() < deadline:
            time.sleep(0.05)
        if "wall" not in exited:
            child.kill()
            child.wait()
        log.close()
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)
    code, exit_wall = exited.get("wall", (child.returncode, time.time()))
    events = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()] \
        if samples.exists() else []
    report = summarise(events, proc_samples, code, exit_wall, args, track)
    report["child_log_tail"] = (work / "child.log").read_text(errors="replace")[-3000:]
    out = Path(args.out) if args.out else work / "soak.json"
    out.write_text(json.dumps(report, indent=2))
    print_report(report)
    print(f"soak: full report {out}")
    if not args.no_readme:
        with open(ROOT / "bench" / "README.md", "a", encoding="utf-8") as f:
            f.write("\n" + readme_table(report) + "\n")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report["verdict"]["all_met"] else 1


def summarise(events, proc_samples, code, exit_wall, args, track) -> dict:
    start = next((e for e in events if e["kind"] == "start"), None)
    closing = next((e for e in events if e["kind"] == "closing"), None)
    samples = [e for e in events if e["kind"] == "sample"]
    t0 = start["wall"] if start else (proc_samples[0]["wall"] if proc_samples else 0.0)
    rss = [(p["wall"] - t0, p["rss_mb"]) for p in proc_samples
           if p["wall"] >= t0 and p["rss_mb"] > 0]  # 0: the process was already ending
    late = [(t, r) for t, r in rss if t >= WARMUP_MIN * 60.0]
    playing = [s for s in samples if s["playing"]]
    delays = [d for s in samples for d in s.get("delays", [])]
    t_close = closing["wall"] if closing else float("inf")
    threads = [p["threads"] for p in proc_samples if t0 <= p["wall"] < t_close]
    exit_s = (exit_wall - closing["wall"]) if closing else None
    exited = next((e for e in events if e["kind"] == "exited"), None)
    loop_s = (exited["wall"] - closing["wall"]) if closing and exited else None
    r = {
        "track": Path(track).name,
        "track_seconds": start["duration"] if start else None,
        "minutes": args.minutes,
        "exit_code": code,
        "crashed": code not in (0, None) or closing is None,
        "ends_reached": closing["ends"] if closing else 0,
        "actions": {k: closing[k] for k in ("style_switches", "seeks", "presets", "dialogs")}
        if closing else {},
        "export": closing["export"] if closing else None,
        "rss_mb": {"start": round(rss[0][1], 1) if rss else None,
                   "at_warmup": round(late[0][1], 1) if late else None,
                   "end": round(rss[-1][1], 1) if rss else None,
                   "max": round(max(r_ for _, r_ in rss), 1) if rss else None},
        "rss_mb_per_min_after_warmup": round(_slope_mb_per_min(late), 3) if late else None,
        "rss_series": [[round(t), round(m, 1)] for t, m in rss[::10]],  # every 10 s
        "fps": {"median": round(statistics.median([s["fps"] for s in playing]), 1)
                if playing else 0.0,
                "p10": round(_percentile([s["fps"] for s in playing], 10), 1)},
        "internal_size": {"median_width": int(statistics.median(
            [s["size"][0] for s in playing])) if playing else 0,
            "min_width": min((s["size"][0] for s in playing), default=0),
            "max_width": max((s["size"][0] for s in playing), default=0)},
        "loop_ms": {"p50": round(_percentile(delays, 50), 1) if delays else None,
                    "p99": round(_percentile(delays, 99), 1) if delays else None,
                    "max": round(max(delays, default=0.0), 1),
                    "worst_second_p99": round(max((s["loop_p99"] for s in samples),
                                                  default=0.0), 1)},
        "threads": {"min": min(threads, default=0), "max": max(threads, default=0),
                    "end": threads[-1] if threads else 0},
        "exit_s": round(exit_s, 2) if exit_s is not None else None,
        "exit_loop_s": round(loop_s, 2) if loop_s is not None else None,
    }
    met = {
        "no_crash": not r["crashed"],
        "rss": r["rss_mb_per_min_after_warmup"] is not None
        and r["rss_mb_per_min_after_warmup"] < GOALS["rss_mb_per_min"],
        "loop_p99": r["loop_ms"]["p99"] is not None
        and r["loop_ms"]["p99"] < GOALS["loop_p99_ms"],
        "exit": r["exit_s"] is not None and r["exit_s"] < GOALS["exit_s"],
    }
    r["verdict"] = {**met, "all_met": all(met.values())}
    return r


def print_report(r: dict) -> None:
    v = r["verdict"]
    print(f"track {r['track']} ({r['track_seconds']} s), {r['minutes']} min, "
          f"exit code {r['exit_code']}, ends reached {r['ends_reached']}, "
          f"actions {r['actions']}")
    print(f"export: {r['export']}")
    print(f"RSS MB {r['rss_mb']}; growth after {WARMUP_MIN:g} min "
          f"{r['rss_mb_per_min_after_warmup']} MB/min (goal < {GOALS['rss_mb_per_min']}) "
          f"{'ok' if v['rss'] else 'MISSED'}")
    print(f"event loop ms {r['loop_ms']} (goal p99 < {GOALS['loop_p99_ms']}) "
          f"{'ok' if v['loop_p99'] else 'MISSED'}")
    print(f"preview fps {r['fps']}, internal size {r['internal_size']}, threads "
          f"{r['threads']}")
    print(f"exit {r['exit_s']} s after closing ({r['exit_loop_s']} s until the event loop "
          f"returned; goal < {GOALS['exit_s']}) "
          f"{'ok' if v['exit'] else 'MISSED'}; crashed: {r['crashed']}")


def readme_table(r: dict) -> str:
    v = r["verdict"]
    import platform

    ok = {True: "met", False: "**missed**"}
    return "\n".join([
        f"### Soak ({time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores): {r['minutes']:g} min, {r['track']} "
        f"({r['track_seconds']:.0f} s, ends reached {r['ends_reached']})",
        "",
        "| measure | value | goal | |",
        "|---|---|---|---|",
        f"| crash | {'yes' if r['crashed'] else 'none'} (exit code {r['exit_code']}) | none "
        f"| {ok[v['no_crash']]} |",
        f"| RSS start / at 3 min / end / max | {r['rss_mb']['start']} / "
        f"{r['rss_mb']['at_warmup']} / {r['rss_mb']['end']} / {r['rss_mb']['max']} MB | | |",
        f"| RSS growth after 3 min | {r['rss_mb_per_min_after_warmup']} MB/min | < 1 "
        f"| {ok[v['rss']]} |",
        f"| event-loop delay p50 / p99 / max | {r['loop_ms']['p50']} / {r['loop_ms']['p99']} "
        f"/ {r['loop_ms']['max']} ms | p99 < 50 | {ok[v['loop_p99']]} |",
        f"| preview fps median / p10 | {r['fps']['median']} / {r['fps']['p10']} | | |",
        f"| preview internal width median (min-max) | {r['internal_size']['median_width']} "
        f"({r['internal_size']['min_width']}-{r['internal_size']['max_width']}) | | |",
        f"| threads min / max / end | {r['threads']['min']} / {r['threads']['max']} / "
        f"{r['threads']['end']} | | |",
        f"| exit after closing | {r['exit_s']} s | < 2 | {ok[v['exit']]} |",
        f"| actions | {r['actions']}; export {r['export']} | | |",
    ])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--track", help="audio file (default: a Debian singularity-music song)")
    ap.add_argument("--preview", choices=["auto", "gl", "torch"],
                    help="force the preview path (default: the app's own choice)")
    ap.add_argument("--xvfb", action="store_true", help="use a new Xvfb even if DISPLAY is set")
    ap.add_argument("--live", action="store_true",
                    help="the live scenario: a private PulseAudio server plays the track into "
                         "a null sink, the app captures its monitor, OSC drives it "
                         "(bench/soak_live.py)")
    ap.add_argument("--out", help="write the JSON report here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--no-readme", action="store_true", help="do not append to bench/README.md")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--samples", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.live:
        from bench import soak_live

        return soak_live.child_main(args) if args.child else soak_live.parent_main(args)
    if args.child:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
