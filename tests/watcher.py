"""The test run's outside observer: a small process that pytest starts (tests/conftest.py)
and tells, test by test, what runs and how long it may take.

Why a separate process: the two ways a test run has ended in CI without a word both leave
the pytest process unable to speak for itself. A C library that exits the process loses
the captured output where it wrote its reason; a deadlock in which a thread holds the GIL
stops every Python-level timer (pytest-timeout's among them), and faulthandler's own
watchdog sees only Python frames, not the C call that blocks. From outside, this process
can still read the capture files, ask faulthandler for every thread's Python stack (a
signal, answered without the GIL), and read the native stacks with py-spy where it is
installed and allowed to attach.

CI shows only the last lines of what a run printed, so each report ends with a short
summary: the test, why the run ended, and the innermost frames of every thread.

Protocol on the pipe, one line each: ``test <seconds> <nodeid>`` (a test starts and may
run that long), ``idle <seconds>`` (between tests), ``bye`` (the run ends normally).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

SUMMARY_LINES = 14  # thread lines in the closing summary (CI shows ~20 lines of the end)
LINE_WIDTH = 200
TAIL_BYTES = 20000


def main(argv: list[str]) -> None:
    pipe, out, pid, dump_path, *captures = argv
    watcher = Watcher(int(pipe), int(out), int(pid), Path(dump_path),
                      [int(fd) for fd in captures])
    watcher.run()


class Watcher:
    def __init__(self, pipe: int, out: int, pid: int, dump_path: Path, captures: list[int]):
        self.pipe, self.out, self.pid = pipe, out, pid
        self.dump_path, self.captures = dump_path, captures
        self.test, self.deadline, self.started = "(before the first test)", None, time.time()
        self.buffer = b""

    def run(self) -> None:
        while True:
            timeout = None if self.deadline is None else max(0.0, self.deadline - time.time())
            ready, _, _ = select.select([self.pipe], [], [], timeout)
            if not ready:
                self.hung()
                return
            data = os.read(self.pipe, 65536)
            if not data:
                self.died()
                return
            self.buffer += data
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if self.handle(line.decode("utf-8", "replace").strip()):
                    return

    def handle(self, line: str) -> bool:
        kind, _, rest = line.partition(" ")
        if kind == "bye":
            return True
        if kind == "test":
            seconds, _, self.test = rest.partition(" ")
            self.started = time.time()
            self.deadline = self.started + float(seconds)
        elif kind == "idle":
            self.test = f"(after {self.test})" if not self.test.startswith("(") else self.test
            self.deadline = time.time() + float(rest)
        return False

    # -- the two endings ---------------------------------------------------------------------
    def hung(self) -> None:
        """The test outran its deadline: every stack, then the process is ended."""
        elapsed = time.time() - self.started
        self.write(f"\n\n*** {self.test} still runs after {elapsed:.0f} s: the run is hung. "
                   "Stacks of every thread follow; then the pytest process is killed. ***\n")
        # py-spy first: it reads the threads as they are, where faulthandler's signal may
        # wake a thread out of an interruptible wait and change the picture.
        native = self.py_spy()
        tasks = self.task_states()
        python_stacks = self.faulthandler_dump()
        self.write("--- Python stacks (faulthandler, innermost first) ---\n"
                   + (python_stacks or "(none: faulthandler did not answer)\n"))
        self.write("--- native and Python stacks (py-spy dump --native) ---\n"
                   + (native or "(py-spy unavailable)\n"))
        self.write("--- threads in the kernel (/proc: name, state, wait channel) ---\n"
                   + "\n".join(tasks) + "\n")
        self.write_captures()
        # Its children go too (an Xvfb or audio server a fixture started would otherwise
        # outlive the run and hold CI's output pipe open); found before the kill, while
        # they are still its descendants.
        children = [p for p in descendants(self.pid) if p != os.getpid()]
        for pid in [self.pid, *children]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        summary = summarize_py_spy(native) if native else []
        if not summary and python_stacks:
            summary = summarize_faulthandler(python_stacks)
        self.write_summary(f"hung for {elapsed:.0f} s (killed by the watcher)",
                           summary or tasks[:SUMMARY_LINES])

    def died(self) -> None:
        """The pipe closed without ``bye``: the process ended mid-run."""
        self.write(f"\n\n*** the pytest process ended abruptly while running {self.test} "
                   "***\n")
        tails = self.write_captures()
        last = [ln for ln in "".join(tails).splitlines() if ln.strip()][-8:]
        self.write_summary("the process ended without finishing (its last lines above)",
                           ["last lines it printed:"] + [clip(ln) for ln in last])

    # -- what the process can still tell -----------------------------------------------------
    def faulthandler_dump(self) -> str:
        try:
            size = self.dump_path.stat().st_size
            os.kill(self.pid, signal.SIGUSR2)
        except OSError:
            return ""
        for _ in range(40):
            time.sleep(0.1)
            try:
                if self.dump_path.stat().st_size > size:
                    time.sleep(0.3)  # let it finish writing every thread
                    break
            except OSError:
                return ""
        try:
            with open(self.dump_path, "rb") as f:
                f.seek(size)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def py_spy(self) -> str:
        exe = shutil.which("py-spy", path=os.pathsep.join(
            [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        if exe is None:
            return ""
        try:
            done = subprocess.run([exe, "dump", "--native", "--pid", str(self.pid)],
                                  capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"(py-spy failed: {exc})\n"
        text = done.stdout
        if done.returncode != 0:
            text += f"(py-spy exited {done.returncode}: {done.stderr.strip()[-600:]})\n"
        return text

    def task_states(self) -> list[str]:
        rows = []
        for task in sorted(Path(f"/proc/{self.pid}/task").glob("*")):
            try:
                comm = (task / "comm").read_text().strip()
                state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
                wchan = (task / "wchan").read_text().strip() or "-"
            except OSError:
                continue
            rows.append(f"  {task.name} {comm!r} {state} {wchan}")
        return rows

    def write_captures(self) -> list[str]:
        tails = []
        for fd in self.captures:
            try:
                size = os.fstat(fd).st_size
                data = os.pread(fd, TAIL_BYTES, max(0, size - TAIL_BYTES))
            except OSError:
                continue
            text = data.decode("utf-8", "replace")
            if text.strip():
                self.write(f"--- what it printed (fd capture, last {len(text)} chars) ---\n"
                           + text + "\n")
                tails.append(text)
        return tails

    def write_summary(self, why: str, lines: list[str]) -> None:
        body = "\n".join(clip("  " + ln.strip()) for ln in lines[:SUMMARY_LINES])
        self.write(f"\n=== test run ended: {clip(self.test, 160)}: {why} ===\n{body}\n")

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        while data:
            try:
                n = os.write(self.out, data)
            except OSError:
                return
            data = data[n:]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), children before grandchildren."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


# -- short summaries of stack dumps ------------------------------------------------------------
_PY_SPY_THREAD = re.compile(r'^Thread (\d+) \(([^)]*)\)(?::\s*"(.*)")?')
_OUR_CODE = ("app/", "engine/", "tests/", "bench/")


def summarize_py_spy(text: str) -> list[str]:
    """One line per thread: name, state (py-spy says which holds the GIL), and the innermost
    frames, the C ones included. The GIL holder and the main thread come first."""
    threads = []
    for block in re.split(r"\n(?=Thread \d+ )", text):
        head, *frames = block.strip().splitlines() or [""]
        m = _PY_SPY_THREAD.match(head)
        if not m:
            continue
        tid, state, name = m.group(1), m.group(2), m.group(3) or ""
        frames = [short_frame(f) for f in frames if f.strip()]
        ours = [f for f in frames if any(p in f for p in _OUR_CODE)]
        named = [f for f in frames if not f.startswith("0x")]  # bare addresses say little
        python = [f for f in frames if ".py:" in f]
        shown = list(dict.fromkeys(named[:2] + python[:1] + ours[:2]))
        rank = (0 if "gil" in state else 1 if name == "MainThread" else 2 if ours else
                3 if "idle" not in state else 4)
        threads.append((rank, f"{name or tid} [{state}]: " + " < ".join(shown)))
    threads.sort(key=lambda t: t[0])
    return [line for _, line in threads]


def short_frame(line: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file.py:12)``; native frames as they are."""
    line = line.strip()
    m = re.match(r"(.*) \((.*)\)$", line)
    if not m:
        return line
    func, where = m.groups()
    parts = where.split("/")
    where = "/".join(parts[-2:]) if len(parts) > 1 else where
    return f"{func} ({where})"


def summarize_faulthandler(text: str) -> list[str]:
    """The same from faulthandler's Python-only dump."""
    rows = []
    for block in re.split(r"\n(?=(?:Current thread|Thread) 0x)", text):
        lines = block.strip().splitlines()
        if not lines or not re.match(r"(Current thread|Thread) 0x", lines[0]):
            continue
        frames = []
        for ln in lines[1:4]:
            m = re.match(r'\s*File "(.*)", line (\d+) in (.*)', ln)
            if m:
                frames.append(f"{m.group(3)} ({'/'.join(m.group(1).split('/')[-2:])}:"
                              f"{m.group(2)})")
        rows.append(lines[0].split(" (most")[0] + ": " + " < ".join(frames))
    return rows


def clip(text: str, width: int = LINE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


if __name__ == "__main__":
    main(sys.argv[1:])
