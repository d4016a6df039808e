"""The GL path of the live preview: a QOpenGLWidget that draws the CPPN shader with
moderngl inside Qt's own context.

The CPPN is drawn into an offscreen texture at an adaptive internal size (the same
:class:`~app.stage.preview.AdaptiveScale` as the torch path) and scaled up to the widget, so a
slow GL (Mesa's llvmpipe) still answers quickly. In ``auto`` mode the widget first times
the shader against the torch renderer on a small frame and hands over to torch when torch
is faster on this machine; the reason is shown to the user. The torch side is timed in
fp32 (the bf16 kernel may still be building then); when the background precision check
(engine.render.live_precision) later finds bf16 faster by some factor, the comparison is
made again with torch's time divided by it, and the view hands over if torch now wins.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QSurfaceFormat
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QSizePolicy

from app.stage.preview import STILL_SECONDS, AdaptiveScale, FpsMeter
from engine.runtime import load_triton_before_gl

# Before Qt makes a GL context in this process (Mesa's LLVM vs triton's: engine.runtime).
load_triton_before_gl()

log = logging.getLogger("sonolume.app.glview")

_BLIT_VS = """
#version 330
in vec2 in_pos;
out vec2 uv;
void main() { uv = in_pos * 0.5 + 0.5; gl_Position = vec4(in_pos, 0.0, 1.0); }
"""
_BLIT_FS = """
#version 330
uniform sampler2D tex;
in vec2 uv;
out vec4 color;
void main() { color = vec4(texture(tex, uv).rgb, 1.0); }
"""


def preload_llvm_users() -> None:
    """Load triton's LLVM (and torchvision's other native parts) before any GL context
    exists: after Mesa's llvmpipe has loaded the system LLVM, triton's import segfaults the
    process (see app.preload)."""
    from app.preload import preload_native_libraries

    preload_native_libraries()


def configure_gl_format() -> None:
    """Ask Qt for an OpenGL 3.3 core context (the CPPN shader's need). Call before the
    QApplication is created."""
    fmt = QSurfaceFormat()
    fmt.setVersion(3, 3)
    fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    fmt.setDepthBufferSize(0)
    fmt.setSwapInterval(0)
    QSurfaceFormat.setDefaultFormat(fmt)


def gl_possible() -> tuple[bool, str]:
    platform = QGuiApplication.platformName()
    if platform in ("offscreen", "minimal", "vnc"):
        return False, f"no OpenGL widget on the '{platform}' Qt platform"
    try:
        import moderngl  # noqa: F401
    except ImportError as exc:
        return False, f"moderngl missing ({exc})"
    return True, ""


class GLView(QOpenGLWidget):
    path = "gl"
    frameShown = Signal()
    fallback = Signal(str)  # why the torch path should take over
    failed = Signal(str)
    _precisionChecked = Signal()  # from the precision check's thread to this one

    def __init__(self, target_fps: int = 24, force: bool = False, parent=None):
        preload_llvm_users()
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 90)
        self.force = force
        self.scale = AdaptiveScale(target_fps)
        self.meter = FpsMeter()
        self.ctx = None
        self.renderer = None
        self.cppn = None
        self.has_cppn = False
        self.frame = None  # the engine scene frame to draw next
        self._drawer = None  # transitions: the engine's SceneDrawer over GL renderers
        self.full = False
        self.shown_size = (0, 0)
        self.description = ""
        self.probe: dict = {}
        self._fbo = self._tex = self._blit = self._blit_vao = self._vbo = None
        self._fbo_size = None
        self._dead = False
        self._live = None  # the LivePrecision watched after the probe
        self._precisionChecked.connect(self.recheck_torch, Qt.ConnectionType.QueuedConnection)

    def sizeHint(self) -> QSize:
        return QSize(640, 360)

    # -- the shared view interface -----------------------------------------------------------
    def _device_size(self) -> tuple[int, int]:
        dpr = self.devicePixelRatioF()
        return max(1, int(self.width() * dpr)), max(1, int(self.height() * dpr))

    @property
    def render_size(self) -> tuple[int, int]:
        return self.scale.size_for(*self._device_size())

    @property
    def full_size(self) -> tuple[int, int]:
        w, h = self._device_size()
        limit = self.scale.max_pixels
        if self.scale.rate > 0:
            limit = min(limit, max(self.scale.pixels, self.scale.rate * STILL_SECONDS))
        k = min(1.0, math.sqrt(limit / (w * h)))
        return max(1, round(w * k)), max(1, round(h * k))

    def set_target_fps(self, fps: int) -> None:
        self.scale.target_fps = fps

    def set_cppn(self, cppn) -> None:
        self.cppn = cppn
        self.has_cppn = cppn is not None
        if self.ctx is None or self._dead:
            return
        self.makeCurrent()
        try:
            self._bind_cppn()
        finally:
            self.doneCurrent()
        self.update()

    def draw(self, frame, full: bool = False) -> None:
        self.frame, self.full = frame, full
        self.update()

    def shutdown(self) -> None:
        if self._live is not None:
            self._live.remove_listener(self._on_precision)
            self._live = None
        if self.ctx is None:
            return
        self.makeCurrent()
        try:
            for obj in (self._fbo, self._tex, self._blit_vao, self._vbo, self._blit):
                if obj is not None:
                    obj.release()
            if self.renderer is not None:
                self.renderer.release()
            if self._drawer is not None:
                self._drawer.release()
        except Exception:  # noqa: BLE001 - the context may already be gone
            pass
        finally:
            self.doneCurrent()
        self.renderer = None
        self._dead = True

    # -- GL ----------------------------------------------------------------------------------
    def _give_up(self, why: str, expected: bool = False) -> None:
        if self._dead:
            return
        self._dead = True
        (log.info if expected else log.warning)("GL preview: %s", why)
        QTimer.singleShot(0, lambda: self.fallback.emit(why))

    def _bind_cppn(self) -> None:
        from engine.render.gl_renderer import GLRenderer

        if self.cppn is None:
            return
        try:
            if self.renderer is None:
                self.renderer = GLRenderer(self.cppn, ctx=self.ctx)
            else:
                self.renderer.set_cppn(self.cppn)
        except Exception as exc:  # noqa: BLE001 - GLUnavailable or a driver error
            self._give_up(f"the OpenGL shader cannot run here: {exc}")

    def initializeGL(self) -> None:
        try:
            import moderngl

            self.ctx = moderngl.create_context()
            self.description = self.ctx.info.get("GL_RENDERER", "?")
            if self.ctx.version_code < 330:
                self._give_up(f"OpenGL {self.ctx.version_code} is too old (need 3.3)")
                return
            self._blit = self.ctx.program(vertex_shader=_BLIT_VS, fragment_shader=_BLIT_FS)
            quad = np.array([-1, -1, 1, -1, -1, 1, 1, 1], np.float32)
            self._vbo = self.ctx.buffer(quad.tobytes())
            self._blit_vao = self.ctx.vertex_array(self._blit, [(self._vbo, "2f", "in_pos")])
        except Exception as exc:  # noqa: BLE001 - no usable context: hand over to torch
            self._give_up(f"no OpenGL context for the preview ({exc})")
            return
        log.info("GL preview context: %s, GL %s", self.description, self.ctx.version_code)
        if not self.force:
            self._probe()
        if not self._dead:
            self._bind_cppn()

    def _probe(self) -> None:
        """Time the shader (in Qt's context) and the torch renderer on the same small frame
        with the engine's timing rule; keep the faster."""
        from engine.cppn.model import CPPN
        from engine.reactive import FrameParams
        from engine.render.factory import PROBE_SIZE, seconds_per_frame
        from engine.render.gl_renderer import GLRenderer
        from engine.render.torch_renderer import TorchRenderer

        cppn = self.cppn or CPPN(seed=0)
        params = FrameParams.neutral(cppn.config.extra_inputs)
        try:
            gl = GLRenderer(cppn, ctx=self.ctx)
        except Exception as exc:  # noqa: BLE001
            self._give_up(f"the OpenGL shader cannot run here: {exc}")
            return

        try:
            t_gl = seconds_per_frame(gl, params)
        finally:
            gl.release()
        t_torch = seconds_per_frame(TorchRenderer(cppn), params)
        self.probe = {"gl_ms": t_gl * 1e3, "torch_ms": t_torch * 1e3}
        log.info("preview probe %dx%d: GL (%s) %.1f ms, torch %.1f ms", *PROBE_SIZE,
                 self.description, t_gl * 1e3, t_torch * 1e3)
        if t_torch < t_gl:
            self._give_up(f"OpenGL here is software ({self.description}): "
                          f"{t_gl * 1e3:.0f} ms vs torch {t_torch * 1e3:.0f} ms per "
                          f"{PROBE_SIZE[0]}×{PROBE_SIZE[1]} frame", expected=True)
            return
        from app.stage.preview import _live_precision

        self.watch_precision(_live_precision())

    def watch_precision(self, live) -> None:
        """Compare again when ``live`` (a LivePrecision) has measured bf16."""
        if live.disabled or self.force:
            return
        self._live = live
        live.add_listener(self._on_precision)
        self.recheck_torch()  # it may have measured already

    def _on_precision(self, live) -> None:
        try:
            self._precisionChecked.emit()
        except RuntimeError:  # the widget was deleted without shutdown(): stop listening
            live.remove_listener(self._on_precision)

    def recheck_torch(self) -> None:
        """The probe's torch time divided by the measured bf16 speed-up, against GL's."""
        from engine.render.factory import PROBE_SIZE

        live = self._live
        verdict = live.last if live is not None else None
        if (self._dead or verdict is None or verdict.variant == "fp32" or not verdict.speedup
                or "gl_ms" not in self.probe):
            return
        t_fast = self.probe["torch_ms"] / verdict.speedup
        self.probe["torch_bf16_ms"] = t_fast
        if t_fast < self.probe["gl_ms"]:
            self._give_up(f"torch in {verdict.variant} is faster here: about {t_fast:.0f} ms "
                          f"vs GL ({self.description}) {self.probe['gl_ms']:.0f} ms per "
                          f"{PROBE_SIZE[0]}×{PROBE_SIZE[1]} frame", expected=True)

    def _target(self, w: int, h: int):
        if self._fbo_size != (w, h):
            for obj in (self._fbo, self._tex):
                if obj is not None:
                    obj.release()
            import moderngl

            self._tex = self.ctx.texture((w, h), 4)
            self._tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self._fbo = self.ctx.framebuffer(color_attachments=[self._tex])
            self._fbo_size = (w, h)
        return self._fbo

    def paintGL(self) -> None:
        if self.ctx is None or self._dead:
            return
        screen = self.ctx.detect_framebuffer(self.defaultFramebufferObject())
        dw, dh = self._device_size()
        frame = self.frame
        if frame is not None and frame.single and frame.cppn is not self.cppn:
            self.cppn = frame.cppn
            self._bind_cppn()
        if self.renderer is None or frame is None or not self.has_cppn:
            screen.use()
            self.ctx.viewport = (0, 0, dw, dh)
            self.ctx.clear(0.0, 0.0, 0.0, 1.0)
            return
        full = self.full
        w, h = self.full_size if full else self.render_size
        try:
            t0 = time.perf_counter()
            fbo = self._target(w, h)
            if frame.single:
                self.renderer.render_to(fbo, frame.params, w, h)
            else:
                self._draw_transition(frame, w, h)
            self.ctx.finish()  # so the time measured is the real cost of the frame
            dt = time.perf_counter() - t0
            screen.use()
            self.ctx.viewport = (0, 0, dw, dh)
            self._tex.use(location=0)
            self._blit["tex"].value = 0
            import moderngl

            self._blit_vao.render(moderngl.TRIANGLE_STRIP)
        except Exception as exc:  # noqa: BLE001 - a broken driver: use torch instead
            log.exception("GL preview draw failed")
            self._give_up(f"OpenGL drawing failed ({exc})")
            return
        if not full:
            self.scale.update(dt, w * h)
            self.meter.tick()
        self.shown_size = (w, h)
        QTimer.singleShot(0, self.frameShown.emit)

    def _draw_transition(self, frame, w: int, h: int) -> None:
        """Two styles at once: the engine's SceneDrawer draws and combines them exactly as
        the export does (a GL renderer per style on this context, read back, blended on the
        CPU) and the result is uploaded; a transition lasts a few beats, so the read-back
        costs little, and preview and export cannot disagree."""
        from app.stage.preview import PREVIEW_RENDERERS
        from engine.render.gl_renderer import GLRenderer
        from engine.scene import SceneDrawer

        if self._drawer is None:
            self._drawer = SceneDrawer(make=lambda cppn: GLRenderer(cppn, ctx=self.ctx),
                                       keep=PREVIEW_RENDERERS)
        rgb = self._drawer.draw(frame, w, h)
        rgba = np.empty((h, w, 4), np.uint8)
        rgba[..., :3] = rgb[::-1]  # numpy rows run top-down, GL's bottom-up
        rgba[..., 3] = 255
        self._tex.write(rgba.tobytes())

    def resizeGL(self, w: int, h: int) -> None:
        self.update()

    def grab_frame(self):
        return self.grabFramebuffer()


__all__ = ["GLView", "configure_gl_format", "gl_possible", "Qt"]
