"""Shapes and invariants of the slot detector's parts (CPU, random weights)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from occtrack_ros.models.detector import DetectorConfig, ObjectDetector, SlotVideoModel
from occtrack_ros.models.detector.checkpoint import load_model, read_checkpoint, save_checkpoint
from occtrack_ros.models.detector.config import preset_config
from occtrack_ros.models.detector.slot_attention import SlotAttention
from occtrack_ros.types import Detections, Frame

TINY = DetectorConfig(image_size=32, cnn_channels=16, cnn_layers=3, cnn_stride=2, num_slots=4, slot_dim=16,
                      slot_mlp_hidden=32, decoder_channels=16, decoder_init_size=8, decoder_upsamples=2)


def test_slot_attention_shapes_and_competition():
    torch.manual_seed(0)
    sa = SlotAttention(input_dim=8, slot_dim=16, mlp_hidden=32)
    slots, attn = sa(torch.randn(3, 50, 8), torch.randn(3, 5, 16), iters=3)
    assert slots.shape == (3, 5, 16)
    assert attn.shape == (3, 5, 50)
    torch.testing.assert_close(attn.sum(dim=1), torch.ones(3, 50))  # slots compete for every token


def test_bilevel_gives_gradient_to_learned_queries():
    sa = SlotAttention(input_dim=8, slot_dim=16, mlp_hidden=32)
    init = torch.randn(1, 4, 16, requires_grad=True)
    slots, _ = sa(torch.randn(2, 20, 8), init.expand(2, -1, -1), iters=3, bilevel=True)
    slots.sum().backward()
    assert init.grad is not None and init.grad.abs().sum() > 0


@pytest.mark.parametrize("predictor", ["transformer", "mlp", "none"])
def test_video_model_shapes_and_masks_sum_to_one(predictor):
    torch.manual_seed(0)
    cfg = TINY.replace(predictor=predictor)
    model = SlotVideoModel(cfg)
    out = model(torch.rand(2, 3, 3, 32, 32))
    assert out["recon"].shape == (2, 3, 3, 32, 32)
    assert out["target"].shape == (2, 3, 3, 32, 32)
    assert out["alpha"].shape == (2, 3, 4, 32, 32)
    assert out["slots"].shape == (2, 3, 4, 16)
    masks = out["alpha"].softmax(dim=2)
    torch.testing.assert_close(masks.sum(dim=2), torch.ones(2, 3, 32, 32))
    loss = model.loss(out)
    loss.backward()
    assert torch.isfinite(loss)


def test_clip_shape_is_checked():
    model = SlotVideoModel(TINY)
    with pytest.raises(AssertionError, match="clip"):
        model(torch.rand(2, 3, 32, 32))
    with pytest.raises(AssertionError, match="CNNEncoder expects"):
        model.encode(torch.rand(2, 3, 30, 30))


def test_unknown_architecture_names_the_value():
    with pytest.raises(ValueError, match="backbone='resnet'"):
        DetectorConfig(backbone="resnet")
    with pytest.raises(ValueError, match="preset 'nope'"):
        preset_config("nope")


def test_presets_build():
    for name in ("occlusion", "sprites-mot"):
        model = SlotVideoModel(preset_config(name))
        cfg = model.cfg
        assert model.backbone.grid == cfg.image_size // cfg.cnn_stride


def test_checkpoint_round_trip_and_refusals(tmp_path):
    torch.manual_seed(0)
    model = SlotVideoModel(TINY)
    path = tmp_path / "det.pt"
    save_checkpoint(path, model, step=7)
    loaded, payload = load_model(path)
    assert payload["step"] == 7
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    with pytest.raises(ValueError, match="num_slots=4 but the config asks for num_slots=6"):
        load_model(path, config=TINY.replace(num_slots=6))
    with pytest.raises(ValueError, match="cannot override shape-defining"):
        load_model(path, overrides={"slot_dim": 32})
    loaded, _ = load_model(path, overrides={"score_threshold": 0.9})
    assert loaded.cfg.score_threshold == 0.9
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        read_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt.pt"):
        read_checkpoint(bad)
    payload = torch.load(path, weights_only=True)
    payload["model"]["decoder.net.0.weight"] = torch.zeros(3, 3)
    torch.save(payload, tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match="decoder.net.0.weight"):
        load_model(tmp_path / "wrong.pt")


def _frames(n, h=40, w=48, depth=True):
    rng = np.random.default_rng(0)
    return [Frame(image=rng.integers(0, 255, (h, w, 3), dtype=np.uint8), index=i,
                  depth=np.full((h, w), 3.0, np.float32) if depth else None) for i in range(n)]


def test_object_detector_outputs_and_state():
    torch.manual_seed(0)
    det = ObjectDetector(SlotVideoModel(TINY.replace(score_threshold=0.0, mask_threshold=0.0)))
    out = det.detect(_frames(3))
    assert len(out) == 3 and all(isinstance(d, Detections) for d in out)
    d = out[0]
    n = len(d)
    assert d.masks.shape == (n, 40, 48) and d.embeddings.shape == (n, 16) and d.centroids.shape == (n, 2)
    assert d.depths.shape == (n,) and d.areas.shape == (n,)
    np.testing.assert_allclose(np.linalg.norm(d.embeddings, axis=1), 1.0, atol=1e-5)
    assert d.colours.shape == (n, 3)
    np.testing.assert_allclose(d.colours.sum(axis=1), 1.0, atol=1e-5)   # chromaticities
    split = ObjectDetector(SlotVideoModel(TINY.replace(score_threshold=0.0, split_components=True)))
    parts = split.detect(_frames(1))[0]
    assert parts.colours.shape == (len(parts), 3)
    assert np.all(d.boxes[:, 2] >= d.boxes[:, 0]) and np.all(d.boxes[:, 2] <= 48)
    valid = d.areas > 0
    np.testing.assert_allclose(d.depths[valid], 3.0)
    assert det._slots is not None  # carried to the next call
    det.reset()
    assert det._slots is None
    assert det.detect(_frames(1, depth=False))[0].depths is None
    assert det.detect([]) == []
    _, seg = det.detect_all(_frames(2))
    assert seg.shape == (2, 40, 48) and seg.dtype == np.int32
    with pytest.raises(ValueError, match="uint8"):
        det.detect([Frame(image=np.zeros((40, 48, 3), np.float32))])


def test_batched_detection_equals_frame_by_frame():
    torch.manual_seed(0)
    det = ObjectDetector(SlotVideoModel(TINY.replace(score_threshold=0.0)))
    images = torch.from_numpy(np.stack([f.image for f in _frames(4)]))
    batched = det.forward_tensors(images)["masks"]
    det.reset()
    single = torch.cat([det.forward_tensors(images[i:i + 1])["masks"] for i in range(4)])
    torch.testing.assert_close(batched, single, atol=1e-4, rtol=0)


def test_fresh_slots_every_frame_ignore_history():
    torch.manual_seed(0)
    det = ObjectDetector(SlotVideoModel(TINY.replace(score_threshold=0.0, carry_slots=False)))
    images = torch.from_numpy(np.stack([f.image for f in _frames(4)]))
    batched = det.forward_tensors(images)["masks"]
    reversed_order = det.forward_tensors(images.flip(0))["masks"].flip(0)   # no state between frames or calls
    torch.testing.assert_close(batched, reversed_order, atol=1e-4, rtol=0)
    assert det._slots is None
    carried = ObjectDetector(SlotVideoModel(TINY.replace(score_threshold=0.0)))
    carried.model.load_state_dict(det.model.state_dict())
    first = carried.forward_tensors(images[:1])["masks"]
    torch.testing.assert_close(first, batched[:1], atol=1e-4, rtol=0)       # frame 0 starts from the queries
    fresh_slots = det.forward_tensors(images[1:2])["slots"]
    assert not torch.allclose(carried.forward_tensors(images[1:2])["slots"], fresh_slots, atol=1e-3)  # carried


def test_luma_weight_one_is_plain_mse_and_zero_ignores_brightness():
    cfg = TINY.replace(decoder="broadcast")
    model = SlotVideoModel(cfg)
    target = torch.rand(2, 1, 3, 8, 8)
    recon = target + torch.randn_like(target) * 0.1
    out = {"recon": recon, "target": target}
    torch.testing.assert_close(model.loss(out), (recon - target).pow(2).mean())
    model.cfg = cfg.replace(loss_luma_weight=0.0)
    assert model.loss({"recon": target + 0.2, "target": target}) < 1e-10        # a pure brightness shift
    assert model.loss({"recon": target + torch.tensor([0.2, -0.1, -0.1]).view(1, 1, 3, 1, 1),
                       "target": target}) > 1e-3                                  # a colour shift is not
