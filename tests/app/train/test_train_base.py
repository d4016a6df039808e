"""The Train panel's 'Independent start' box: off, styles start from the shared base
network (they morph into each other); on, from their seed, as before bases."""

from __future__ import annotations

import threading

from app.train.panel import TrainJob, train_job
from engine.cppn.base import BASE_ID
from engine.styles.library import Library


def test_the_box_reaches_the_job(window):
    panel = window.train_panel
    panel.rows[0].text.setText("glass")
    assert not panel.independent.isChecked()
    assert panel.job_from_form().independent is False
    panel.independent.setChecked(True)
    assert panel.job_from_form().independent is True
    assert panel.job_from_form_defaults().independent is True  # mood boards too


def test_a_job_records_its_start(tiny_clip, tmp_path):
    class Clips:
        def get(self, spec):
            return tiny_clip

    styles = [train_job(TrainJob(prompts=[("glass", 1.0)], steps=2, seed=4, independent=ind),
                        Clips(), tiny_clip.spec, tmp_path / "lib", None,
                        progress=lambda ev: None, cancel=threading.Event())
              for ind in (False, True)]
    lib = Library(tmp_path / "lib", None)
    assert [lib.get(s.id).meta["base"] for s in styles] == [BASE_ID, None]
