"""Pick a renderer by measurement, not by rule.

On a machine with a real GPU the shader wins by orders of magnitude; on a CPU-only machine
Mesa's llvmpipe runs the same shader ~10x slower than lean torch maths (bench/README.md).
``make_renderer(cppn, "auto")`` therefore times both on a small frame the first time it is
asked (about a second on a CPU, milliseconds on a GPU), remembers the winner for the rest
of the process, and falls back to torch, saying so once, when no GL context can be made.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import torch

from engine.reactive.params import FrameParams
from engine.render.base import GLUnavailable, Renderer, RenderError
from engine.render.torch_renderer import TorchRenderer

log = logging.getLogger("sonolume.render")
KINDS = ("auto", "gl", "torch")
PROBE_SIZE = (160, 90)
_lock = threading.Lock()
_choice: dict[tuple, str] = {}
_warned: set[str] = set()


def _say_once(key: str, message: str, warn: Callable[[str], None] | None) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    (warn or log.warning)(message)


def torch_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _seconds_per_frame(renderer: Renderer, params: FrameParams, size, budget: float) -> float:
    renderer.render(params, *size)  # warm-up: shader compile, grids, first-touch allocs
    runs, start = 0, time.perf_counter()
    while True:
        renderer.render(params, *size)
        runs += 1
        spent = time.perf_counter() - start
        if spent > budget or runs >= 5:
            return spent / runs


def make_renderer(cppn, kind: str = "auto", ctx=None, device=None,
                  warn: Callable[[str], None] | None = None,
                  probe_budget: float = 0.3) -> Renderer:
    """A renderer for ``cppn``: ``"gl"``, ``"torch"`` or ``"auto"`` (the faster here).

    ``ctx``: an existing moderngl context to draw in (Qt's); without one GL makes a
    headless EGL context. ``device``: torch device (default CUDA when present, else CPU).
    ``warn``: where the one-time fallback message goes (default: the logging module)."""
    if kind not in KINDS:
        raise RenderError(f"unknown renderer '{kind}' (use one of: {', '.join(KINDS)})")
    device = torch.device(device) if device is not None else torch_device()
    if kind == "torch":
        return TorchRenderer(cppn, device=device)
    if kind == "gl":
        from engine.render.gl_renderer import GLRenderer

        return GLRenderer(cppn, ctx=ctx)

    from engine.render.gl_renderer import GLRenderer

    try:
        gl = GLRenderer(cppn, ctx=ctx)
    except GLUnavailable as exc:
        _say_once("no-gl", f"rendering with torch on {device.type}: {exc}", warn)
        return TorchRenderer(cppn, device=device)
    key = (gl.description, str(device), cppn.config)
    with _lock:
        choice = _choice.get(key)
    if choice is None:
        tr = TorchRenderer(cppn, device=device)
        params = FrameParams.neutral(cppn.config.extra_inputs)
        t_gl = _seconds_per_frame(gl, params, PROBE_SIZE, probe_budget)
        t_torch = _seconds_per_frame(tr, params, PROBE_SIZE, probe_budget)
        choice = "gl" if t_gl <= t_torch else "torch"
        with _lock:
            _choice[key] = choice
        log.info("renderer probe at %dx%d: %s %.1f ms, %s %.1f ms -> %s", *PROBE_SIZE,
                 gl.description, t_gl * 1e3, tr.description, t_torch * 1e3, choice)
        if choice == "torch":
            gl.release()
            return tr
    if choice == "gl":
        return gl
    gl.release()
    return TorchRenderer(cppn, device=device)


def renderer_choices() -> dict[tuple, str]:
    """What the probes decided so far in this process (for logs and the GUI's about box)."""
    with _lock:
        return dict(_choice)
