"""The CPPN as an OpenGL fragment shader (moderngl), headless or inside a Qt widget.

Two ways to get one:

* ``GLRenderer(cppn)`` makes its own headless context (EGL, no display needed) and
  :meth:`~GLRenderer.render` returns frames as numpy arrays (export, tests);
* ``GLRenderer(cppn, ctx=moderngl.create_context())`` inside a ``QOpenGLWidget``'s
  ``initializeGL`` binds to Qt's context; in ``paintGL`` call
  ``renderer.render_to(ctx.detect_framebuffer(widget.defaultFramebufferObject()), params,
  w, h)``. Everything must then be called with Qt's context current (i.e. from
  initializeGL / paintGL / resizeGL). The shader needs GL 3.3 (ask Qt for a 3.3 core
  profile via QSurfaceFormat before creating the application).

The shader source is ``cppn.frag.glsl`` next to this file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.reactive.params import WARP_FREQ, FrameParams
from engine.render.base import GLUnavailable, Renderer, RenderError, Weights, window_for

SHADER = Path(__file__).with_name("cppn.frag.glsl")
MIN_GL = 330
_VERTEX = """
#version 330
in vec2 in_pos;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); }
"""


def _pad4(n: int) -> int:
    return (n + 3) // 4 * 4


def pack_weights(w: Weights) -> tuple[np.ndarray, dict]:
    """All layers in one (rows, cols, 4) float32 array for an RGBA32F texture."""
    in_pad = _pad4(3 + w.extra_inputs)
    hid_pad = _pad4(w.width)
    cols = max(in_pad, hid_pad) // 4 + 1
    bias_col = cols - 1
    rows = hid_pad * w.layers + 3
    tex = np.zeros((rows, cols * 4), np.float32)
    r = 0
    for W, b in w.hidden:
        n_out, n_in = W.shape
        tex[r : r + n_out, :n_in] = W
        tex[r : r + n_out, bias_col * 4] = b
        r += hid_pad
    W, b = w.out
    tex[r : r + 3, : W.shape[1]] = W
    tex[r : r + 3, bias_col * 4] = b
    layout = {"in4": in_pad // 4, "hidden4": hid_pad // 4, "layers": w.layers,
              "bias_col": bias_col, "maxv": max(in_pad, hid_pad) // 4}
    return tex.reshape(rows, cols, 4), layout


def create_headless_context():
    """A standalone EGL context (no display needed), or GLUnavailable saying why."""
    try:
        import moderngl
    except ImportError as exc:  # pragma: no cover - moderngl is a dependency
        raise GLUnavailable(f"moderngl is not installed ({exc})") from exc
    from engine.runtime import load_triton_before_gl

    load_triton_before_gl()
    try:
        return moderngl.create_standalone_context(backend="egl", require=MIN_GL)
    except Exception as exc:  # moderngl raises plain Exception for context failures
        raise GLUnavailable(f"no headless OpenGL {MIN_GL // 100}.{MIN_GL % 100 // 10} "
                            f"context (EGL): {exc}") from exc


class GLRenderer(Renderer):
    name = "gl"

    def __init__(self, cppn, ctx=None):
        import moderngl

        self._moderngl = moderngl
        self.owns_ctx = ctx is None
        self.ctx = create_headless_context() if ctx is None else ctx
        if self.ctx.version_code < MIN_GL:
            raise GLUnavailable(f"OpenGL {self.ctx.version_code} is too old (need 3.3)")
        self._program = self._vao = self._vbo = self._tex = None
        self._fbo = None
        self._fbo_size = None
        self._layout: dict | None = None
        try:
            self.set_cppn(cppn)
        except Exception:
            self.release()
            raise

    @property
    def description(self) -> str:
        info = self.ctx.info
        return f"gl {info.get('GL_RENDERER', '?')}"

    # -- resources ---------------------------------------------------------------------------
    def _build_program(self, layout: dict) -> None:
        for obj in (self._vao, self._vbo, self._program):
            if obj is not None:
                obj.release()
        src = SHADER.read_text(encoding="utf-8")
        header = (f"#version 330\n#define MAXV {layout['maxv']}\n"
                  f"#define WARP_FREQ {WARP_FREQ!r}\n")
        try:
            self._program = self.ctx.program(vertex_shader=_VERTEX,
                                             fragment_shader=header + src)
        except Exception as exc:
            raise GLUnavailable(f"the CPPN shader does not compile here: {exc}") from exc
        quad = np.array([-1, -1, 1, -1, -1, 1, 1, 1], np.float32)
        self._vbo = self.ctx.buffer(quad.tobytes())
        self._vao = self.ctx.vertex_array(self._program, [(self._vbo, "2f", "in_pos")])

    def set_cppn(self, cppn) -> None:
        w = Weights.from_cppn(cppn)
        tex, layout = pack_weights(w)
        limit = int(self.ctx.info.get("GL_MAX_TEXTURE_SIZE", 0) or 0)
        if limit and max(tex.shape[0], tex.shape[1]) > limit:
            raise GLUnavailable(f"this CPPN needs a {tex.shape[1]}x{tex.shape[0]} weight "
                                f"texture, over the GL limit of {limit}")
        if self._layout is None or self._layout["maxv"] != layout["maxv"]:
            self._build_program(layout)
        if self._tex is not None:
            self._tex.release()
        self._tex = self.ctx.texture((tex.shape[1], tex.shape[0]), 4, tex.tobytes(), dtype="f4")
        self._tex.filter = (self._moderngl.NEAREST, self._moderngl.NEAREST)
        self._layout = layout
        self.weights = w
        prog = self._program
        prog["u_in4"].value = layout["in4"]
        prog["u_hidden4"].value = layout["hidden4"]
        prog["u_layers"].value = layout["layers"]
        prog["u_bias_col"].value = layout["bias_col"]
        prog["u_weights"].value = 0

    def release(self) -> None:
        for name in ("_fbo", "_tex", "_vao", "_vbo", "_program"):
            obj = getattr(self, name, None)
            if obj is not None:
                try:
                    obj.release()
                except Exception:  # pragma: no cover - context already gone
                    pass
                setattr(self, name, None)
        if self.owns_ctx and getattr(self, "ctx", None) is not None:
            try:
                self.ctx.release()
            except Exception:  # pragma: no cover
                pass
            self.ctx = None

    # -- drawing -----------------------------------------------------------------------------
    def _set_uniforms(self, params: FrameParams, width: int, height: int, origin, flip: bool):
        if self._program is None:
            raise RenderError("this GL renderer was released")
        lay, prog = self._layout, self._program
        extras = np.asarray(params.extras, np.float32).reshape(-1)
        if extras.size != self.weights.extra_inputs:
            raise RenderError(f"this style takes {self.weights.extra_inputs} extra inputs, "
                              f"the parameters have {extras.size}")
        inputs = np.zeros(lay["maxv"] * 4, np.float32)
        inputs[3 : 3 + extras.size] = extras
        prog["u_inputs"].write(inputs.tobytes())
        prog["u_window"].value = window_for(width, height)
        prog["u_size"].value = (float(width), float(height))
        prog["u_origin"].value = (float(origin[0]), float(origin[1]))
        prog["u_flip"].value = 1.0 if flip else 0.0
        # GLSL matrices are column-major: write the transpose of the row-major numpy matrix.
        prog["u_coord"].write(params.coord_matrix().T.astype(np.float32).tobytes())
        prog["u_color"].write(params.color_matrix().T.astype(np.float32).tobytes())
        prog["u_warp"].value = float(params.warp)
        prog["u_warp_phase"].value = float(params.warp_phase)

    def _draw(self):
        ctx = self.ctx
        ctx.disable(self._moderngl.BLEND | self._moderngl.DEPTH_TEST | self._moderngl.CULL_FACE)
        self._tex.use(location=0)
        self._vao.render(self._moderngl.TRIANGLE_STRIP)

    def render_to(self, framebuffer, params: FrameParams, width: int, height: int,
                  origin: tuple[int, int] = (0, 0)) -> None:
        """Draw into ``framebuffer`` (e.g. Qt's, via ``ctx.detect_framebuffer``) at the
        viewport ``origin`` + (width, height), upright on screen. Needs the context current."""
        self._set_uniforms(params, width, height, origin, flip=False)
        framebuffer.use()
        self.ctx.viewport = (int(origin[0]), int(origin[1]), int(width), int(height))
        self._draw()

    def render(self, params: FrameParams, width: int, height: int) -> np.ndarray:
        width, height = int(width), int(height)
        window_for(width, height)  # validates the size
        if self._fbo_size != (width, height):
            if self._fbo is not None:
                self._fbo.release()
            self._fbo = self.ctx.simple_framebuffer((width, height), components=4)
            self._fbo_size = (width, height)
        self._set_uniforms(params, width, height, (0, 0), flip=True)
        self._fbo.use()
        self.ctx.viewport = (0, 0, width, height)
        self._draw()
        data = self._fbo.read(components=3, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(height, width, 3)
