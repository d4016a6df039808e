"""The headless sub-commands of ``sonolume`` (app/launcher.py opens the GUI instead when
there are no arguments, so the engine never imports the app).

Every failure a user can cause ends as one line on stderr and a non-zero exit status;
Ctrl-C ends long work cleanly with status 130.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import engine.cli as cli_pkg
from engine import __version__
from engine.errors import Cancelled, SonolumeError

EXIT_ERROR = 2
EXIT_CANCELLED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sonolume",
        description="Audio-reactive visuals from CLIP-trained CPPN styles. "
        "Run without arguments to open the app.",
        epilog="Run 'sonolume' with no arguments, or 'sonolume app [TRACK] [--style NAME]', "
        "to open the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"sonolume {__version__}")
    parser.add_argument(
        "--library",
        metavar="DIR",
        help="user style library folder (default: $SONOLUME_LIBRARY or the platform's "
        "user data folder)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name in ("main", "common"):
            continue
        module = importlib.import_module(f"engine.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        result = args.func(args)
    except Cancelled as exc:
        print(f"sonolume: cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        print("sonolume: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except SonolumeError as exc:
        print(f"sonolume: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return 0
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
