"""The regression fixture for "a one-segment scene draws exactly today's frames".

``python tests/engine/scene/regression_fixture.py`` wrote ``tests/data/scene-regression.npz``
with the code as it stood before the Scene existed (commit cc8606e): the raw RGB frames the
export piped into ffmpeg, and the frames the app's Stage drew (preset scaled by slider
amounts; the idle drift with no track). The inputs below are deterministic, so the test
rebuilds them and compares the new code path's frames byte for byte. Re-running this
script after the change would only prove the new code agrees with itself: don't.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "scene-regression.npz"
FPS = 10.0
SIZE = (64, 36)
TRACK_SECONDS = 4.0
EXPORT = {"start": 0.5, "duration": 2.0, "seed": 3, "reactivity": "punchy"}
AMOUNTS = {"zoom": 0.5, "pulse": 0.0, "hue": 1.5, "_all": 0.8}
STAGE_TIMES = (0.0, 0.35, 1.0, 2.05, 3.9)


def cppn():
    from engine.cppn.model import CPPN, CPPNConfig

    return CPPN(CPPNConfig(hidden=32, layers=3), seed=1)


def features():
    """Plausible features for a 4 s, 120 BPM track at 10 fps (no audio analysis)."""
    from engine.audio.features import AudioFeatures, beat_grid

    rng = np.random.default_rng(7)
    n = int(TRACK_SECONDS * FPS)
    beats = np.arange(0.25, TRACK_SECONDS, 0.5)
    phase, pulse = beat_grid(beats, 120.0, n, FPS)
    loud = 0.3 + 0.5 * (np.arange(n) >= n // 2)
    rms = np.clip(loud + 0.02 * rng.standard_normal(n), 0, 1)
    perc = rms * (0.3 + 0.5 * pulse)
    harm = np.sqrt(np.maximum(rms**2 - perc**2, 0))
    chroma = np.abs(rng.standard_normal((n, 12))) * rms[:, None]
    chroma /= np.maximum(chroma.max(axis=1, keepdims=True), 1e-6)
    f32 = np.float32
    return AudioFeatures(
        fps=FPS, duration=TRACK_SECONDS, sample_rate=22050, tempo=120.0,
        beat_times=beats.astype(np.float64), rms=rms.astype(f32),
        onset=(pulse * rms).astype(f32), beat_phase=phase, beat_pulse=pulse,
        harmonic=harm.astype(f32), percussive=perc.astype(f32),
        bass=(1 + 0.8 * (pulse - 0.3) * rms).astype(f32), mid=np.ones(n, f32),
        treble=(1 + 0.3 * rng.standard_normal(n) * rms).clip(0, 4).astype(f32),
        centroid=(0.3 + 0.4 * rms).astype(f32), chroma=chroma.astype(f32),
    )


def write_track(path: Path) -> Path:
    """4 s of a quiet chord: the export needs a real file for its length and sound."""
    import soundfile as sf

    sr = 22050
    t = np.arange(int(TRACK_SECONDS * sr)) / sr
    y = sum(0.1 * np.sin(2 * math.pi * f * t) for f in (220.0, 277.2, 329.6))
    sf.write(path, y.astype(np.float32), sr)
    return path


def _old_export_frames(tmp: Path) -> np.ndarray:
    from engine.export import export_video
    from engine.export import video as video_mod

    got: list[bytes] = []
    real_put = video_mod._Pipe.put

    def put(self, frame_bytes):
        got.append(bytes(frame_bytes))
        return real_put(self, frame_bytes)

    video_mod._Pipe.put = put
    try:
        export_video(cppn(), write_track(tmp / "track.wav"), tmp / "out.mp4", size=SIZE,
                     fps=FPS, quality="standard", renderer="torch", features=features(),
                     **EXPORT)
    finally:
        video_mod._Pipe.put = real_put
    return np.stack([np.frombuffer(b, np.uint8).reshape(SIZE[1], SIZE[0], 3) for b in got])


def _old_stage_frames() -> tuple[np.ndarray, np.ndarray]:
    """app/stage.py's effective_preset / _rebuild_params / params_at as they were."""
    from dataclasses import replace

    from engine.reactive import FrameParams, compute_params, latent_walk, load_preset
    from engine.render import TorchRenderer

    preset = load_preset("punchy")
    targets = {}
    for name, m in preset.targets.items():
        k = float(AMOUNTS.get(name, 1.0)) * float(AMOUNTS.get("_all", 1.0))
        if k > 0:
            targets[name] = replace(m, strength=m.strength * k, base=m.base * k)
    net = cppn()
    track = compute_params(features(), replace(preset, targets=targets),
                           extra_inputs=net.config.extra_inputs)
    r = TorchRenderer(net)
    with_track = np.stack([r.render(track.at(t), *SIZE) for t in STAGE_TIMES])
    idle = []
    for t in STAGE_TIMES:
        extras = latent_walk(np.array([t * 0.08]), 9, 0)[0] * 0.35
        idle.append(r.render(FrameParams(extras=extras.astype(np.float32),
                                         rotation=0.02 * t), *SIZE))
    return with_track, np.stack(idle)


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        export_frames = _old_export_frames(Path(tmp))
    stage_frames, idle_frames = _old_stage_frames()
    np.savez_compressed(FIXTURE, export=export_frames, stage=stage_frames, idle=idle_frames)
    print(f"wrote {FIXTURE}: export {export_frames.shape}, stage {stage_frames.shape}, "
          f"idle {idle_frames.shape}")


if __name__ == "__main__":
    main()
