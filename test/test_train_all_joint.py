"""Joint fine-tuning: its losses reach the detector through the tracker's associations; runs are reproducible."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from occtrack_ros.training import finetune as J
from occtrack_ros.types import Detections

K, C, T = 6, 16, 16


def _two_objects(t_len: int = T):
    """Two 10x10 px objects crossing a 64x64 image at constant speed; slot 1 = A, slot 4 = B every frame."""
    dets, slots = [], []
    for t in range(t_len):
        a = [4 + 2 * t, 10, 14 + 2 * t, 20]
        b = [50 - 2 * t, 40, 60 - 2 * t, 50]
        dets.append(Detections(boxes=np.array([a, b], np.float64), scores=np.array([0.9, 0.9])))
        slots.append(np.array([1, 4]))
    return dets, slots


def _embeddings(seed: int, consistent: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(T, K, C, generator=g)
    if consistent:  # each object's slot looks the same in every frame
        e[:, 1] = e[0, 1]
        e[:, 4] = e[0, 4]
    return F.normalize(e, dim=-1).requires_grad_(True)


def test_tracker_links_the_objects_and_consistency_prefers_stable_embeddings():
    dets, slots = _two_objects()
    ids = J.track_clip(None, dets, fps=10.0, size=64)
    assert all(len(i) == 2 and (i >= 0).all() for i in ids)
    assert len({int(i[0]) for i in ids}) == 1 and len({int(i[1]) for i in ids}) == 1, "one track per object"
    stable = J.consistency_loss(_embeddings(0, True), slots, ids, temperature=0.1)
    noisy_emb = _embeddings(0, False)
    noisy = J.consistency_loss(noisy_emb, slots, ids, temperature=0.1)
    assert float(stable.detach()) < 0.01 < float(noisy.detach())
    noisy.backward()
    g = noisy_emb.grad.abs().sum(dim=(0, 2))                      # (K,)
    assert g[1] > 0 and g[4] > 0 and g[[0, 2, 3, 5]].sum() == 0, "only the tracked slots get gradient"


def test_gnn_loss_trains_the_gnn_and_reaches_the_detector_embeddings():
    from occtrack_ros.tracking.config import GNNConfig
    from occtrack_ros.tracking.gnn import SceneGraphGNN

    torch.manual_seed(0)
    gnn = SceneGraphGNN(GNNConfig(hidden=8))
    dets, slots = _two_objects()
    emb = _embeddings(1, False)
    for t, (d, s) in enumerate(zip(dets, slots)):
        d.embeddings = emb.detach()[t, s].numpy()   # what clip_detections hands the tracker
    ids = J.track_clip(gnn, dets, fps=10.0, size=64)
    loss, edges = J.gnn_loss(gnn, emb, dets, slots, ids, 10.0, 64, np.random.default_rng(3), max_hide=4)
    assert edges > 0 and torch.isfinite(loss) and float(loss.detach()) > 0
    loss.backward()
    assert emb.grad is not None and emb.grad[:, [1, 4]].abs().sum() > 0, "no gradient from the GNN into detection"
    assert sum(float(p.grad.abs().sum()) for p in gnn.parameters() if p.grad is not None) > 0
    again, _ = J.gnn_loss(gnn, emb, dets, slots, ids, 10.0, 64, np.random.default_rng(3), max_hide=4)
    assert float(again.detach()) == float(loss.detach()), "same rng, same hidden spans, same loss"


def test_mask_distillation_ignores_slot_order_and_pulls_a_changed_segmentation_back():
    g = torch.Generator().manual_seed(0)
    teacher = (torch.randn(3, 5, 8, 8, generator=g) * 3.0).softmax(dim=1)           # (T, K, H, W) soft masks
    shuffled = teacher[:, torch.tensor([3, 0, 4, 1, 2])]
    assert float(J.distill_loss(shuffled, teacher, grid=8)) < 1e-12, "the same segmentation in other slots"
    co = J.coassignment(teacher, grid=4)
    assert co.shape == (3, 16, 16) and torch.allclose(co, co.transpose(1, 2))
    logits = (teacher.log() + torch.randn(3, 5, 8, 8, generator=g) * 3.0).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=0.1)
    before = float(J.distill_loss(logits.softmax(dim=1), teacher, grid=8))
    for _ in range(100):
        opt.zero_grad()
        J.distill_loss(logits.softmax(dim=1), teacher, grid=8).backward()
        opt.step()
    assert float(J.distill_loss(logits.softmax(dim=1), teacher, grid=8)) < 0.5 * before


def test_distillation_sees_the_masks_the_detector_reports():
    from occtrack_ros.models.detector.config import preset_config
    from occtrack_ros.models.detector.detector import head_from_tokens, inference_masks
    from occtrack_ros.models.detector.model import SlotVideoModel

    torch.manual_seed(0)
    model = SlotVideoModel(preset_config("occlusion")).eval()
    frames = torch.rand(3, 3, 64, 64)
    tokens = model.encode(frames)
    masks = inference_masks(model, model.cfg, tokens, frames)
    with torch.no_grad():
        reported = head_from_tokens(model, model.cfg, tokens, frames)["masks"]
    assert torch.allclose(masks.detach(), reported, atol=1e-6)
    J.distill_loss(masks, reported.roll(4, dims=-1), 32).backward()          # a shifted segmentation as target
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters()), \
        "the distillation reaches the encoder"


def test_plateau_criterion_and_source_split():
    from pathlib import Path

    from occtrack_ros.training.all import plateaued, split_sources

    falling = list(np.linspace(1.0, 0.5, 40))
    assert not plateaued(falling, 10, 0.01)[0]
    assert plateaued(falling + [0.5] * 20, 10, 0.01)[0]
    assert not plateaued([1.0] * 15, 10, 0.01)[0], "needs two full chunks"
    srcs = [Path(f"s{i}") for i in range(10)]
    train, held, frac = split_sources(srcs, 20)
    assert train == srcs[:8] and held == srcs[8:] and frac == 1.0
    assert split_sources(srcs[:1], 25) == (srcs[:1], [], 0.75)
    with pytest.raises(ValueError, match="holdout"):
        split_sources(srcs, 100)


def test_two_five_step_joint_runs_give_identical_losses(tmp_path):
    from occtrack_ros.cli import main as cli_main
    from occtrack_ros.models.detector.checkpoint import read_checkpoint, save_checkpoint
    from occtrack_ros.models.detector.config import preset_config
    from occtrack_ros.models.detector.model import SlotVideoModel

    seq = tmp_path / "occ-7"
    assert cli_main(["generate", "--seed", "7", "--out", str(seq), "--frames", "12", "--width", "64",
                     "--height", "64", "--quiet"]) == 0
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "det.pt", SlotVideoModel(preset_config("occlusion")))
    histories = []
    for run in ("a", "b"):
        argv = ["train", "joint", "--data", str(seq), "--detector", str(tmp_path / "det.pt"), "--out",
                str(tmp_path / run), "--steps", "5", "--clip-len", "6", "--threads", "1", "--seed", "4"]
        assert cli_main(argv) == 0
        histories.append(json.loads((tmp_path / run / "history.json").read_text()))
    a, b = histories
    assert len(a["loss"]) == 5 and a["loss"] == b["loss"] and a["gnn"] == b["gnn"] and a["cons"] == b["cons"]
    init = read_checkpoint(tmp_path / "det.pt")["model"]
    tuned = read_checkpoint(tmp_path / "a" / "detector.pt")["model"]
    assert any(not torch.equal(init[k], tuned[k]) for k in init), "the detector was not updated"
    assert (tmp_path / "a" / "tracker.pt").is_file() and (tmp_path / "a" / "loss.png").is_file()
    assert a["distill"] == [0.0] * 5, "no distillation unless asked for"
    argv = ["train", "joint", "--data", str(seq), "--detector", str(tmp_path / "det.pt"), "--out",
            str(tmp_path / "d"), "--steps", "3", "--clip-len", "6", "--threads", "1", "--seed", "4",
            "--w-distill", "10", "--lr", "1e-3"]
    assert cli_main(argv) == 0
    d = json.loads((tmp_path / "d" / "history.json").read_text())
    assert d["distill"][0] < 1e-8 < max(d["distill"][1:]), "the copy starts equal, then the student moves"
    assert d["rec"][0] == a["rec"][0], "distillation leaves the first forward pass alone"


def test_joint_stage_runs_unchanged_under_torchrun_with_two_gloo_ranks(tmp_path):
    import socket
    import subprocess
    import sys
    from pathlib import Path

    from occtrack_ros.cli import main as cli_main
    from occtrack_ros.models.detector.checkpoint import save_checkpoint
    from occtrack_ros.models.detector.config import preset_config
    from occtrack_ros.models.detector.model import SlotVideoModel

    seq = tmp_path / "occ-8"
    assert cli_main(["generate", "--seed", "8", "--out", str(seq), "--frames", "8", "--width", "64",
                     "--height", "64", "--quiet"]) == 0
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "det.pt", SlotVideoModel(preset_config("occlusion")))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), "-m", "occtrack_ros.cli", "train", "joint", "--data", str(seq),
           "--detector", str(tmp_path / "det.pt"), "--out", str(tmp_path / "ddp"), "--steps", "2", "--clip-len", "4",
           "--threads", "1", "--w-distill", "10"]   # the distillation's extra use of the module under DDP too
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "ranks 2" in proc.stdout + proc.stderr
    history = json.loads((tmp_path / "ddp" / "history.json").read_text())
    assert len(history["loss"]) == 2 and (tmp_path / "ddp" / "detector.pt").is_file()
    assert len(history["distill"]) == 2 and all(math.isfinite(v) for v in history["distill"])


def test_joint_stage_detects_the_parts_the_detector_reports_and_its_embeddings_train_the_encoder():
    """With split_components (the occlusion preset) the joint stage must see the detector's own detections."""
    from occtrack_ros.models.detector.config import preset_config
    from occtrack_ros.models.detector.detector import ObjectDetector
    from occtrack_ros.models.detector.model import SlotVideoModel
    from occtrack_ros.types import Frame

    torch.manual_seed(0)
    cfg = preset_config("occlusion").replace(image_size=32, num_slots=4, slot_dim=16, cnn_channels=8,
                                             decoder_channels=8, decoder_upsamples=2, score_threshold=0.0,
                                             min_fill=0.0, max_area_frac=1.0, max_extent_frac=1.0, border_frac=1.0)
    model = SlotVideoModel(cfg)
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8))
    clip = frames.permute(0, 3, 1, 2).float().div(255.0)[None]                      # (1, T, 3, S, S)
    rec, emb, head = J.detector_forward(model, clip)
    ref = ObjectDetector(model).detect([Frame(image=f.numpy()) for f in frames])
    model.train()
    dets, slots = J.clip_detections(head, emb, threshold=0.0)
    for t in range(3):
        assert len(dets[t]) == len(ref[t]) > 0
        np.testing.assert_allclose(dets[t].boxes, ref[t].boxes)
    (emb[:, 0].sum() + rec).backward()
    enc = [p for n, p in model.named_parameters() if n.startswith("encoder") or "backbone" in n]
    assert enc and sum(float(p.grad.abs().sum()) for p in enc if p.grad is not None) > 0
