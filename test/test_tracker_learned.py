"""The learned graph: GNN shapes, checkpoints, self-supervised samples, a short training run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from occtrack_ros.tracking import GNNConfig, TrackerConfig, make_tracker
from occtrack_ros.tracking.checkpoint import load_tracker_checkpoint, save_tracker
from occtrack_ros.tracking.features import DET_FEATURES, EDGE_FEATURES, SPATIAL_FEATURES, TRACK_FEATURES
from occtrack_ros.tracking.gnn import SceneGraphGNN
from occtrack_ros.tracking.self_supervision import hide_spans, pseudo_tracklets
from occtrack_ros.types import CameraIntrinsics, Detections, Frame


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: extra threads only add contention on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def scene(n_frames=60, seed=0):
    """Three boxes moving with constant velocity, one crossing another; 5% dropped detections."""
    rng = np.random.default_rng(seed)
    starts = np.array([[20.0, 40.0], [200.0, 45.0], [100.0, 150.0]])
    vel = np.array([[3.0, 0.0], [-3.0, 0.2], [0.5, -0.5]])
    size = np.array([[20.0, 40.0], [24.0, 44.0], [30.0, 30.0]])
    frames = []
    for f in range(n_frames):
        c = starts + f * vel + rng.normal(0, 0.5, size=(3, 2))
        boxes = np.concatenate([c - size / 2, c + size / 2], axis=1)
        keep = rng.uniform(size=3) > 0.05
        frames.append(Detections(boxes=boxes[keep], scores=np.full(int(keep.sum()), 0.9)))
    return frames


def test_gnn_shapes_and_adjacency():
    cfg = GNNConfig(hidden=16, rounds=2)
    model = SceneGraphGNN(cfg)
    T, N = 4, 5
    logits = model(torch.zeros(T, TRACK_FEATURES), torch.zeros(T, 16), torch.zeros(N, DET_FEATURES),
                   torch.zeros(T, N, EDGE_FEATURES), torch.zeros(N, N, SPATIAL_FEATURES))
    assert logits.shape == (T, N)
    adj = model.soft_adjacency(torch.rand(N, N, SPATIAL_FEATURES))
    assert adj.shape == (N, N) and torch.all(adj.diagonal() == 0) and torch.all((adj >= 0) & (adj <= 1))
    with pytest.raises(AssertionError, match="memory"):
        model(torch.zeros(T, TRACK_FEATURES), torch.zeros(T, 8), torch.zeros(N, DET_FEATURES),
              torch.zeros(T, N, EDGE_FEATURES), torch.zeros(N, N, SPATIAL_FEATURES))


def test_numpy_fast_path_matches_torch():
    from occtrack_ros.tracking.gnn_numpy import NumpySceneGraphGNN

    torch.manual_seed(0)
    model = SceneGraphGNN(GNNConfig(hidden=16, rounds=2)).eval()
    fast = NumpySceneGraphGNN(model)
    rng = np.random.default_rng(0)
    T, N = 4, 6
    args = [rng.normal(size=s).astype(np.float32) for s in
            [(T, TRACK_FEATURES), (T, 16), (N, DET_FEATURES), (T, N, EDGE_FEATURES), (N, N, SPATIAL_FEATURES)]]
    with torch.no_grad():
        ref = model(*[torch.from_numpy(a) for a in args]).numpy()
        hist = rng.normal(size=(T, 5, DET_FEATURES)).astype(np.float32)
        hist[:, :2] = 0.0   # front padding
        mem_ref = model.memory_from_history(torch.from_numpy(hist)).numpy()
        adj_ref = model.soft_adjacency(torch.from_numpy(args[4])).numpy()
    np.testing.assert_allclose(fast.forward(*args), ref, atol=1e-4)
    np.testing.assert_allclose(fast.memory_from_history(hist), mem_ref, atol=1e-5)
    np.testing.assert_allclose(fast.soft_adjacency(args[4]), adj_ref, atol=1e-5)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    cfg = TrackerConfig(gnn=GNNConfig(hidden=16))
    model = SceneGraphGNN(cfg.gnn)
    path = tmp_path / "t.pt"
    save_tracker(path, model, cfg)
    loaded, stored = load_tracker_checkpoint(path)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert stored.gnn.hidden == 16
    with pytest.raises(ValueError, match="hidden"):
        load_tracker_checkpoint(path, expected=GNNConfig(hidden=32))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        load_tracker_checkpoint(bad)
    with pytest.raises(FileNotFoundError):
        make_tracker(None, tmp_path / "missing.pt")


def test_learned_tracker_runs_boxes_only_and_with_cues(tmp_path):
    torch.manual_seed(0)
    cfg = TrackerConfig(gnn=GNNConfig(hidden=16))
    save_tracker(tmp_path / "t.pt", SceneGraphGNN(cfg.gnn), cfg)
    intr = CameraIntrinsics.default_for(320, 240)
    for cues in (False, True):
        tracker = make_tracker(None, tmp_path / "t.pt")
        assert tracker.model is not None
        for f, d in enumerate(scene(10)):
            if cues:
                d.embeddings = np.ones((len(d), 8), np.float32)
                d.depths = np.full(len(d), 4.0, np.float32)
            out = tracker.step(d, Frame(image=np.zeros((240, 320, 3), np.uint8), stamp_ns=f * 10**8, index=f,
                                        intrinsics=intr))
        assert len(out.tracks) >= 3
        assert all(0.0 <= e.weight <= 1.0 for e in out.edges)


def test_pseudo_tracklets_are_consistent_and_spans_hide():
    frames = scene(60)
    pids = pseudo_tracklets(frames, fps=10.0)
    assert len(pids) == 60 and all(len(p) == len(d) for p, d in zip(pids, frames))
    # Each confident chain must follow one object: its boxes never jump.
    chains = {}
    for f, (p, d) in enumerate(zip(pids, frames)):
        for q, b in zip(p, d.boxes):
            if q >= 0:
                chains.setdefault(int(q), []).append((f, 0.5 * (b[:2] + b[2:])))
    assert chains and max(len(v) for v in chains.values()) >= 15
    for v in chains.values():
        for (f0, c0), (f1, c1) in zip(v, v[1:]):
            assert np.linalg.norm(c1 - c0) < 8.0 * (f1 - f0), "a pseudo-tracklet jumped between objects"
    keep = hide_spans(pids, np.random.default_rng(0), max_hide=10, fraction=1.0)
    hidden = sum(int((~k).sum()) for k in keep)
    assert hidden >= 2


def test_short_training_lowers_the_loss(tmp_path):
    from occtrack_ros.training.tracker import build_samples, sample_loss

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    samples = build_samples(scene(60), 10.0, (320, 240), rng, history=4, max_hide=10, hide_fraction=1.0)
    assert samples and any(((s.labels == 1) & (s.gap[:, None] > 0)).any() for s in samples), \
        "simulated occlusion must produce re-association positives"
    model = SceneGraphGNN(GNNConfig(hidden=16))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def mean_loss():
        with torch.no_grad():
            tot = [sample_loss(model, s) for s in samples]
        return sum(float(a) for a, _ in tot) / sum(n for _, n in tot)
    before = mean_loss()
    for _ in range(3):
        for s in samples:
            loss, n = sample_loss(model, s)
            opt.zero_grad()
            (loss / max(n, 1)).backward()
            opt.step()
    assert mean_loss() < 0.7 * before


def test_dict_overrides_keep_the_stored_knobs_of_the_weights():
    """The node passes e.g. max_occlusion_age as a dict: the shipped knobs must survive it."""
    from occtrack_ros.tracking import DEFAULT_WEIGHTS, make_tracker
    from occtrack_ros.tracking.checkpoint import load_tracker_checkpoint

    _, stored = load_tracker_checkpoint(DEFAULT_WEIGHTS)
    tracker = make_tracker({"max_occluded_frames": 7}, "default")
    assert tracker.config.max_occluded_frames == 7
    expected = {**stored.to_dict(), "max_occluded_frames": 7}
    assert tracker.config.to_dict() == expected
    import pytest

    with pytest.raises(ValueError, match="network shape"):
        make_tracker({"gnn": {"hidden": stored.gnn.hidden + 1}}, "default")


def test_offline_teacher_labels_one_object_through_a_gap_the_live_tracker_and_motion_teacher_cut():
    """The offline rows (re-linked from both sides of the gap) teach one identity where the others see two."""
    from occtrack_ros.tracking.self_supervision import offline_pseudo_tracklets

    hidden = range(20, 35)
    frames = [Detections(boxes=np.array([] if f in hidden else [[100 + 4 * f, 200, 130 + 4 * f, 240]],
                                        np.float32).reshape(-1, 4), scores=np.ones(0 if f in hidden else 1))
              for f in range(60)]
    config = TrackerConfig(fps=10.0, max_occluded_frames=5)    # the live track is lost inside the gap
    live = make_tracker(config)
    live_ids = {t.track_id for f, d in enumerate(frames)
                for t in live.step(d, Frame(image=np.zeros((0, 0, 3), np.uint8), stamp_ns=int(f * 1e8), index=f)).tracks
                if t.detection_index >= 0}
    assert len(live_ids) == 2, live_ids
    motion = {int(q) for p in pseudo_tracklets(frames, fps=10.0) for q in p if q >= 0}
    assert len(motion) == 2, motion
    offline = offline_pseudo_tracklets(frames, make_tracker(config), (640, 480))
    assert all(len(p) == len(d) for p, d in zip(offline, frames))
    labels = {int(q) for p in offline for q in p}
    assert len(labels) == 1 and -1 not in labels, labels
