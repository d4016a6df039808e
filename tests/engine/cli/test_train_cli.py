
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



@pytest.mark.parametrize("steps", ["0", "-5", "99999999999", "ten"])
def test_steps_out_of_range_are_refused(env, tiny_clip_config, capsys, steps):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "x", "--clip-config", str(tiny_clip_config), "--steps", steps])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--steps" in err and "Traceback" not in err
    assert not (env.parent / "runs").exists()  # nothing ran


def test_steps_zero_is_refused_by_the_engine_too():
    from engine.cppn.train import MAX_STEPS, Prompt, TrainConfig, with_schedule_scale
    from engine.errors import SonolumeError

    cfg = TrainConfig.from_preset("draft", [Prompt("x")])
    assert with_schedule_scale(cfg, None) is cfg
    for bad in (0, MAX_STEPS + 1, -1):
        with pytest.raises(SonolumeError, match="--steps must be"):
            with_schedule_scale(cfg, bad)


def test_presets_come_from_the_engine_registry(capsys):
    from engine.cppn.train import list_presets

    assert main(["train", "--list-presets"]) == 0
    out = capsys.readouterr().out
    for preset in list_presets():
        assert preset.name in out and preset.description in out and preset.summary() in out
    assert "150 @ 192²" in out


def test_the_printed_resume_command_works_from_another_folder(env, tiny_clip_config, tmp_path,
                                                               capsys, monkeypatch):
    import re
    import shutil

    from engine.cppn.train import Trainer

    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir()
    elsewhere.mkdir()
    shutil.copy(tiny_clip_config, start / "tiny.json")
    monkeypatch.chdir(start)
    monkeypatch.setenv("SONOLUME_RUNS", "runs")  # relative on purpose
    real_step = Trainer.step

    def interrupted_at_3(self):
        if self.iteration == 3:
            raise KeyboardInterrupt
        return real_step(self)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "step", interrupted_at_3)
        assert main(["train", "glass", "--name", "Glass", "--clip-config", "tiny.json",
                     "--steps", "6", "--quiet"]) == 130
    err = capsys.readouterr().err
    command = re.search(r"resume with: (sonolume train --resume (\S+))", err)
    assert command, err
    run_dir = command.group(2)
    assert run_dir.startswith("/")
    monkeypatch.chdir(elsewhere)
    assert main(["train", "--resume", run_dir, "--quiet"]) == 0
    assert Library(env).get("Glass").meta["extra"]["iterations"] == 6


def test_sigterm_saves_a_checkpoint_and_prints_the_resume_command(env, tiny_clip_config,
                                                                   tmp_path):
    """SIGTERM a few steps in, before the first step checkpoint (50): the run must be saved
    and the resume command printed, with the shell's status for TERM (143)."""
    import json
    import os
    import re
    import signal
    import subprocess
    import sys
    import threading
    import time

    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", "train", "endless", "--clip-config",
         str(tiny_clip_config), "--steps", "1000000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SONOLUME_RUNS": str(runs)})
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(
        lambda: proc.stderr.read(64), "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not re.search(r"\b\d+/1000000", "".join(chunks)):  # the bar is up
            assert proc.poll() is None and time.monotonic() < deadline, "".join(chunks)
            time.sleep(0.1)
        time.sleep(2)  # a few steps in
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    err = "".join(chunks)
    assert proc.returncode == 143, err
    assert "terminated: training stopped at iteration" in err and "Traceback" not in err
    run_dir = err.split("resume with: sonolume train --resume ")[1].split()[0]
    assert run_dir.startswith(str(runs))
    info = json.loads((runs / os.path.basename(run_dir) / "run.json").read_text())
    stopped_at = int(err.split("at iteration ")[1].split("/")[0])
    assert info["iteration"] == stopped_at


def test_progress_in_a_log_is_a_few_lines_not_one_per_step(env, tiny_clip_config, capsys):
    assert main(["train", "amber", "--clip-config", str(tiny_clip_config), "--steps", "8"]) == 0
    err = capsys.readouterr().err
    bar_lines = [line for line in err.splitlines() if "/8" in line]
    assert 1 <= len(bar_lines) <= 3, bar_lines
    assert "\r" not in err and "8/8" in bar_lines[-1]
