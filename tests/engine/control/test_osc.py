import logging
import socket
import time

import pytest
from control_helpers import one_style_scene
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from engine.control import ControlError, ControlEvent, Controller, OscServer, event_for


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def served():
    scene, palette = one_style_scene()
    ctl = Controller(scene, lambda: 1.0, palette=palette)
    server = OscServer(ctl.submit, port=0).start()
    yield scene, ctl, server
    server.stop()


def test_osc_over_a_real_udp_socket_changes_the_scene(served, caplog):
    scene, ctl, server = served
    assert server.host == "127.0.0.1" and server.port > 0
    client = SimpleUDPClient("127.0.0.1", server.port)
    client.send_message("/sonolume/amount/pulse", 0.7)
    client.send_message("/sonolume/hue", 0.2)
    client.send_message("/sonolume/style/next", [])
    assert wait_for(lambda: ctl.pending() == 3)
    assert ctl.flush() == {"automation", "arrangement"}
    assert scene.automation.value("amount.pulse", 0.0) == pytest.approx(0.7)
    assert scene.automation.value("hue", 5.0) == pytest.approx(0.2)
    assert [s.style for s in scene.segments] == ["a", "b"]

    # Hostile and broken input: each a log line, the server keeps serving.
    caplog.set_level(logging.INFO, logger="sonolume.control")
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for junk in (b"\x00\x01garbage", b"/sonolume/hue\x00\x00\x00,f",
                 b"/sonolume/hue\x00\x00\x00,i\x00\x00\x00\x01",
                 b"#bundle\x00" + b"\xff" * 20, b"", b"/" * 3000):
        raw.sendto(junk, ("127.0.0.1", server.port))
    raw.close()
    client.send_message("/sonolume/nope", 1.0)
    client.send_message("/other/app", 1.0)
    client.send_message("/sonolume/hue", "red")
    client.send_message("/sonolume/style/pick", 1.5)
    client.send_message("/sonolume/brightness", 50.0)  # clamped to 3 by the controller
    bundle = OscBundleBuilder(IMMEDIATELY)
    for address, value in (("/sonolume/zoom", 2.0), ("/sonolume/transition/crossfade", 4)):
        m = OscMessageBuilder(address)
        m.add_arg(value)
        bundle.add_content(m.build())
    client.send(bundle.build())
    assert wait_for(lambda: ctl.pending() == 3)
    assert server.running and server.rejected >= 9
    ctl.flush()
    assert scene.automation.value("brightness", 0.0) == 3.0
    assert scene.automation.value("zoom", 0.0) == 2.0
    assert scene.transitions[-1].kind == "crossfade" and scene.transitions[-1].beats == 4
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "malformed packet" in text and "unknown OSC address /sonolume/nope" in text
    assert "needs a number" in text and "whole number" in text
    assert "outside 0..3, clamped to 3" in text


def test_a_busy_port_is_one_clear_error(served):
    _, ctl, server = served
    with pytest.raises(ControlError, match=f"cannot listen for OSC on 127.0.0.1:{server.port}"):
        OscServer(ctl.submit, port=server.port).start()
    with pytest.raises(ControlError, match="0 to 65535"):
        OscServer(ctl.submit, port=70000)


def test_a_receiver_that_fails_does_not_stop_the_server():
    got = []

    def deliver(event):
        if event.control == "hue":
            raise RuntimeError("a bug downstream")
        got.append(event)

    server = OscServer(deliver, port=0).start()
    try:
        client = SimpleUDPClient("127.0.0.1", server.port)
        client.send_message("/sonolume/hue", 0.1)
        client.send_message("/sonolume/tap", [])
        assert wait_for(lambda: got)
        assert server.running and got[0].control == "tap"
    finally:
        server.stop()
    assert not server.running


@pytest.mark.parametrize("address, params, want", [
    ("/sonolume/amount/pulse", [0.7], ControlEvent("amount.pulse", 0.7)),
    ("/sonolume/amount/all", [2], ControlEvent("amount.all", 2.0)),
    ("/sonolume/zoom", [1.5], ControlEvent("zoom", 1.5)),
    ("/sonolume/freeze", [], ControlEvent("freeze", None)),
    ("/sonolume/blackout", [True], ControlEvent("blackout", 1.0)),
    ("/sonolume/style/prev", [], ControlEvent("style.previous")),
    ("/sonolume/style/pick", [3], ControlEvent("style.pick", arg=3)),
    ("/sonolume/transition/cut", [], ControlEvent("transition.cut")),
    ("/sonolume/transition/morph", [4], ControlEvent("transition.morph", arg=4)),
    ("/sonolume/tap", [], ControlEvent("tap")),
])
def test_the_address_table(address, params, want):
    e = event_for(address, params, source="")
    assert (e.control, e.value, e.arg) == (want.control, want.value, want.arg)


@pytest.mark.parametrize("address, params", [
    ("/sonolume/amount/sparkle", [1.0]), ("/sonolume/hue", []), ("/sonolume", []),
    ("/sonolume/style/pick", []), ("/sonolume/transition/wipe", [2]),
    ("/sonolume/amount/pulse/extra", [1.0]), ("/sonolume/zoom", [b"\x00"]),
])
def test_bad_addresses_and_arguments(address, params):
    with pytest.raises(ControlError):
        event_for(address, params)
