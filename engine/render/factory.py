"""Pick a renderer by measurement, not by rule.

On a machine with a real GPU the shader wins by orders of magnitude; on a CPU-only machine
Mesa's llvmpipe runs the same shader ~10x slower than lean torch maths (bench/README.md).
``make_renderer(cppn, "auto")`` therefore times both on a small frame the first time it is
asked (about a second on a CPU, milliseconds on a GPU), remembers the winner for the rest
of the process, and falls back to torch, saying so once, when no GL context can be made.

Precision follows the same rule. On a CPU with bf16 hardware (AMX-BF16 / AVX512-BF16) the
torch renderer can run its hidden layers in bf16 (engine.render.bf16, ~3-4x faster), but
only a caller that accepts a small error asks for it (``precision="auto"``: the preview and
the ``fast`` export; ``standard``/``high`` with a stricter budget), and only where it pays:
the bf16 renderer must draw a probe frame of the actual style within the caller's
:class:`ErrorBudget` of fp32 and at least ``MIN_SPEEDUP`` times faster, measured here.
Where plain bf16 misses the budget, the AMX kernel's ``bf16x3`` mode (three bf16 products
per matmul: fp32's picture to rounding at about a quarter of fp32's CPU time) is tried the
same way. Everything else stays fp32.
``SONOLUME_PRECISION=fp32`` in the environment keeps every "auto" caller on fp32 (for a
side-by-side look, or a CPU whose bf16 misbehaves in a way the probe does not catch).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from engine.reactive.params import FrameParams
from engine.render.base import GLUnavailable, Renderer, RenderError
from engine.render.bf16 import FrameError, bf16_hardware, frame_error
from engine.render.torch_renderer import TorchRenderer

log = logging.getLogger("sonolume.render")
KINDS = ("auto", "gl", "torch")
PRECISIONS = ("fp32", "bf16", "bf16x3", "auto")
PROBE_SIZE = (160, 90)
ACCURACY_PROBE_SIZE = (256, 144)  # enough pixels for a 99.9th percentile to mean something
MIN_SPEEDUP = 1.3  # below this bf16 is not worth its error: stay fp32
PRECISION_ENV = "SONOLUME_PRECISION"
_lock = threading.Lock()
_choice: dict[tuple, str] = {}
_speedups: dict[tuple, tuple[float, float]] = {}
_warned: set[str] = set()


@dataclass(frozen=True)
class ErrorBudget:
    """How far from the fp32 picture a faster path may draw, in 1/255 steps of a channel:
    ``p999`` for the 99.9th percentile pixel, ``max`` for the worst, ``shift`` for the
    largest mean signed error over a 16x16 block (a drift over an area, which would show
    as a blotch or band even where single pixels are within budget)."""

    p999: float
    max: float
    shift: float

    def admits(self, err: FrameError) -> bool:
        return err.p999 <= self.p999 and err.max <= self.max and err.shift <= self.shift


# The preview and the ``fast`` export (drawn at 1/4 size, upscaled, encoded at crf 21):
# a few steps of 255 do not show there. ``standard``/``high`` hold bf16 to the tolerance
# the GL and torch renderers are held to against each other: plain bf16 misses it on 10 of
# 11 bundled styles (block shift 0.6-2/255), bf16x3 meets it on all (max 1/255, shift
# 0.02), see bench/README.md.
FAST_BUDGET = ErrorBudget(p999=4.0, max=12.0, shift=3.0)
STRICT_BUDGET = ErrorBudget(p999=1.0, max=2.0, shift=0.5)
QUALITY_BUDGETS = {"fast": FAST_BUDGET, "standard": STRICT_BUDGET, "high": STRICT_BUDGET}


@dataclass(frozen=True)
class PrecisionChoice:
    """What :func:`choose_precision` decided and why (for logs and the about box)."""

    dtype: torch.dtype
    reason: str
    error: FrameError | None = None
    speedup: float | None = None
    variant: str = "fp32"  # "fp32", "bf16" or "bf16x3" (CPU); a GPU's half: "float16" etc.


def _say_once(key: str, message: str, warn: Callable[[str], None] | None) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    (warn or log.warning)(message)


def torch_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seconds_per_frame(renderer: Renderer, params: FrameParams, size=PROBE_SIZE,
                      budget: float = 0.3) -> float:
    """Seconds one frame of ``size`` takes, after a warm-up: the one timing rule for every
    GL-or-torch choice (this factory's, and the app's GL preview in Qt's own context)."""
    renderer.render(params, *size)  # warm-up: shader compile, grids, first-touch allocs
    runs, start = 0, time.perf_counter()
    while True:
        renderer.render(params, *size)
        runs += 1
        spent = time.perf_counter() - start
        if spent > budget or runs >= 5:
            return spent / runs


def _probe_params(extra_inputs: int) -> FrameParams:
    """A moved frame (zoom, turn, warp, colour) so the probe sees more than the centre."""
    extras = (0.5 * np.sin(np.arange(extra_inputs) * 1.7 + 0.3)).astype(np.float32)
    return FrameParams(extras=extras, zoom=1.25, rotation=0.4, warp=0.15, warp_phase=0.7,
                       hue=0.05, brightness=1.05)


def _best_seconds(renderer: Renderer, params: FrameParams, size, runs: int,
                  clock: Callable[[], float] = time.perf_counter) -> float:
    best = float("inf")
    for _ in range(runs):
        t = clock()
        renderer.render(params, *size)
        best = min(best, clock() - t)
    return best


def forced_fp32(env=None) -> str | None:
    """Why the environment keeps "auto" callers on fp32 (``SONOLUME_PRECISION=fp32``), or
    None. An unknown value is reported once and ignored."""
    value = (env if env is not None else os.environ).get(PRECISION_ENV, "").strip().lower()
    if value == "fp32":
        return f"fp32: forced by {PRECISION_ENV}=fp32"
    if value not in ("", "auto"):
        _say_once(f"env-{value}", f"{PRECISION_ENV}={value!r} is not 'fp32' or 'auto'; "
                                  "ignored", None)
    return None


def choose_precision(cppn, device=None, budget: ErrorBudget = FAST_BUDGET,
                     min_speedup: float = MIN_SPEEDUP,
                     hardware: Callable[[], str | None] = bf16_hardware) -> PrecisionChoice:
    """fp32, or bf16 where the CPU has bf16 hardware, ``cppn`` drawn in bf16 stays within
    ``budget`` of fp32 on a probe frame, and bf16 is at least ``min_speedup`` times faster.

    The first call per network shape pays the bf16 kernel's build (about a second for the
    AMX kernel, 15-55 s cold for inductor's; both cached on disk across runs) and times
    both paths (tens of ms); the accuracy check runs for every call, since it depends on
    the weights (a few ms). Speed is compared in CPU seconds of one single-threaded probe
    frame each (best of 5, alternating): what a frame costs whoever else is running, and
    how both the preview and the export draw (one single-threaded renderer per core)."""
    device = torch.device(device) if device is not None else torch_device()
    fp32 = torch.float32
    if device.type != "cpu":
        return _choose_on_device(cppn, device, budget)
    forced = forced_fp32()
    if forced:
        return PrecisionChoice(fp32, forced)
    hw = hardware()
    if hw is None:
        return PrecisionChoice(fp32, "fp32: this CPU has no bf16 hardware (AMX-BF16 or "
                                     "AVX512-BF16), and emulated bf16 is slower than fp32")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # per calling thread; one kernel variant (inductor's) to build
    try:
        return _choose_on_one_thread(cppn, device, budget, min_speedup, hw)
    finally:
        torch.set_num_threads(threads)


def _choose_on_one_thread(cppn, device, budget, min_speedup, hw) -> PrecisionChoice:
    fp32 = torch.float32
    ref = TorchRenderer(cppn, device=device)
    params = _probe_params(cppn.config.extra_inputs)
    reference = None
    refusals: list[str] = []
    first_err = timed = None
    for variant in ("bf16", "bf16x3"):
        try:
            fast = TorchRenderer(cppn, device=device, dtype=torch.bfloat16,
                                 bf16x3=variant == "bf16x3")
            image = fast.render(params, *ACCURACY_PROBE_SIZE)  # compiles on first use
        except RenderError as exc:  # bf16x3 without the AMX kernel
            refusals.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - any compile/runtime failure: not this one
            log.warning("%s renderer unavailable: %s: %s", variant, type(exc).__name__, exc)
            refusals.append(f"the {variant} kernel failed here ({type(exc).__name__}: {exc})")
            continue
        if reference is None:
            reference = ref.render(params, *ACCURACY_PROBE_SIZE)
        err = frame_error(image, reference)
        first_err = first_err or err
        if not budget.admits(err):
            refusals.append(f"{variant} misses the error budget on this style ({err})")
            continue
        speedup = timed = _speedup(ref, fast, params, (cppn.config, hw, fast.kernel, variant))
        log.info("precision probe at %dx%d (%s, %s): %.2fx less CPU than fp32; %s",
                 *PROBE_SIZE, hw, fast.description, speedup, err)
        if speedup < min_speedup:
            refusals.append(f"{variant} is only {speedup:.2f}x faster here (needs "
                            f"{min_speedup:g}x)")
            continue
        return PrecisionChoice(torch.bfloat16, f"{variant} on {hw} ({fast.kernel} kernel): "
                                               f"{speedup:.1f}x faster, {err}",
                               error=err, speedup=speedup, variant=variant)
    return PrecisionChoice(fp32, "fp32: " + "; ".join(refusals), error=first_err,
                           speedup=timed)


def _choose_on_device(cppn, device, budget: ErrorBudget) -> PrecisionChoice:
    """A GPU's half precision (its renderer's default, fp16 on CUDA) is kept only where a
    probe frame stays within ``budget`` of fp32 on the same device: a GPU has the hardware
    for it, so speed is not in question, but a ``standard`` export's tolerance may be (the
    sine of arguments of ~10 rounds to ~4e-3 in fp16)."""
    fp32 = torch.float32
    forced = forced_fp32()
    if forced:
        return PrecisionChoice(fp32, forced)
    half = TorchRenderer(cppn, device=device)
    if half.dtype == fp32:
        return PrecisionChoice(fp32, f"fp32: the default on {device.type}")
    params = _probe_params(cppn.config.extra_inputs)
    err = frame_error(half.render(params, *ACCURACY_PROBE_SIZE),
                      TorchRenderer(cppn, device=device, dtype=fp32)
                      .render(params, *ACCURACY_PROBE_SIZE))
    name = str(half.dtype).replace("torch.", "")
    if budget.admits(err):
        return PrecisionChoice(half.dtype, f"{name} on {device.type}: {err}", error=err,
                               variant=name)
    return PrecisionChoice(fp32, f"fp32: {name} misses the error budget on this style "
                                 f"({err})", error=err)


def _speedup(ref, fast, params, key) -> float:
    """How many times less CPU a probe frame takes in ``fast`` than in ``ref`` (fp32);
    measured once per network shape and kernel, in this thread's CPU time, the two
    alternating, best of 5 each (~0.1 s): on a shared 2-core machine wall-clock pairs
    ranged from 1.3x to 3.6x while CPU time said 3.2x throughout."""
    with _lock:
        timed = _speedups.get(key)
    if timed is None:
        t_ref = t_fast = float("inf")
        for _ in range(5):
            t_ref = min(t_ref, _best_seconds(ref, params, PROBE_SIZE, 1, time.thread_time))
            t_fast = min(t_fast, _best_seconds(fast, params, PROBE_SIZE, 1, time.thread_time))
        timed = (t_ref, max(t_fast, 1e-6))
        with _lock:
            _speedups[key] = timed
    return timed[0] / timed[1]


def _torch_renderer(cppn, device, precision: str, budget: ErrorBudget) -> TorchRenderer:
    if precision == "fp32":
        return TorchRenderer(cppn, device=device, dtype=torch.float32)
    if device.type != "cpu":  # a GPU: its own half precision, only within the budget
        choice = choose_precision(cppn, device, budget)
        log.info("renderer precision: %s", choice.reason)
        return TorchRenderer(cppn, device=device, dtype=choice.dtype)
    if precision in ("bf16", "bf16x3"):
        if bf16_hardware() is None:
            raise RenderError(f"{precision} rendering needs a CPU with AMX-BF16 or "
                              "AVX512-BF16; this one has neither (use precision 'auto' or "
                              "'fp32')")
        return TorchRenderer(cppn, device=device, dtype=torch.bfloat16,
                             bf16x3=precision == "bf16x3")
    choice = choose_precision(cppn, device, budget)
    log.info("renderer precision: %s", choice.reason)
    return TorchRenderer(cppn, device=device, dtype=choice.dtype,
                         bf16x3=choice.variant == "bf16x3")


def make_renderer(cppn, kind: str = "auto", ctx=None, device=None,
                  warn: Callable[[str], None] | None = None,
                  probe_budget: float = 0.3, precision: str = "fp32",
                  budget: ErrorBudget = FAST_BUDGET) -> Renderer:
    """A renderer for ``cppn``: ``"gl"``, ``"torch"`` or ``"auto"`` (the faster here).

    ``ctx``: an existing moderngl context to draw in (Qt's); without one GL makes a
    headless EGL context. ``device``: torch device (default CUDA when present, else CPU).
    ``warn``: where the one-time fallback message goes (default: the logging module).
    ``precision`` of a CPU torch renderer: ``"fp32"`` (exact, the default), ``"bf16"`` or
    ``"bf16x3"`` (forced; an error without bf16 hardware, bf16x3 also without the AMX
    kernel) or ``"auto"`` (bf16 or bf16x3 where it is measured to be faster and a probe
    frame stays within ``budget`` of fp32, see :func:`choose_precision`;
    ``QUALITY_BUDGETS`` has the export's)."""
    if kind not in KINDS:
        raise RenderError(f"unknown renderer '{kind}' (use one of: {', '.join(KINDS)})")
    if precision not in PRECISIONS:
        raise RenderError(f"unknown precision '{precision}' (use one of: "
                          f"{', '.join(PRECISIONS)})")
    device = torch.device(device) if device is not None else torch_device()
    if kind == "torch":
        return _torch_renderer(cppn, device, precision, budget)
    if kind == "gl":
        from engine.render.gl_renderer import GLRenderer

        return GLRenderer(cppn, ctx=ctx)

    from engine.render.gl_renderer import GLRenderer

    try:
        gl = GLRenderer(cppn, ctx=ctx)
    except GLUnavailable as exc:
        _say_once("no-gl", f"rendering with torch on {device.type}: {exc}", warn)
        return _torch_renderer(cppn, device, precision, budget)
    key = (gl.description, str(device), cppn.config)
    with _lock:
        choice = _choice.get(key)
    if choice is None:
        tr = TorchRenderer(cppn, device=device)
        params = FrameParams.neutral(cppn.config.extra_inputs)
        t_gl = seconds_per_frame(gl, params, PROBE_SIZE, probe_budget)
        t_torch = seconds_per_frame(tr, params, PROBE_SIZE, probe_budget)
        choice = "gl" if t_gl <= t_torch else "torch"
        with _lock:
            _choice[key] = choice
        log.info("renderer probe at %dx%d: %s %.1f ms, %s %.1f ms -> %s", *PROBE_SIZE,
                 gl.description, t_gl * 1e3, tr.description, t_torch * 1e3, choice)
    if choice == "gl":
        return gl
    gl.release()
    return _torch_renderer(cppn, device, precision, budget)


def renderer_choices() -> dict[tuple, str]:
    """What the probes decided so far in this process (for logs and the GUI's about box)."""
    with _lock:
        return dict(_choice)
