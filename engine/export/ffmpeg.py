"""The ffmpeg that imageio-ffmpeg bundles: finding it, the encode command, and a probe.

The bundled binary (libx264 + AAC) means users need no system ffmpeg. There is no ffprobe
in the bundle, so :func:`probe` reads what ``ffmpeg -i`` prints and, for exact stream
durations, lets ffmpeg run each stream through the null muxer and reports its last
``time=`` (audio is decoded, so AAC priming and padding are accounted for).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction

from engine.errors import SonolumeError


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # imageio-ffmpeg raises RuntimeError when no binary fits
        raise SonolumeError(f"no ffmpeg available to encode video: {exc}") from exc


def fps_text(fps: float) -> str:
    """An exact rational for ffmpeg (29.97 -> 30000/1001)."""
    f = Fraction(fps).limit_denominator(1001)
    return f"{f.numerator}/{f.denominator}" if f.denominator != 1 else str(f.numerator)


@dataclass(frozen=True)
class Encoding:
    crf: int
    preset: str
    audio_bitrate: str = "192k"


def encode_command(exe: str, out: str, *, frame_size: tuple[int, int],
                   out_size: tuple[int, int], fps: float, audio: str | None, start: float,
                   duration: float, encoding: Encoding, audio_channels: int = 2,
                   audio_rate: int = 48000, comment: str = "") -> list[str]:
    """Raw RGB frames on stdin (+ the track's segment) -> H.264 yuv420p + AAC MP4."""
    rw, rh = frame_size
    w, h = out_size
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{rw}x{rh}",
           "-framerate", fps_text(fps), "-i", "pipe:0"]
    if audio is not None:
        cmd += ["-ss", f"{start:.6f}", "-t", f"{duration:.6f}", "-i", audio]
    vf = []
    if (rw, rh) != (w, h):
        # Upscaling a smooth CPPN: bicubic is sharp enough; downscaling (supersampled
        # "high"): area averaging is the right filter.
        flags = "bicubic" if rw * rh < w * h else "area"
        vf.append(f"scale={w}:{h}:flags={flags}")
    vf.append("format=yuv420p")
    cmd += ["-map", "0:v:0"]
    if audio is not None:
        cmd += ["-map", "1:a:0"]
    cmd += ["-vf", ",".join(vf), "-c:v", "libx264", "-preset", encoding.preset,
            "-crf", str(encoding.crf), "-pix_fmt", "yuv420p", "-r", fps_text(fps)]
    if audio is not None:
        cmd += ["-c:a", "aac", "-b:a", encoding.audio_bitrate, "-ac", str(audio_channels),
                "-ar", str(audio_rate)]
    if comment:
        cmd += ["-metadata", f"comment={comment}"]
    cmd += ["-t", f"{duration:.6f}", "-movflags", "+faststart", "-f", "mp4", out]
    return cmd


def explain_failure(stderr: str) -> str:
    """One readable reason from ffmpeg's error output."""
    text = stderr.strip()
    low = text.lower()
    if "no space left" in low:
        return "the disk is full"
    if "permission denied" in low:
        return "permission denied writing the video"
    if "invalid data found" in low or "could not find codec" in low:
        return "ffmpeg cannot read the audio track"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "ffmpeg stopped without saying why"


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_TIME = re.compile(r"time=\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_FRAME = re.compile(r"frame=\s*(\d+)")
_FPS = re.compile(r"(\d+(?:\.\d+)?) fps")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+).*?, (\d+) Hz, ([\w.()]+)")


def _seconds(m) -> float:
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _run(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=300,
                              errors="replace").stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SonolumeError(f"cannot run ffmpeg: {exc}") from exc


def probe(path, streams: bool = True) -> dict:
    """Container and stream facts of a media file: ``duration``, ``video`` (codec, width,
    height, frames, duration) and ``audio`` (codec, sample_rate, layout, duration), the
    latter two None when absent. ``streams=False`` skips the per-stream passes."""
    exe = ffmpeg_exe()
    head = _run([exe, "-hide_banner", "-nostdin", "-i", str(path)])
    if "Invalid data found" in head or "No such file" in head:
        raise SonolumeError(f"not a readable media file: {path}")
    m = _DURATION.search(head)
    info: dict = {"duration": _seconds(m) if m else None, "video": None, "audio": None}
    v = _VIDEO.search(head)
    if v:
        info["video"] = {"codec": v.group(1), "width": int(v.group(2)),
                         "height": int(v.group(3))}
        info["video"]["pix_fmt"] = "yuv420p" if "yuv420p" in head else None
    a = _AUDIO.search(head)
    if a:
        info["audio"] = {"codec": a.group(1), "sample_rate": int(a.group(2)),
                         "layout": a.group(3)}
    if streams:
        for kind, codec in (("video", ["-c", "copy"]), ("audio", [])):
            if info[kind] is None:
                continue
            out = _run([exe, "-hide_banner", "-nostdin", "-i", str(path), "-map",
                        f"0:{kind[0]}:0", *codec, "-f", "null", "-"])
            times = list(_TIME.finditer(out))
            info[kind]["duration"] = _seconds(times[-1]) if times else None
            if kind == "video":
                frames = _FRAME.findall(out)
                info[kind]["frames"] = int(frames[-1]) if frames else None
                fps = _FPS.search(head)
                if frames and fps:  # exact: frames / rate, not the last packet's time
                    info[kind]["fps"] = float(fps.group(1))
                    info[kind]["duration"] = int(frames[-1]) / float(fps.group(1))
    return info
