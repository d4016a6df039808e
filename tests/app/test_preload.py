"""app.preload: the native libraries are loaded by the window, on the GUI thread, before a
CLIP-loading worker could be the first to import them."""

import importlib.util
import sys
import threading

from app.preload import MODULES, preload_native_libraries


def test_window_has_loaded_the_native_libraries_before_any_worker(window):
    installed = [m for m in MODULES if importlib.util.find_spec(m) is not None]
    assert installed, "torchvision is a dependency: at least it must be installed"
    assert all(m in sys.modules for m in installed)
    assert window.clip_service.current is None  # loaded without loading a CLIP


def test_preload_refuses_a_worker_thread():
    errors = []

    def run():
        try:
            preload_native_libraries()
        except RuntimeError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert errors and "main thread" in errors[0]


def test_a_broken_module_is_logged_not_raised(monkeypatch, caplog):
    import app.preload as preload

    monkeypatch.setattr(preload, "MODULES", ("json", "sonolume_no_such_module_xyz"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name.startswith("sonolume_no_such")
                        else real(name, *a))
    with caplog.at_level("INFO", logger="sonolume.app"):
        preload_native_libraries()
    assert "sonolume_no_such_module_xyz preload failed" in caplog.text
