"""The NeRV form's device choice: a combo only where a CUDA GPU gives a choice (a control
that cannot do anything is not shown), remembered in the settings."""

from __future__ import annotations

import torch


def form_labels(form) -> list[str]:
    layout = form.layout()
    labels = []
    for row in range(layout.rowCount()):
        item = layout.itemAt(row, layout.ItemRole.LabelRole)
        if item is not None and item.widget() is not None:
            labels.append(item.widget().text())
    return labels


def test_device_row_only_where_cuda_gives_a_choice(qtbot, app_env):
    from app.nerv.form import NervForm
    from app.settings import AppSettings

    form = NervForm(AppSettings())
    qtbot.addWidget(form)
    labels = form_labels(form)
    assert "Threads:" in labels  # the rows were read
    if not torch.cuda.is_available():
        assert form.device_combo is None and "Device:" not in labels
        assert form.device() == "cpu" and form.resume_device() is None
        return
    assert "Device:" in labels
    combo = form.device_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["cuda", "cpu"]
    assert form.device() == "cuda"  # the GPU by default
    combo.setCurrentIndex(1)
    form.save()
    again = NervForm(AppSettings())
    qtbot.addWidget(again)
    assert again.device() == again.resume_device() == "cpu"


def test_run_label_names_a_gpu_and_not_the_cpu(qtbot, app_env):
    import numpy as np

    from app.clip_service import ClipService
    from app.nerv.jobs import RunStart
    from app.nerv.panel import NervPanel
    from app.settings import AppSettings

    panel = NervPanel(AppSettings(), ClipService())
    qtbot.addWidget(panel)

    def start(device: str) -> RunStart:
        return RunStart(run_dir=None, originals=np.zeros((4, 8, 8, 3), np.uint8),
                        roles=np.array(["train"] * 4), train=4, unseen=0,
                        params={"representation": 30_000}, description="NERV", clip_label=None,
                        random_clip=False, epoch=0, epochs=2, device=device)

    panel._show_run_label(start("cuda:0 (NVIDIA H200)"))
    assert "4 frames: 4 train" in panel.run_label.text()
    assert "· on cuda:0 (NVIDIA H200)" in panel.run_label.text()
    panel._show_run_label(start("cpu"))
    assert "4 frames: 4 train" in panel.run_label.text() and " on " not in panel.run_label.text()
