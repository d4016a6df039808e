import numpy as np
import pytest

from engine.errors import SonolumeError
from engine.nerv.data import file_sha256, load_frames, parse_hw, parse_split


def test_bunny_excerpt_decodes_resized_and_ignores_its_audio(bunny):
    frames = load_frames(bunny, (64, 128))  # the excerpt carries an AAC track
    assert frames.shape == (16, 64, 128, 3) and frames.dtype == np.uint8
    assert 40 < frames.mean() < 200 and frames.std() > 20  # a real picture, not blank
    small = load_frames(bunny, (32, 32), max_frames=5, step=2)
    assert small.shape == (5, 32, 32, 3)
    # centre crop of a 2:1 frame to a square keeps the middle: compare with a resize of
    # the middle half of the full frame
    mid = load_frames(bunny, (64, 64), max_frames=1)[0].astype(float)
    full = frames[0, :, 32:96].astype(float)
    assert np.abs(mid - full).mean() < 12


def test_sizes_are_height_by_width():
    assert parse_hw("128x256") == (128, 256)
    assert parse_hw(" 64 X 128 ") == (64, 128)
    for bad in ("128", "axb"):
        with pytest.raises(SonolumeError, match="HEIGHTxWIDTH"):
            parse_hw(bad)
    # one wording for size limits across Sonolume: "each side must be LO to HI"
    for bad in ("0x10", "4x4", "128x5000"):
        with pytest.raises(SonolumeError, match="each side must be 8 to 4096$"):
            parse_hw(bad)


def test_hnerv_split_meaning():
    s = parse_split("4_4_5")
    train, unseen = s.indices(12)
    assert train == [0, 1, 2, 3, 5, 6, 7, 8, 10, 11] and unseen == [4, 9]
    s = parse_split("3_4_5")  # position 3 is in neither set
    assert s.indices(10) == ([0, 1, 2, 5, 6, 7], [4, 9])
    assert s.role(3) == "skipped"
    assert parse_split("all").indices(3) == ([0, 1, 2], [])


def test_split_with_empty_unseen_set_is_an_error_that_suggests_a_fix():
    with pytest.raises(SonolumeError, match="4_4_5") as err:
        parse_split("4_5_5")  # HNeRV's default: no unseen frames at all
    assert "unseen" in str(err.value)
    with pytest.raises(SonolumeError, match="4_4_5"):
        parse_split("5_5_5")
    for bad in ("4_4", "a_b_c", "0_0_5", "4_3_5", "1_1_1", ""):
        with pytest.raises(SonolumeError):
            parse_split(bad)
    # a valid pattern can still leave a short video without unseen frames
    with pytest.raises(SonolumeError, match="no unseen frames"):
        parse_split("4_4_5").check_frames(4)
    assert parse_split("4_4_5").check_frames(5) == ([0, 1, 2, 3], [4])


def test_unreadable_and_missing_videos_are_clear_errors(tmp_path):
    with pytest.raises(SonolumeError, match="not found"):
        load_frames(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SonolumeError, match="cannot read"):
        load_frames(junk)


def test_hash_is_stable(bunny):
    assert file_sha256(bunny) == file_sha256(str(bunny))
    assert len(file_sha256(bunny)) == 64
