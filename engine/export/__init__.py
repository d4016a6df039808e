"""MP4 export: a Scene (one style or a show) reacting to a track, H.264 + AAC through the
bundled ffmpeg.

    from engine.export import ExportRequest, export
    result = export(ExportRequest(scene, "out.mp4", size=(1280, 720), quality="fast"))

``export_video(style, "track.mp3", "out.mp4", ...)`` is the one-style shortcut.
"""

from engine.export.ffmpeg import ffmpeg_exe, probe
from engine.export.sizes import OUTPUT_SIZES, OutputSize, parse_output_size
from engine.export.video import (
    QUALITIES,
    SIZES,
    ExportProgress,
    ExportRequest,
    ExportResult,
    Quality,
    QualityChoice,
    choose_quality,
    export,
    export_video,
    render_size_for,
)

__all__ = ["OUTPUT_SIZES", "QUALITIES", "SIZES", "ExportProgress", "ExportRequest",
           "ExportResult", "OutputSize", "Quality", "QualityChoice", "choose_quality",
           "export", "export_video", "ffmpeg_exe", "parse_output_size", "probe",
           "render_size_for"]
