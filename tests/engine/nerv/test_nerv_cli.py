import json

import pytest

from engine.cli.main import main
from engine.nerv.train import NervTrainer

SMALL = ["--size", "32x64", "--model", "nerv-tiny", "--batch-size", "2", "--threads", "1",
         "--eval-every", "2"]
FAST = SMALL + ["--quiet"]


def test_train_eval_verify_end_to_end(synth_video, tmp_path, tiny_clip_config, capsys):
    out = tmp_path / "run"
    cache = str(tmp_path / "cache")
    rc = main(["nerv", "train", str(synth_video), "--epochs", "4", "--out", str(out),
               "--clip-config", str(tiny_clip_config), "--cache-dir", cache, *SMALL])
    captured = capsys.readouterr()
    text = captured.out
    assert "step/s" in captured.err or "s/step" in captured.err  # tqdm with rate and ETA
    assert rc == 0, text
    assert "random CLIP" in text
    assert "16 frames at 32x64 (HxW); split 4_4_5: 13 train, 3 unseen" in text
    assert "representation" in text and "clip_head" in text  # parameter counts
    assert "s/epoch" in text and "PSNR train" in text
    assert (out / "best.safetensors").is_file() and (out / "last.safetensors").is_file()

    assert main(["nerv", "eval", str(out)]) == 0
    text = capsys.readouterr().out
    assert "random CLIP" in text and "PSNR (dB)" in text and "CLIP head cos" in text
    assert "MS-SSIM needs a short side > 32 px" in text
    assert (out / "eval" / "frames.csv").read_text().count("\n") == 17

    assert main(["nerv", "verify", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["random_clip"] and report["retrieval"]["all"]["candidates"] == 16
    assert main(["nerv", "verify", str(out)]) == 0
    text = capsys.readouterr().out
    assert "beats all baselines" in text and "R@1" in text and "random CLIP" in text


def test_bad_split_exits_2_with_a_suggestion(synth_video, tmp_path, capsys):
    rc = main(["nerv", "train", str(synth_video), "--split", "4_5_5", "--clip-head", "none",
               "--out", str(tmp_path / "r"), *FAST])
    assert rc == 2
    assert "4_4_5" in capsys.readouterr().err
    assert main(["nerv", "train", str(synth_video), "--clip-head", "none"]) == 2
    assert "--out" in capsys.readouterr().err


def test_ctrl_c_saves_last_exits_130_and_resumes(synth_video, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real_step = NervTrainer.train_step
    calls = {"n": 0}

    def interrupted(self, idx):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real_step(self, idx)

    monkeypatch.setattr(NervTrainer, "train_step", interrupted)
    rc = main(["nerv", "train", str(synth_video), "--clip-head", "none", "--epochs", "3",
               "--out", str(out), *FAST])
    assert rc == 130
    assert "resume" in capsys.readouterr().err
    state = json.loads((out / "last.json").read_text())
    assert state["step"] == 9
    monkeypatch.setattr(NervTrainer, "train_step", real_step)
    assert main(["nerv", "train", "--resume", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "resuming" in text and "done: 3 epochs" in text
    assert json.loads((out / "last.json").read_text())["epoch"] == 3
    # a finished run is not overwritten by a new one
    assert main(["nerv", "train", str(synth_video), "--clip-head", "none", "--out", str(out),
                 *FAST]) == 2
    assert "already holds a run" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["nerv", "models"]])
def test_models_listing(args, capsys):
    assert main(args) == 0
    assert "hnerv-0.75m" in capsys.readouterr().out


def test_an_audio_file_is_named_as_having_no_video_stream(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    wav = tmp_path / "song.wav"
    sf.write(wav, np.sin(np.arange(8000) / 5).astype(np.float32), 8000)
    rc = main(["nerv", "train", str(wav), "--clip-head", "none", "--out",
               str(tmp_path / "r"), *FAST])
    assert rc == 2
    err = capsys.readouterr().err
    assert "has no video stream" in err and "Error opening output files" not in err


def test_progress_in_a_log_is_a_few_lines_not_one_per_step(synth_video, tmp_path, capsys):
    # capsys is not a terminal: 8 epochs x 7 steps used to redraw the bar 56+ times.
    rc = main(["nerv", "train", str(synth_video), "--clip-head", "none", "--epochs", "8",
               "--out", str(tmp_path / "r"), *SMALL])
    assert rc == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    bar_lines = [line for line in err.splitlines() if line.startswith("NeRV")]
    assert 1 <= len(bar_lines) <= 4, err
    assert "56/56" in bar_lines[-1]
