"""Hostile and odd pictures given to ``sonolume spatial`` (issue 10): each is refused in one
clear line or handled, never a traceback, a bare NaN in the JSON, or gigabytes of memory."""

import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from engine.cli.main import main
from engine.errors import SonolumeError
from engine.spatial.pictures import (
    MAX_SIDE,
    PictureTooLarge,
    fit_size,
    load_picture,
    read_image,
)


def claimed_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height``, with almost no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _no_nan(text):
    raise ValueError(f"{text} is not JSON")


def test_one_pixel_png_prints_text_and_strict_json(tmp_path, tiny_clip_config, capsys):
    png = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (200, 10, 10)).save(png)
    args = ["spatial", str(png), "--clip-config", str(tiny_clip_config), "--no-cache",
            "-o", str(tmp_path / "dot-map.png")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "undefined (a single patch has no neighbours)" in out
    assert main([*args, "--json"]) == 0
    text = capsys.readouterr().out
    report = json.loads(text, parse_constant=_no_nan)  # NaN is not JSON
    panel = report["panels"][0]
    assert panel["values"] == [[None]] and panel["mean"] is None
    assert panel["best_patch"] is None and report["coherence"] is None


@pytest.mark.parametrize("side,claim", [(50000, "more than"), (12000, "12000x12000"),
                                        (10000, "10000x10000")])
def test_pictures_claiming_huge_sizes_are_refused_before_decoding(tmp_path, capsys, side,
                                                                  claim, tiny_clip_config):
    png = tmp_path / "bomb.png"
    png.write_bytes(claimed_png(side, side))
    assert png.stat().st_size < 150
    with pytest.raises(PictureTooLarge, match="too large"):
        load_picture(png)
    rc = main(["spatial", str(png), "--clip-config", str(tiny_clip_config), "--no-cache",
               "-o", str(tmp_path / "o.png")])
    assert rc == 2
    err = capsys.readouterr().err
    assert claim in err and "megapixels" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_truncated_png_within_the_bound_is_a_clear_error(tmp_path):
    png = tmp_path / "cut.png"
    png.write_bytes(claimed_png(2000, 2000))
    with pytest.raises(SonolumeError, match="cannot read .* as an image: .*truncated"):
        load_picture(png)


def test_big_pictures_are_scaled_down_before_patching(tmp_path):
    wide = tmp_path / "wide.png"
    Image.new("RGB", (5000, 100), (10, 200, 30)).save(wide)
    img, info = load_picture(wide)
    assert img.shape == (82, MAX_SIDE, 3) and img.dtype == np.uint8
    assert info["scaled_from"] == [5000, 100]
    assert np.abs(img.reshape(-1, 3).mean(0) - (10, 200, 30)).max() < 2
    # a JPEG is decoded at a reduced scale, then resized to the bound exactly
    jpg = tmp_path / "photo.jpg"
    Image.new("RGB", (1600, 1200), (200, 100, 50)).save(jpg, quality=95)
    img, size = read_image(jpg, max_side=300)
    assert img.shape == (225, 300, 3) and size == (1600, 1200)
    small, info = load_picture(jpg)
    assert small.shape == (1200, 1600, 3) and "scaled_from" not in info


def test_fit_size():
    assert fit_size(8000, 6000, 4096) == (4096, 3072)
    assert fit_size(100, 50, 4096) == (100, 50)
    assert fit_size(10000, 1, 100) == (100, 1)


def test_video_frames_are_scaled_to_the_bound(tmp_path):
    from spatial_fakes import write_video

    video = tmp_path / "v.mp4"
    write_video(video, [(200, 0, 0), (0, 200, 0)], size=(96, 64))
    img, info = load_picture(video, 1, max_side=48)
    assert img.shape == (32, 48, 3) and info["scaled_from"] == [96, 64]
    assert img.reshape(-1, 3).mean(0)[1] > 150


def test_audio_file_says_it_has_no_video_stream(tmp_path, tiny_clip_config, capsys):
    import soundfile as sf

    wav = tmp_path / "tone.wav"
    sf.write(wav, np.sin(np.arange(8000) / 5).astype(np.float32), 8000)
    assert main(["spatial", str(wav), "--clip-config", str(tiny_clip_config)]) == 2
    assert "it is not an image, and it has no video stream" in capsys.readouterr().err
    mp4_named = tmp_path / "tone.mp4"
    mp4_named.write_bytes(wav.read_bytes())
    with pytest.raises(SonolumeError, match="has no video stream"):
        load_picture(mp4_named)


def test_the_map_cache_removes_what_a_killed_run_left(tmp_path):
    import os
    import time

    from spatial_fakes import ColourClip, halves

    from engine.atomic import temp_path
    from engine.spatial.maps import _cache_path, cache_key, compute_map

    clip, img = ColourClip(), halves()
    first = compute_map(clip, img, cache=tmp_path)
    path = _cache_path(tmp_path, cache_key(img, clip, first.grid))
    stale = temp_path(path)
    stale.write_bytes(b"half a map")
    old = time.time() - 7 * 3600
    os.utime(stale, (old, old))
    path.unlink()
    assert compute_map(clip, img, cache=tmp_path).info["cached"] is False
    assert path.is_file() and not stale.exists()
