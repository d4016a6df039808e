"""The CPPN: a coordinate network whose pixels CLIP learns to like."""

from engine.cppn.model import CPPN, CPPNConfig, coordinate_grid

__all__ = ["CPPN", "CPPNConfig", "coordinate_grid"]
