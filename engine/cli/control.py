"""``sonolume control``: the live controls from a script or a terminal.

``list`` prints every control with its OSC address; ``send`` delivers one move to a running
app over OSC (what a phone app or a lighting desk does), after checking it the way the app
will, so a typo is an error here and not a silent log line there.
"""

from __future__ import annotations

import sys

from engine.errors import SonolumeError


def _address(name: str) -> str:
    from engine.control.osc import PREFIX

    if name.startswith(("amount.", "style.", "transition.")):
        return f"{PREFIX}/{name.replace('.', '/', 1)}"
    return f"{PREFIX}/{name}"


def register(sub) -> None:
    from engine.control import DEFAULT_HOST, DEFAULT_PORT

    p = sub.add_parser("control", help="live controls: list them, send one to the app over "
                       "OSC")
    q = p.add_subparsers(dest="control_command", metavar="ACTION")
    lst = q.add_parser("list", help="every control, its OSC address and range")
    lst.set_defaults(func=run_list)
    snd = q.add_parser("send", help="send one control move to a running app (OSC/UDP)",
                       description="e.g. 'sonolume control send hue 0.25', 'sonolume "
                       "control send style.next', 'sonolume control send "
                       "transition.crossfade 4'")
    snd.add_argument("control", help="a control name (see 'sonolume control list') or an "
                     "OSC address (/sonolume/...)")
    snd.add_argument("value", nargs="?", type=float, help="the value or argument, if any")
    snd.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    snd.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    snd.set_defaults(func=run_send)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_list(args) -> int:
    from engine.control import SPECS

    for s in SPECS.values():
        rng = "" if s.kind == "action" and not s.takes_arg else f" [{s.low:g}..{s.high:g}]"
        print(f"{s.name:24s} {_address(s.name):34s} {s.kind}{rng}  {s.description}")
    return 0


def run_send(args) -> int:
    from engine.control import event_for

    address = args.control if args.control.startswith("/") else _address(args.control)
    params = [] if args.value is None else [args.value]
    event_for(address, params)  # refuses what the app would refuse, with its words
    if not 0 < args.port < 65536:
        raise SonolumeError(f"bad port {args.port}: use 1 to 65535")
    from pythonosc.udp_client import SimpleUDPClient

    try:
        SimpleUDPClient(args.host, args.port).send_message(address, params)
    except OSError as exc:
        raise SonolumeError(f"cannot send to {args.host}:{args.port}: {exc}") from exc
    print(f"sent {address} {' '.join(f'{v:g}' for v in params)}".rstrip(), file=sys.stderr)
    return 0
