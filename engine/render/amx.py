"""The fused AMX-BF16 CPPN kernel (cppn_amx.c): built with the system C compiler, loaded
with ctypes, fed with packed weights.

Why a hand-written kernel beside inductor's: drawn layer by layer, a 720p frame spent
~0.32 CPU-s single-threaded of which the matmuls at the AMX rate are ~0.09; the rest was
activations streamed through memory between kernels, accumulators round-tripping through
L2, and per-kernel OpenMP barriers (two threads on one frame on a loaded machine waited at
~300 of them per frame). This kernel takes 32 pixels through every layer in L1 and hands
out work through one atomic counter, so threads never wait for each other mid-frame.
Compiling it takes about a second (inductor's cold compile: 15-55 s), and the result is
cached under the user cache folder keyed by the source, compiler and flags.

Only for CPUs with AMX-BF16 (Sapphire Rapids and later); a CPU with AVX512-BF16 alone
(Cooper Lake, Zen 4) keeps the inductor kernel (engine.render.bf16).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from engine import atomic
from engine.reactive.params import WARP_FREQ

SOURCE = Path(__file__).with_name("cppn_amx.c")
FLAGS = ("-O3", "-shared", "-fPIC", "-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl",
         "-mavx512bf16", "-mamx-tile", "-mamx-bf16", "-mfma")
ABI_VERSION = 2
MAX_HIDDEN = 1024
_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_why_not: str | None = None
_f32p = ctypes.POINTER(ctypes.c_float)
_u16p = ctypes.POINTER(ctypes.c_uint16)


class KernelUnavailable(RuntimeError):
    """The AMX kernel cannot be built or loaded here (the reason says why)."""


def _cpu_has_amx() -> bool:
    from engine.render.bf16 import _cpuinfo_flags

    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        if probe is not None and probe():
            return True
    except RuntimeError:
        pass
    return {"amx_bf16", "amx_tile"} <= _cpuinfo_flags()


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "gcc", "cc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cache_folder() -> Path:
    from engine.paths import cache_dir

    return cache_dir("kernels")


def _build(cc: str, defines: tuple[str, ...] = ()) -> Path:
    """The shared library for this source and compiler, built once (atomic rename, so
    two processes building at once both end up with a whole file)."""
    src = SOURCE.read_bytes()
    version = subprocess.run([cc, "--version"], capture_output=True, text=True,
                             timeout=30).stdout.splitlines()[:1]
    flags = FLAGS + tuple(f"-D{d}" for d in defines)
    key = hashlib.sha256(src + repr((version, flags)).encode()).hexdigest()[:16]
    folder = _cache_folder()
    target = folder / f"cppn_amx-{key}.so"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(target, suffix=".so", mode=0o755, fsync=False) as tmp:
        done = subprocess.run([cc, *flags, str(SOURCE), "-o", str(tmp)],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise KernelUnavailable(f"the C compiler failed on {SOURCE.name}: "
                                    f"{done.stderr.strip()[-400:]}")
    return target


def load() -> ctypes.CDLL:
    """The kernel library (built on first use, about a second); KernelUnavailable when
    the CPU has no AMX-BF16, no C compiler is installed, or the build fails."""
    global _lib, _why_not
    with _lock:
        if _lib is not None:
            return _lib
        if _why_not is not None:
            raise KernelUnavailable(_why_not)
        try:
            if not _cpu_has_amx():
                raise KernelUnavailable("this CPU has no AMX-BF16")
            if not SOURCE.is_file():
                raise KernelUnavailable(f"kernel source {SOURCE} is missing")
            cc = _compiler()
            if cc is None:
                raise KernelUnavailable("no C compiler (gcc, cc or clang) on PATH")
            lib = _open(_build(cc))
        except (OSError, subprocess.SubprocessError) as exc:
            _why_not = f"the AMX kernel cannot be built here ({type(exc).__name__}: {exc})"
            raise KernelUnavailable(_why_not) from exc
        except KernelUnavailable as exc:
            _why_not = str(exc)
            raise
        _lib = lib
        return lib


def _open(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    if lib.sono_abi_version() != ABI_VERSION:
        raise KernelUnavailable("stale kernel build in the cache")
    if lib.sono_amx_init() != 0:
        raise KernelUnavailable("Linux refused the AMX tile state to this process")
    lib.sono_cppn_frame.restype = ctypes.c_int
    lib.sono_cppn_frame.argtypes = [
        _f32p, _f32p, _u16p, _u16p, _f32p, _u16p, _u16p, _f32p, _f32p, ctypes.c_int,
        ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_uint8), _f32p,
        ctypes.POINTER(ctypes.c_int64)]
    return lib


def profiling_build(*defines: str) -> ctypes.CDLL:
    """A build with the kernel's profiling switches (``SONO_NO_SINE``, ``SONO_NO_MATMUL``):
    wrong pictures, for pricing the parts of a frame (bench/render.py)."""
    load()
    cc = _compiler()
    assert cc is not None  # load() succeeded
    return _open(_build(cc, tuple(defines)))


def unavailable_reason() -> str | None:
    """None when the kernel loads here, else why not (builds it on first call)."""
    try:
        load()
    except KernelUnavailable as exc:
        return str(exc)
    return None


def _bf16_bits(a: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bit patterns (round to nearest even, as torch's cast)."""
    t = torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().view(np.uint16)


def _bf16_value(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def pack_weights(w_in_out: np.ndarray, hp: int, cols: int, remainder: bool = False
                 ) -> np.ndarray:
    """A (K, N) matrix (K inputs, N outputs), zero-padded to (hp, cols), as AMX B tiles:
    [cols/16 n-tiles][hp/32 k-steps][16 rows][16 columns x 2 k] bf16, contiguous.
    ``remainder``: pack w - bf16(w) instead (the precise mode's second half)."""
    k, n = w_in_out.shape
    padded = np.zeros((hp, cols), np.float32)
    padded[:k, :n] = w_in_out
    bits = _bf16_bits(padded)  # (hp, cols)
    if remainder:
        bits = _bf16_bits(padded - _bf16_value(bits))
    # element (k, n) -> [n // 16][k // 32][(k % 32) // 2][n % 16][k % 2]
    t = bits.reshape(hp // 32, 16, 2, cols // 16, 16)  # [ks][r][p][nt][c]
    return np.ascontiguousarray(t.transpose(3, 0, 1, 4, 2)).reshape(-1)


def _ptr(a: np.ndarray, ctype):
    return a.ctypes.data_as(ctypes.POINTER(ctype))


class AmxCppn:
    """One CPPN's weights packed for the kernel, and the frame call.

    ``precise``: every matmul as three bf16 products (hi x hi + hi x lo + lo x hi, each
    operand split as bf16 + bf16 remainder; the activations too), which carries ~16
    mantissa bits instead of 8: fp32's picture to rounding, for ~2.5x the tile work."""

    def __init__(self, weights, lib: ctypes.CDLL | None = None, precise: bool = False):
        """``weights``: engine.render.base.Weights (out x in matrices, as nn.Linear);
        ``lib``: another build of the kernel (:func:`profiling_build`)."""
        self.lib = lib or load()
        self.precise = bool(precise)
        h = weights.width
        if h > MAX_HIDDEN:
            raise KernelUnavailable(f"hidden width {h} > {MAX_HIDDEN}")
        self.hp = hp = -(-h // 32) * 32
        self.layers = weights.layers
        w0, _ = weights.hidden[0]
        self.w0 = np.zeros((3, hp), np.float32)
        self.w0[:, :h] = w0[:, :3].T
        self.hidden_width = h
        packed, rest, biases = [], [], []
        for W, b in weights.hidden[1:]:
            packed.append(pack_weights(W.T, hp, hp))
            rest.append(pack_weights(W.T, hp, hp, remainder=True))
            bb = np.zeros(hp, np.float32)
            bb[:h] = b
            biases.append(bb)
        empty = np.zeros(16 * 32, np.uint16)
        self.wh = np.concatenate(packed) if packed else empty
        self.wh_lo = np.concatenate(rest) if rest else empty
        self.bh = (np.concatenate(biases) if biases else np.zeros(hp, np.float32))
        self.wo = pack_weights(weights.out[0].T, hp, 16)
        self.wo_lo = pack_weights(weights.out[0].T, hp, 16, remainder=True)
        self.bo = np.ascontiguousarray(weights.out[1], np.float32)

    def first_bias(self, b0: np.ndarray) -> np.ndarray:
        out = np.zeros(self.hp, np.float32)
        out[: self.hidden_width] = b0
        return out

    def frame(self, b0: np.ndarray, coord: np.ndarray, warp: tuple[float, float],
              color: np.ndarray, window: tuple[float, float, float, float], width: int,
              height: int, out: np.ndarray, threads: int = 1) -> None:
        """Draw into ``out`` ((H*W, 3) uint8 or float32, C-contiguous). ``coord`` (2, 2)
        and ``color`` (3, 3) as engine.render.bf16.chunk_rgb takes them; ``window`` the
        frame's (x0, y0, x1, y1); ``threads``: how many threads share the frame."""
        x0, y0, x1, y1 = window
        fc = np.zeros(20, np.float32)
        fc[0:4] = np.asarray(coord, np.float32).reshape(4)
        fc[4:7] = (warp[0], warp[1], WARP_FREQ)
        fc[7:16] = np.asarray(color, np.float32).reshape(9)
        fc[16:20] = (x0, (x1 - x0) / width, y0, (y1 - y0) / height)
        bias = self.first_bias(b0)
        counter = np.zeros(1, np.int64)
        u8 = out.dtype == np.uint8
        if out.shape != (width * height, 3) or not out.flags.c_contiguous or not (
                u8 or out.dtype == np.float32):
            raise ValueError("out must be a C-contiguous (H*W, 3) uint8 or float32 array")
        precise = self.precise
        args = (_ptr(self.w0, ctypes.c_float), _ptr(bias, ctypes.c_float),
                _ptr(self.wh, ctypes.c_uint16),
                _ptr(self.wh_lo, ctypes.c_uint16) if precise else None,
                _ptr(self.bh, ctypes.c_float), _ptr(self.wo, ctypes.c_uint16),
                _ptr(self.wo_lo, ctypes.c_uint16) if precise else None,
                _ptr(self.bo, ctypes.c_float),
                _ptr(fc, ctypes.c_float), self.hp, self.layers, width, height,
                _ptr(out, ctypes.c_uint8) if u8 else None,
                None if u8 else _ptr(out, ctypes.c_float), _ptr(counter, ctypes.c_int64))
        call = self.lib.sono_cppn_frame
        helpers = []
        if threads > 1:
            pool = _helpers(threads - 1)
            helpers = [pool.submit(call, *args) for _ in range(threads - 1)]
        rc = call(*args)  # ctypes drops the GIL: helpers and this thread run at once
        for f in helpers:
            # a helper that has not started (its pool busy with another frame) is not
            # needed any more: the jobs are all done; one that started may still write
            if not f.cancel():
                rc = rc or f.result()
        if rc != 0:
            raise RuntimeError(f"AMX kernel refused the network (hidden {self.hp})")


_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _helpers(n: int) -> ThreadPoolExecutor:
    """Helper threads shared by every renderer of the process (a renderer is cheap to make
    and is remade on every style switch; its threads should not be)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="cppn-amx")
            _pool_size = n
            if old is not None:
                old.shutdown(wait=False)
        return _pool
