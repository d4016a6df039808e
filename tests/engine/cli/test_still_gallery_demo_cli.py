"""``sonolume still``, ``gallery`` and ``demo`` end to end."""

import html
import re

import pytest
from PIL import Image

from engine.cli import demo as demo_mod
from engine.cli.main import main
from engine.cppn.model import CPPN, CPPNConfig
from engine.styles.library import Library

EMBER = "seeded-pattern-01-ember-rings"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("sonolume: error: "), err
    return lines[0]


@pytest.mark.parametrize("name, size, fmt", [("out.png", "64x40", "PNG"),
                                              ("out.JPG", "33x17", "JPEG"),
                                              ("out.jpeg", "8X8", "JPEG")])
def test_still_writes_the_right_size_and_format(library_dir, tmp_path, capsys, name, size, fmt):
    path = tmp_path / name
    code, out, _ = run(capsys, "still", EMBER, "-o", path, "--size", size)
    assert code == 0 and "wrote" in out
    w, h = (int(v) for v in re.split("[xX]", size))
    with Image.open(path) as im:
        assert im.size == (w, h) and im.format == fmt and im.mode == "RGB"
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp file left


def test_still_by_name_with_extras_matches_render(library_dir, tmp_path, capsys):
    path = tmp_path / "x.png"
    extras = ",".join(["0.5"] * 9)
    assert run(capsys, "still", "Seeded pattern 01 - Ember rings", "-o", path, "--size",
               "16x16", "--extras", extras)[0] == 0
    import numpy as np

    from engine.cppn.model import to_uint8

    want = to_uint8(Library().get(EMBER).load_cppn().render(16, 16, [0.5] * 9))
    assert np.array_equal(np.asarray(Image.open(path)), want)


@pytest.mark.parametrize("args, message", [
    (["nope-style", "-o", "{tmp}/a.png"], "unknown style"),
    (["", "-o", "{tmp}/a.png"], "empty"),
    ([EMBER, "-o", "{tmp}/a.gif"], "use .png or .jpg"),
    ([EMBER, "-o", "{tmp}/noext"], "use .png or .jpg"),
    ([EMBER, "-o", "{tmp}/missing/a.png"], "does not exist"),
    ([EMBER, "-o", "{tmp}/dir.png"], "is a folder"),
    ([EMBER, "-o", "{tmp}/a.png", "--size", "0x10"], "bad size"),
    ([EMBER, "-o", "{tmp}/a.png", "--size", "big"], "bad size"),
    ([EMBER, "-o", "{tmp}/a.png", "--size", "99999x2"], "bad size"),
    ([EMBER, "-o", "{tmp}/a.png", "--extras", "1,2"], "takes 9 extra inputs"),
    ([EMBER, "-o", "{tmp}/a.png", "--extras", "a,b"], "bad --extras"),
])
def test_still_bad_input_is_one_line(library_dir, tmp_path, capsys, args, message):
    (tmp_path / "dir.png").mkdir()
    code, _, err = run(capsys, "still", *[a.format(tmp=tmp_path) for a in args])
    assert code == 2 and message in one_line_error(err)
    assert not (tmp_path / "a.png").exists()


def test_still_unwritable_output(library_dir, tmp_path, capsys, monkeypatch):
    import engine.cli.still as still

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(still.os, "replace", refuse)
    code, _, err = run(capsys, "still", EMBER, "-o", tmp_path / "a.png", "--size", "8x8")
    assert code == 2 and "Permission denied" in one_line_error(err)
    assert list(tmp_path.iterdir()) == []


def test_gallery_lists_every_style_with_badges(library_dir, tmp_path, capsys):
    lib = Library()
    small = CPPNConfig(hidden=8, layers=1, extra_inputs=0)
    lib.add(CPPN(small), {"name": "Jelly <script>", "trained": True, "score": 0.31,
                          "prompts": ["neon & jellyfish"],
                          "clip": {"model": "tiny-clip", "random": True}})
    lib.add(CPPN(small), {"name": "Real one", "trained": True, "score": 0.28,
                          "prompts": ["a forest"], "clip": {"model": "RN50",
                                                            "pretrained": "openai"}})
    out_dir = tmp_path / "gal"
    code, out, _ = run(capsys, "gallery", "-o", out_dir)
    assert code == 0
    page = (out_dir / "index.html").read_text()
    styles = lib.list()
    assert len(styles) >= 10
    for s in styles:
        assert f"<h2>{html.escape(s.name)}</h2>" in page and f"<code>{s.id}</code>" in page
    assert page.count('<article class="card') == len(styles)
    assert len(list((out_dir / "thumbs").glob("*.png"))) == len(styles)
    assert "Jelly &lt;script&gt;" in page and "<script>" not in page.split("<script>\n")[0]
    assert "neon &amp; jellyfish" in page and "RN50/openai" in page
    assert page.count('class="badge random"') >= 2  # the note and the jelly card
    assert "untrained · seeded pattern" in page and 'class="badge trained"' in page
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (out_dir / src).is_file()
    assert "http://" not in page and "https://" not in page  # self-contained
    # rebuilding after a delete drops its thumbnail
    lib.delete("real-one")
    assert run(capsys, "gallery", "-o", out_dir)[0] == 0
    assert len(list((out_dir / "thumbs").glob("*.png"))) == len(styles) - 1


def test_gallery_bad_output(library_dir, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = run(capsys, "gallery", "-o", f)
    assert code == 2 and "is a file" in one_line_error(err)
    code, _, err = run(capsys, "gallery", "-o", f / "sub")
    assert code == 2 and "cannot write the gallery" in one_line_error(err)


def test_demo_renders_contact_sheet_and_gallery(library_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(demo_mod, "STEPS", demo_mod.STEPS + [("extra", lambda ctx: [])])
    out = tmp_path / "out"
    code, text, _ = run(capsys, "demo", "--out", out, "--cell", "48", "--no-video")
    assert code == 0 and "contact sheet" in text and "extra" in text
    assert "skipped (--no-video)" in text and not (out / "demo.mp4").exists()
    bundled = [s for s in Library().list() if s.readonly]
    with Image.open(out / "contact_sheet.png") as im:
        rows = -(-len(bundled) // 5)
        assert im.size[0] == 12 + 5 * (48 + 12) and im.size[1] > rows * 48
    page = (out / "gallery" / "index.html").read_text()
    assert page.count('<article class="card') == len(bundled)
    assert not (out / ".no-user-library").exists()
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = run(capsys, "demo", "--out", f)
    assert code == 2 and "is a file" in one_line_error(err)
    code, _, err = run(capsys, "demo", "--out", out, "--cell", "5")
    assert code == 2 and "--cell" in one_line_error(err)


ICE = "seeded-pattern-08-ice-marble"
MOSAIC = "seeded-pattern-04-pastel-mosaic"


def _nudged_base_styles(lib):
    """Two styles 'fine-tuned' from the shared base: the base nudged two ways."""
    import torch

    from engine.cppn.base import BASE_ID, base_cppn

    styles = []
    for i in (1, 2):
        net = base_cppn()
        gen = torch.Generator().manual_seed(i)
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
        styles.append(lib.add(net, {"name": f"From base {i}", "trained": True,
                                    "base": BASE_ID}))
    return styles


def test_still_morph_draws_the_in_between(library_dir, tmp_path, capsys):
    import numpy as np

    from engine.cppn.model import to_uint8
    from engine.scene.morph import morph_network

    lib = Library()
    a, b = _nudged_base_styles(lib)
    path = tmp_path / "mid.png"
    code, out, err = run(capsys, "still", "--morph", a.name, b.id, "--amount", "0.25", "-o",
                         path, "--size", "20x12")
    assert code == 0 and "From base 1 -> From base 2 at 0.25" in out
    assert "sonolume-base-v1" in out and "smooth" not in err
    want = to_uint8(morph_network(a.load_cppn(), b.load_cppn(), 0.25).render(20, 12))
    with Image.open(path) as im:
        assert im.size == (20, 12) and np.array_equal(np.asarray(im), want)
    # the default amount is the middle, and 0 / 1 are the styles themselves
    code, out, _ = run(capsys, "still", "--morph", a.id, b.id, "-o", path, "--size", "8x8")
    assert code == 0 and "at 0.5" in out
    assert run(capsys, "still", "--morph", a.id, b.id, "--amount", "1", "-o", path,
               "--size", "8x8")[0] == 0
    assert np.array_equal(np.asarray(Image.open(path)), to_uint8(b.load_cppn().render(8, 8)))


def test_still_morph_says_when_a_pair_is_not_smooth(library_dir, tmp_path, capsys):
    # two bundled patterns, independently initialised: measured 4.2x a crossfade's step
    code, out, err = run(capsys, "still", "--morph", EMBER, MOSAIC, "-o", tmp_path / "m.png",
                         "--size", "16x16")
    assert code == 0 and "wrote" in out and (tmp_path / "m.png").is_file()
    assert "do not morph smoothly" in err and "crossfade" in err


def test_still_morph_refuses_other_shapes_and_bad_amounts(library_dir, tmp_path, capsys):
    Library().add(CPPN(CPPNConfig(hidden=8, layers=1, extra_inputs=0)),
                  {"name": "Tiny", "trained": False})
    out = tmp_path / "a.png"
    for args, message in [
        (["--morph", EMBER, "Tiny"], "they differ in shape (4x128, 9 extra inputs vs 1x8, "
                                     "0 extra inputs)"),
        (["--morph", EMBER, ICE, "--amount", "-0.1"], "--amount must be a number from 0"),
        (["--morph", EMBER, ICE, "--amount", "1.5"], "--amount must be a number from 0"),
        (["--morph", EMBER, ICE, "--amount", "nan"], "got nan"),
        (["--morph", EMBER, ICE, "--amount", "inf"], "--amount must be a number from 0"),
        (["--morph", EMBER, "nope-style"], "unknown style"),
        ([EMBER, "--morph", EMBER, ICE], "either STYLE or --morph A B"),
        ([EMBER, "--amount", "0.5"], "--amount goes with --morph"),
        ([], "give a STYLE"),
    ]:
        code, _, err = run(capsys, "still", *args, "-o", out, "--size", "8x8")
        assert code == 2 and message in one_line_error(err), (args, err)
        assert not out.exists()
