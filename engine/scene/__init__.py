"""Scenes: what is drawn at every instant of a track, one style or a show of several.

    from engine.scene import Scene, SceneDrawer
    scene = Scene.single(style, features=features, preset="punchy")
    frame = scene.frame_at(12.5)                    # styles, weights, FrameParams
    image = SceneDrawer(make=renderer_for_cppn).draw(frame, 1280, 720)

:mod:`engine.scene.arrange` places segments on bars and sections, :mod:`engine.scene.show`
reads and writes show files, :mod:`engine.scene.automation` holds the control lanes.
"""

from engine.scene.automation import CONTROLS, Automation, AutomationError, Lane
from engine.scene.draw import SceneDrawer
from engine.scene.scene import (
    CUT,
    TRANSITIONS,
    Frame,
    Layer,
    Scene,
    SceneError,
    Segment,
    Transition,
    Window,
)
from engine.scene.timing import BeatGrid

__all__ = [
    "CONTROLS", "CUT", "TRANSITIONS", "Automation", "AutomationError", "BeatGrid", "Frame",
    "Lane", "Layer", "Scene", "SceneDrawer", "SceneError", "Segment", "Transition", "Window",
]
