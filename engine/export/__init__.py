"""MP4 export: a style reacting to a track, H.264 + AAC through the bundled ffmpeg.

    from engine.export import export_video
    result = export_video(style, "track.mp3", "out.mp4", size=(1280, 720), quality="fast")
"""

from engine.export.ffmpeg import ffmpeg_exe, probe
from engine.export.video import (
    QUALITIES,
    SIZES,
    ExportProgress,
    ExportResult,
    Quality,
    export_video,
    render_size_for,
)

__all__ = ["QUALITIES", "SIZES", "ExportProgress", "ExportResult", "Quality", "export_video",
           "ffmpeg_exe", "probe", "render_size_for"]
