import json

import numpy as np
import pytest

from engine.audio.features import AudioFeatures, beat_grid
from engine.cppn.model import CPPN, CPPNConfig
from engine.errors import SonolumeError
from engine.reactive import (
    FrameParams,
    ParamTrack,
    PresetError,
    color_matrix,
    compute_params,
    list_presets,
    load_preset,
    preset_from_json,
    save_preset,
    smooth,
)
from engine.render import TorchRenderer

FPS = 15.0
SMALL = CPPNConfig(hidden=32, layers=3)  # motion tests render hundreds of frames


def make_features(loud: np.ndarray, tempo: float = 120.0, seed: int = 0,
                  fps: float = FPS) -> AudioFeatures:
    """Plausible features for a track whose loudness per frame is ``loud`` in [0, 1]."""
    rng = np.random.default_rng(seed)
    n = len(loud)
    duration = n / fps
    beats = np.arange(0.25, duration, 60.0 / tempo)
    phase, pulse = beat_grid(beats, tempo, n, fps)
    rms = np.clip(loud + 0.02 * rng.standard_normal(n), 0, 1)
    perc = rms * (0.3 + 0.5 * pulse)
    harm = np.sqrt(np.maximum(rms**2 - perc**2, 0))
    chroma = np.abs(rng.standard_normal((n, 12))) * rms[:, None]
    chroma /= np.maximum(chroma.max(axis=1, keepdims=True), 1e-6)
    f32 = np.float32
    return AudioFeatures(
        fps=fps, duration=duration, sample_rate=22050, tempo=tempo,
        beat_times=beats.astype(np.float64),
        rms=rms.astype(f32), onset=(pulse * rms).astype(f32), beat_phase=phase,
        beat_pulse=pulse, harmonic=harm.astype(f32), percussive=perc.astype(f32),
        bass=(1 + 0.8 * (pulse - 0.3) * rms).astype(f32), mid=np.ones(n, f32),
        treble=(1 + 0.3 * rng.standard_normal(n) * rms).clip(0, 4).astype(f32),
        centroid=(0.3 + 0.4 * rms).astype(f32), chroma=chroma.astype(f32),
    )


def sections(pattern, seconds: float, fps: float = FPS) -> np.ndarray:
    return np.repeat(np.asarray(pattern, np.float64), int(seconds * fps))


def frame_changes(cppn, track: ParamTrack, size=(48, 27)) -> np.ndarray:
    r = TorchRenderer(cppn)
    frames = [r.render(track.frame(i), *size).astype(np.float32) for i in range(track.n_frames)]
    return np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])


# -- presets -------------------------------------------------------------------------------

def test_builtin_presets_load_and_round_trip():
    names = list_presets()
    assert {"calm", "punchy", "club"} <= set(names)
    for name in names:
        p = load_preset(name)
        assert p.name == name and p.description and p.targets
        assert preset_from_json(json.loads(json.dumps(p.to_json()))).targets == p.targets


def test_user_presets_live_in_the_library_and_shadow_builtins(library_dir):
    p = load_preset("calm")
    mine = preset_from_json({**p.to_json(), "name": "mine"})
    path = save_preset(mine)
    assert path == library_dir / "reactivity" / "mine.json"
    assert "mine" in list_presets() and load_preset("mine").targets == p.targets
    # same name as a built-in: the user's wins
    louder = preset_from_json({"name": "calm", "targets": {"zoom": {"source": "rms"}}})
    save_preset(louder)
    assert list(load_preset("calm").targets) == ["zoom"]
    assert load_preset(str(path)).name == "mine"  # by path too


@pytest.mark.parametrize("data, words", [
    ({"name": "x", "targets": {"zoom": {"source": "loudness"}}}, "unknown source 'loudness'"),
    ({"name": "x", "targets": {"spin": {"source": "rms"}}}, "unknown targets spin"),
    ({"name": "x", "targets": {"zoom": {"source": "rms", "strength": "lots"}}}, "number"),
    ({"name": "x", "targets": {"zoom": {"source": "rms", "strength": 1e9}}}, "between"),
    ({"name": "x", "targets": {"zoom": {"source": "rms", "mode": "speed"}}}, "always a level"),
    ({"name": "x", "targets": {"tone": {"source": "rms"}}}, "chroma"),
    ({"name": "x", "targets": {"zoom": {"source": "rms", "gain": 2}}}, "unknown keys: gain"),
    ({"name": "../evil", "targets": {}}, "'name'"),
    ([1, 2], "JSON object"),
])
def test_bad_presets_get_clear_errors(data, words):
    with pytest.raises(PresetError, match=words):
        preset_from_json(data)


def test_unreadable_or_unknown_preset_files(tmp_path, library_dir):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PresetError, match="cannot read"):
        load_preset(str(bad))
    with pytest.raises(PresetError, match="unknown reactivity preset 'nope'.*punchy"):
        load_preset("nope")
    folder = library_dir / "reactivity"
    folder.mkdir(parents=True)
    (folder / "broken.json").write_bytes(b"\xff\xfe\x00garbage")
    assert "broken" in list_presets()  # listed, and loading it says what is wrong
    with pytest.raises(SonolumeError, match="broken.json"):
        load_preset("broken")


# -- parameters ----------------------------------------------------------------------------

def test_smoothing_is_causal_and_starts_at_first_value():
    x = np.r_[np.zeros(10), np.ones(30)]
    y = smooth(x, 0.2, 30)
    assert y[0] == 0 and np.all(y[:10] == 0) and np.all(np.diff(y[10:]) >= 0)
    assert 0.5 < y[16] < 0.7  # ~one time constant (6 frames) after the step: 1 - 1/e
    assert np.array_equal(smooth(x, 0, 30), x)


def test_color_matrix_keeps_greys_and_turns_colours():
    assert np.allclose(color_matrix(0, 1), np.eye(3), atol=1e-6)
    assert np.allclose(color_matrix(1, 1), np.eye(3), atol=1e-5)
    grey = np.array([0.4, 0.4, 0.4])
    assert np.allclose(color_matrix(0.37, 1) @ grey, grey, atol=1e-6)
    red = color_matrix(1 / 3, 1) @ np.array([1.0, 0, 0])
    assert np.allclose(red, [0, 1, 0], atol=1e-5)  # a third of a turn: red -> green
    assert np.allclose(color_matrix(0, 1.5) @ grey, 1.5 * grey)


def test_params_shapes_ranges_and_determinism():
    feats = make_features(sections([0.1, 0.9, 0.3], 2))
    a = compute_params(feats, "club", extra_inputs=9, seed=1)
    assert a.n_frames == feats.n_frames and a.extras.shape == (feats.n_frames, 9)
    assert a.extras.dtype == np.float32 and np.isfinite(a.extras).all()
    assert a.zoom.min() >= 0.25 and a.zoom.max() <= 4 and (a.warp >= 0).all()
    b = compute_params(feats, "club", extra_inputs=9, seed=1)
    assert np.array_equal(a.extras, b.extras) and np.array_equal(a.hue, b.hue)
    c = compute_params(feats, "club", extra_inputs=9, seed=2)
    assert not np.allclose(a.extras, c.extras)
    assert compute_params(feats, "punchy", extra_inputs=0).extras.shape == (feats.n_frames, 0)


def test_at_matches_frames_and_interpolates():
    track = compute_params(make_features(sections([0.2, 0.8], 1)), "punchy", extra_inputs=9)
    for i in (0, 5, track.n_frames - 1):
        p, q = track.at(i / track.fps), track.frame(i)
        assert np.array_equal(p.extras, q.extras) and p.zoom == q.zoom
    mid = track.at(5.5 / track.fps)
    assert np.allclose(mid.extras, (track.extras[5] + track.extras[6]) / 2, atol=1e-6)
    assert np.isclose(mid.rotation, (track.rotation[5] + track.rotation[6]) / 2)
    assert np.array_equal(track.at(-3).extras, track.extras[0])
    assert np.array_equal(track.at(1e9).extras, track.extras[-1])


def test_silence_settles_the_picture():
    quiet = compute_params(make_features(np.zeros(60)), "punchy", extra_inputs=9)
    loud = compute_params(make_features(np.full(60, 0.9)), "punchy", extra_inputs=9)
    step_q = np.abs(np.diff(quiet.extras, axis=0)).mean()
    step_l = np.abs(np.diff(loud.extras, axis=0)).mean()
    assert step_l > 4 * step_q


def test_features_of_the_wrong_length_are_a_clear_error():
    feats = make_features(np.full(30, 0.5))
    feats.rms = feats.rms[:10]
    with pytest.raises(SonolumeError, match="frames"):
        compute_params(feats, "punchy")


# -- what a viewer sees --------------------------------------------------------------------

def test_motion_follows_the_tracks_energy():
    """Frame-to-frame change correlates with loudness on a track with loud/quiet parts."""
    loud = sections([0.05, 0.9, 0.1, 0.8, 0.05, 1.0], 3.0, fps=10)
    feats = make_features(loud, fps=10)
    cppn = CPPN(SMALL, seed=4)
    for preset in ("calm", "punchy", "club"):
        change = frame_changes(cppn, compute_params(feats, preset, extra_inputs=9), (40, 22))
        r = np.corrcoef(change, feats.rms[1:])[0, 1]
        assert r > 0.5, f"{preset}: r = {r:.2f}"


def test_same_style_moves_differently_on_different_tracks():
    cppn = CPPN(SMALL, seed=4)
    a = make_features(sections([0.1, 0.9, 0.1, 0.9], 1.5), tempo=90, seed=1)
    b = make_features(sections([0.9, 0.1, 0.9, 0.1], 1.5), tempo=174, seed=2)
    ca = frame_changes(cppn, compute_params(a, "punchy", extra_inputs=9))
    cb = frame_changes(cppn, compute_params(b, "punchy", extra_inputs=9))
    assert np.corrcoef(ca, cb)[0, 1] < 0  # busy where the other is calm
    assert np.abs(ca - cb).mean() > 0.5 * min(ca.mean(), cb.mean())


def test_neutral_params_draw_the_style_as_trained():
    cppn = CPPN(seed=2)
    from engine.cppn.model import to_uint8

    img = TorchRenderer(cppn).render(FrameParams.neutral(9), 40, 30)
    assert np.array_equal(img, to_uint8(cppn.render(40, 30)))


def test_renderers_get_frameparams_without_the_mapping():
    """engine.render needs FrameParams only: importing it must not load the reactive
    mapping or the preset files (the back-arrow of issue 10)."""
    import subprocess
    import sys

    code = ("import sys, engine.render; "
            "print(sorted(m for m in sys.modules if m.startswith('engine.reactive')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['engine.reactive', 'engine.reactive.params']"
    import engine.reactive as reactive

    assert reactive.compute_params is compute_params and "load_preset" in dir(reactive)


def test_gains_scale_targets_frame_by_frame():
    feats = make_features(sections([0.2, 0.9], 4.0))
    n = feats.n_frames
    plain = compute_params(feats, "punchy", extra_inputs=9, seed=2)
    ones = compute_params(feats, "punchy", extra_inputs=9, seed=2,
                          gains={"zoom": np.ones(n), "pulse": 1.0})
    assert np.allclose(ones.zoom, plain.zoom) and np.allclose(ones.extras, plain.extras)
    half = np.where(np.arange(n) < n // 2, 1.0, 0.0)
    gated = compute_params(feats, "punchy", extra_inputs=9, seed=2,
                           gains={"zoom": half, "hue": half})
    assert np.allclose(gated.zoom[: n // 2], plain.zoom[: n // 2])
    assert np.all(gated.zoom[n // 2:] == 1.0)  # exp(0)
    assert np.all(gated.hue[n // 2:] == 0.0) and np.any(plain.hue[n // 2:] != 0.0)
    with pytest.raises(SonolumeError, match="no reactivity target 'wobble'"):
        compute_params(feats, "punchy", gains={"wobble": 1.0})
    with pytest.raises(SonolumeError, match="NaN"):
        compute_params(feats, "punchy", gains={"zoom": np.full(n, np.nan)})


def test_the_walk_is_the_same_closed_form_with_its_draws_cached():
    """latent_walk draws its frequencies and phases once per (seed, shape); the values are
    the seeded closed form, whichever position is asked first."""
    import math

    from engine.reactive.mapping import WALK_FREQS, WALK_TERMS, latent_walk

    seed, e = 1234, 5
    rng = np.random.default_rng([seed, e, 1])
    freqs = rng.uniform(*WALK_FREQS, size=(WALK_TERMS, e))
    phases = rng.uniform(0, 2 * math.pi, size=(WALK_TERMS, e))
    pos = np.array([0.0, 0.37, 12.5])
    expected = np.sin(2 * math.pi * freqs[None] * pos[:, None, None] + phases[None]).sum(
        axis=1) * math.sqrt(2.0 / WALK_TERMS)
    for _ in range(2):  # drawn, then cached
        assert np.array_equal(latent_walk(pos, e, seed), expected)
    assert np.array_equal(latent_walk(pos[1:2], e, seed)[0], expected[1])
    assert not np.array_equal(latent_walk(pos, e, seed + 1), expected)
