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
