"""Large native libraries loaded once, on the GUI thread, before any worker, render, audio
or GL thread exists.

Why: two of torch's companions carry big native parts that are otherwise loaded the first
time some worker thread happens to import them.

* triton (torch's GPU compiler) bundles its own LLVM. Loaded after Mesa's llvmpipe has
  loaded the system LLVM, its import segfaulted the process (Mesa 22 / LLVM 15); loaded
  first, both coexist.
* open_clip imports torchvision, which pulls in torch._dynamo and inductor's modules and
  with them triton: about 1.3 s and several native initialisers in all. Left to the CLIP-loading
  worker, all of it ran while the preview threads drew and the GUI thread waited. A test
  run in CI hung twice in the test that loads CLIP first, and had printed nothing of the
  load, whose first step is this import; the app itself had always loaded triton at start.
  Loaded here, in the app and in every test window alike, a CLIP load only builds the
  model.

The cost is paid once per process (the app pays it at start, about a second; imports are
cached, so every later call is free).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading

log = logging.getLogger("sonolume.app")

# triton first: it must precede any GL context. open_clip last: it imports torchvision and
# its own native helpers (regex, safetensors, the tokenizer's), all a CLIP load needs.
MODULES = ("triton", "torchvision", "open_clip")


def preload_native_libraries() -> None:
    """Import :data:`MODULES` (those installed) now. Call on the GUI thread before the
    QApplication's first window exists; any failure is logged and left to the code that
    needs the module, which reports it properly."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("preload_native_libraries must run on the main thread")
    for name in MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a precaution, not a requirement
            log.info("%s preload failed: %s: %s", name, type(exc).__name__, exc)
