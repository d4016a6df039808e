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
        return run_app(argv[1:])
    from engine.cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
