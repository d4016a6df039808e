"""The shared base network: deterministic, the trainer's default start, recorded in the
style, and old runs keep their independent start."""

import dataclasses
import json

import pytest
import torch

from engine.cli.main import main
from engine.cppn.base import BASE_ID, base_cppn, check_base, weights_digest
from engine.cppn.model import CPPN, CPPNConfig
from engine.cppn.train import Prompt, TrainConfig, Trainer
from engine.errors import SonolumeError
from engine.styles.library import Library

# The default-architecture base, pinned: if torch ever draws its CPU generator differently,
# "sonolume-base-v1" would silently become another network and new styles would no longer
# share a start with old ones. Then this fails, and the fix is a new base id, not a new pin.
BASE_V1_DIGEST = "f121bb703475ffde0ce4226fad11067d073198b634ebbd61e5c64d893e3703a0"


def small(independent=False, **kw):
    base = dict(schedule=[(6, 40)], cutouts=1)
    base.update(kw)
    cfg = TrainConfig.from_preset("draft", [Prompt("a red sunset")], **base)
    return dataclasses.replace(cfg, base=None) if independent else cfg


def test_the_base_is_deterministic_and_pinned():
    a, b = base_cppn(), base_cppn()
    assert a is not b and weights_digest(a) == weights_digest(b)
    assert weights_digest(a) == BASE_V1_DIGEST
    # seed 0 is the trainer's default seed: a default run starts where it always did
    assert weights_digest(a) == weights_digest(CPPN(seed=0))
    assert weights_digest(a) != weights_digest(CPPN(seed=1))
    tiny = CPPNConfig(hidden=16, layers=2)
    assert weights_digest(base_cppn(tiny)) == weights_digest(base_cppn(tiny))


def test_unknown_base_is_refused():
    with pytest.raises(SonolumeError, match="unknown base network 'nope'"):
        check_base("nope")
    with pytest.raises(SonolumeError, match="unknown base"):
        small(base="nope")
    check_base(None)


def test_every_run_starts_from_the_base_unless_independent(tiny_clip):
    base = weights_digest(base_cppn())
    for seed in (0, 7):
        assert weights_digest(Trainer(small(seed=seed), tiny_clip).cppn) == base
    ind = Trainer(small(seed=7, independent=True), tiny_clip).cppn
    assert weights_digest(ind) == weights_digest(CPPN(seed=7)) != base
    # different seeds still give different styles (other cutouts and jitter)
    r0 = Trainer(small(seed=0), tiny_clip).run()
    r7 = Trainer(small(seed=7), tiny_clip).run()
    assert not torch.equal(r0.cppn.out.weight, r7.cppn.out.weight)
    assert r0.style_meta("x")["base"] == BASE_ID
    assert Trainer(small(independent=True), tiny_clip).run().style_meta("x")["base"] is None


def test_a_run_saved_before_bases_resumes_as_independent(tiny_clip, tmp_path):
    cfg = small(seed=5, independent=True, schedule=[(8, 40)])
    full = Trainer(cfg, tiny_clip).run()
    part = Trainer(cfg, tiny_clip, tmp_path / "run")
    for _ in range(3):
        part.step()
    as_json = part.config.to_json
    # what runs written before this option look like: no "base" in their settings
    part.config.to_json = lambda: {k: v for k, v in as_json().items() if k != "base"}
    part.save_checkpoint()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "base" not in info["config"]
    assert TrainConfig.from_json(info["config"]).base is None
    resumed = Trainer.resume(tmp_path / "run", tiny_clip)
    assert resumed.config.base is None and resumed.iteration == 3
    result = resumed.run()
    for (k, va), vb in zip(full.cppn.state_dict().items(), result.cppn.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-6), k
    assert result.style_meta("old")["base"] is None


def test_train_cli_records_the_base_and_independent_opts_out(tmp_path, monkeypatch,
                                                           library_dir, tiny_clip_config,
                                                           capsys):
    monkeypatch.setenv("SONOLUME_RUNS", str(tmp_path / "runs"))
    common = ["--clip-config", str(tiny_clip_config), "--steps", "2", "--quiet", "--seed", "3"]
    assert main(["train", "glass", "--name", "Shared", *common]) == 0
    assert main(["train", "glass", "--name", "Own", "--independent", *common]) == 0
    capsys.readouterr()
    lib = Library(library_dir)
    assert lib.get("Shared").meta["base"] == BASE_ID
    assert lib.get("Own").meta["base"] is None
