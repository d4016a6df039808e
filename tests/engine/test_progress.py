"""engine.progress: a bar that is live on a terminal and a few lines in a log."""

import io
import time

from engine.progress import is_terminal, progress_bar


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_many_fast_steps_in_a_log_write_two_lines():
    log = io.StringIO()
    bar = progress_bar(10_000, desc="work", file=log)
    for i in range(10_000):
        bar.set_postfix({"loss": i}, refresh=False)
        bar.update(1)
    bar.close()
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 2, lines  # the start and the end
    assert lines[0].startswith("work:   0%") and "10000/10000" in lines[-1]


def test_slow_steps_in_a_log_write_about_one_line_per_interval():
    log = io.StringIO()
    bar = progress_bar(40, desc="slow", file=log, log_interval=0.1)
    start = time.monotonic()
    for _ in range(40):
        time.sleep(0.01)
        bar.update(1)
    bar.close()
    elapsed = time.monotonic() - start
    lines = log.getvalue().splitlines()
    # one per 0.1 s at most, plus the first and the last, never the same line twice
    assert 3 <= len(lines) <= elapsed / 0.1 + 2, lines
    assert len(set(lines)) == len(lines)


def test_a_terminal_gets_a_live_bar():
    term = FakeTerminal()
    assert is_terminal(term) and not is_terminal(io.StringIO())
    bar = progress_bar(5, desc="live", file=term, mininterval=0)
    for _ in range(5):
        bar.update(1)
    bar.close()
    assert term.getvalue().count("\r") >= 5  # redrawn in place


def test_a_closed_stream_is_not_a_terminal():
    s = io.StringIO()
    s.close()
    assert not is_terminal(s)
