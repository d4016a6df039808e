"""The ``sonolume`` console script: the GUI with no arguments, the headless CLI else.

Kept free of Qt imports so ``sonolume train ...`` starts fast and works where no display
or Qt libraries exist."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] == "app":
        try:
            from app.main import run_app
        except ImportError as exc:
            print(f"sonolume: error: the desktop app cannot start: {exc}", file=sys.stderr)
            return 2
        return leave(run_app(argv[1:]))
    from engine.cli.main import main as cli_main

    return cli_main(argv)


def leave(code: int) -> int:
    """End the GUI process at once, once the window is closed.

    By then the window has saved its settings and layout, stopped playback and cancelled
    (and waited for) every worker, and every file we write is atomic. What is left is the
    interpreter's own teardown: a full garbage collection over a heap of torch, Qt and
    numba objects that took 2-4 s (soak: exit 2.7 s after closing, all of it in
    ``gc_collect_main``). Logs and standard streams are flushed first."""
    import logging
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
