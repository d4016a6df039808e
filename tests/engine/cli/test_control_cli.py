"""`sonolume control`: the address list, and a move sent over a real UDP socket to the
engine's OSC server (what the app runs)."""

import threading

from engine.cli.main import main


def test_list_names_every_control_with_its_address(capsys):
    assert main(["control", "list"]) == 0
    out = capsys.readouterr().out
    assert "/sonolume/amount/pulse" in out and "/sonolume/style/next" in out
    assert "/sonolume/transition/crossfade" in out


def test_send_reaches_a_listening_server(capsys):
    from engine.control import OscServer

    got, arrived = [], threading.Event()

    def deliver(event):
        got.append(event)
        arrived.set()

    server = OscServer(deliver, port=0, host="127.0.0.1").start()
    try:
        assert main(["control", "send", "hue", "0.25", "--port", str(server.port)]) == 0
        assert main(["control", "send", "transition.crossfade", "4", "--port",
                     str(server.port)]) == 0
        assert arrived.wait(5)
        for _ in range(50):
            if len(got) >= 2:
                break
            threading.Event().wait(0.05)
    finally:
        server.stop()
    assert [(e.control, e.value, e.arg) for e in got] == [
        ("hue", 0.25, None), ("transition.crossfade", None, 4)]


def test_send_refuses_what_the_app_would(capsys):
    assert main(["control", "send", "huee", "1"]) == 2
    assert "unknown OSC address" in capsys.readouterr().err
    assert main(["control", "send", "style.pick"]) == 2
    assert "needs the style's number" in capsys.readouterr().err
