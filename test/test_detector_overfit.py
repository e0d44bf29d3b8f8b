"""Behaviour: a few hundred steps on two tiny images must cut the loss and separate two coloured squares."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from occtrack_ros.models.detector import DetectorConfig, SlotVideoModel


def _images() -> torch.Tensor:
    imgs = torch.full((2, 3, 32, 32), 0.5)
    red, blue = torch.tensor([0.9, 0.1, 0.1]).view(3, 1, 1), torch.tensor([0.1, 0.2, 0.9]).view(3, 1, 1)
    imgs[0, :, 4:13, 5:14], imgs[0, :, 18:28, 17:27] = red, blue
    imgs[1, :, 19:28, 3:12], imgs[1, :, 3:13, 18:28] = red, blue
    return imgs


@pytest.fixture
def one_thread():
    # tiny tensors: extra threads only add synchronisation cost on a shared machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_overfit_two_images_separates_squares(one_thread):
    torch.manual_seed(0)
    cfg = DetectorConfig(image_size=32, cnn_channels=32, cnn_layers=3, cnn_stride=2, num_slots=3, slot_dim=32,
                         slot_mlp_hidden=64, predictor="none", decoder_channels=32, decoder_init_size=8,
                         decoder_upsamples=2, decoder_attn=True, decoder_rgb_detail=0.1)
    model = SlotVideoModel(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    clip = _images().unsqueeze(1)  # (B=2, T=1, 3, 32, 32)
    losses = []
    for _ in range(300):
        out = model(clip)
        loss = model.loss(out)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) / 10, f"loss {losses[0]:.4f} -> {losses[-1]:.4f}"
    with torch.no_grad():
        seg = model(clip)["alpha"][:, 0].argmax(dim=1)  # (2, 32, 32)
    regions = [(slice(4, 13), slice(5, 14)), (slice(18, 28), slice(17, 27))], \
              [(slice(19, 28), slice(3, 12)), (slice(3, 13), slice(18, 28))]
    for b in range(2):
        winners = []
        for rows, cols in regions[b]:
            patch = seg[b, rows, cols].flatten()
            winner = patch.mode().values.item()
            assert (patch == winner).float().mean() > 0.9, f"image {b}: a square is split between slots"
            winners.append(winner)
        bg = seg[b, 0, :].mode().values.item()
        assert len({*winners, bg}) == 3, f"image {b}: squares/background share slots {winners + [bg]}"
