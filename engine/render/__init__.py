"""Renderers: the CPPN drawn for given FrameParams, by an OpenGL shader or by torch.

    from engine.render import make_renderer
    renderer = make_renderer(cppn, "auto")          # measured choice, torch fallback
    frame = renderer.render(params, 1280, 720)      # (720, 1280, 3) uint8

For a Qt widget, pass its moderngl context: ``GLRenderer(cppn, ctx=moderngl.create_context())``
and draw with ``render_to(framebuffer, params, w, h)`` (see engine.render.gl_renderer).
"""

from engine.render.base import GLUnavailable, Renderer, RenderError, Weights, window_for
from engine.render.factory import KINDS, make_renderer, renderer_choices, torch_device
from engine.render.torch_renderer import TorchRenderer


def __getattr__(name):  # GLRenderer imports moderngl only when asked for
    if name in ("GLRenderer", "create_headless_context", "pack_weights"):
        from engine.render import gl_renderer

        return getattr(gl_renderer, name)
    raise AttributeError(name)


__all__ = [
    "GLRenderer", "GLUnavailable", "KINDS", "RenderError", "Renderer", "TorchRenderer",
    "Weights", "create_headless_context", "make_renderer", "pack_weights",
    "renderer_choices", "torch_device", "window_for",
]
