
import pytest

from engine.cli.main import main
from engine.styles.library import Library


@pytest.fixture
def env(tmp_path, monkeypatch, library_dir):
    monkeypatch.setenv("SONOLUME_RUNS", str(tmp_path / "runs"))
    return library_dir


def train(args, tiny_clip_config):
    return main(["train", *args, "--clip-config", str(tiny_clip_config), "--steps", "3",
                 "--quiet"])


def test_train_saves_a_marked_style(env, tiny_clip_config, capsys):
    assert train(["neon jellyfish::2", "deep sea", "--negative", "text",
                  "--name", "Jelly"], tiny_clip_config) == 0
    out = capsys.readouterr()
    assert "saved style 'Jelly'" in out.out and "random CLIP" in out.out
    assert "RANDOM" in out.err
    style = Library(env).get("Jelly")
    meta = style.meta
    assert meta["trained"] is True and meta["clip"]["random"] is True
    assert meta["prompts"] == [{"text": "neon jellyfish", "weight": 2.0},
                               {"text": "deep sea", "weight": 1.0}]
    assert meta["negatives"] == ["text"] and isinstance(meta["score"], float)
    assert (style.path / "thumb.png").is_file()


def test_mood_board_makes_one_style_per_line(env, tiny_clip_config, tmp_path, capsys):
    board = tmp_path / "board.txt"
    board.write_text("# my board\nred fire\n\nblue ice | frozen lake\n")
    assert train(["--batch", str(board)], tiny_clip_config) == 0
    names = {s.name for s in Library(env).list() if s.trained}
    assert names == {"red fire", "blue ice + frozen lake"}


def test_resume_a_cancelled_run(env, tiny_clip_config, tmp_path, capsys):
    import threading

    from engine.clip import ClipSpec, load_clip
    from engine.cppn.train import Prompt, TrainConfig, Trainer
    from engine.errors import Cancelled

    clip = load_clip(ClipSpec(config=str(tiny_clip_config)), warn=lambda m: None)
    cfg = TrainConfig.from_preset("draft", [Prompt("glass")], schedule=[(6, 40)], cutouts=1)
    trainer = Trainer(cfg, clip, tmp_path / "run")
    trainer.job = {"name": "Glass"}
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        trainer.run(on_progress=lambda ev: ev.iteration == 2 and cancel.set(), cancel=cancel)
    assert Library(env).list() and not any(s.name == "Glass" for s in Library(env).list())
    assert main(["train", "--resume", str(tmp_path / "run"), "--quiet"]) == 0
    assert Library(env).get("Glass").meta["extra"]["iterations"] == 6


@pytest.mark.parametrize("args, message", [
    ([], "give a prompt"),
    (["  "], "empty prompt"),
    (["x::0"], "weight"),
    (["x", "--preset", "draft", "--image", "/no/such.png"], "image prompt not found"),
    (["--batch", "/no/such/file.txt"], "cannot read prompt file"),
    (["--resume", "/no/such/run"], "cannot resume"),
])
def test_bad_input_is_one_line(env, tiny_clip_config, capsys, args, message):
    assert train(args, tiny_clip_config) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if line.startswith("sonolume: error")]) == 1
    assert message in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_offline_real_clip_is_a_clear_error(env, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["train", "sunset", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--clip-checkpoint" in err and "Traceback" not in err


def test_clip_models_lists_tags(capsys):
    assert main(["clip-models"]) == 0
    out = capsys.readouterr().out
    assert "RN50" in out and "openai" in out

