from pathlib import Path

import torch

from engine.clip import ClipSpec, load_clip

DATA = Path(__file__).parents[2] / "data"


def test_resnet_tower_runs_channels_last_with_the_same_embeddings():
    clip = load_clip(ClipSpec(config=str(DATA / "tiny-resnet-clip.json")), warn=lambda m: None)
    assert clip.channels_last
    conv = next(m for m in clip.model.visual.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0),
                        requires_grad=True)
    fast = clip.encode_image(images)
    fast.sum().backward()  # the trainer pushes gradients through it
    assert images.grad is not None and images.grad.abs().sum() > 0
    clip.model.visual.to(memory_format=torch.contiguous_format)
    clip.channels_last = False
    plain = clip.encode_image(images.detach())
    assert torch.allclose(fast.detach(), plain, atol=1e-5)


def test_vit_tower_keeps_its_layout(tiny_clip):
    assert not tiny_clip.channels_last
    x = torch.rand(1, 3, 64, 64)
    assert tiny_clip.prepare(x) is x


def test_training_steps_through_a_channels_last_tower():
    from engine.cppn.train import Prompt, TrainConfig, Trainer

    clip = load_clip(ClipSpec(config=str(DATA / "tiny-resnet-clip.json")), warn=lambda m: None)
    cfg = TrainConfig.from_preset("draft", [Prompt("a red circle")], schedule=[(3, 48)],
                                  compile=False)
    trainer = Trainer(cfg, clip)
    before = [p.detach().clone() for p in trainer.cppn.parameters()]
    losses = [trainer.step()[0] for _ in range(3)]
    assert all(0 < v < 3 for v in losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.cppn.parameters()))
