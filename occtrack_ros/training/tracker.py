"""`occtrack train tracker`: the association GNN from detections alone (no identity labels).

Signals (see occtrack_ros/tracking/self_supervision.py): confident short-term pseudo-tracklets,
simulated occlusion (hidden spans that must be re-associated), and teacher-forced replay of the
real tracker so the training features are the inference features. Detections are corrupted gt
boxes of training sequences (a detector stand-in whose identities are dropped by the corruption)
or, with --detector, the slot detector's output.
"""
from __future__ import annotations

STAGE = "tracker"
HELP = "train the scene-graph association GNN without labels (pseudo-tracklets + simulated occlusion)"


def add_arguments(p) -> None:
    p.add_argument("--data", nargs="+", required=True, help="training sequence directories (seeds 0-999 only)")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, loss.png, config.json")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--hidden", type=int, default=32, help="GNN width; larger costs step time roughly quadratically")
    p.add_argument("--rounds", type=int, default=2, help="message-passing rounds")
    p.add_argument("--max-hide", type=int, default=40,
                   help="longest simulated occlusion [frames]; raise it when real occlusions are longer")
    p.add_argument("--hide-fraction", type=float, default=1.0,
                   help="share of pseudo-tracklets that get a hidden span (0 disables simulated occlusion)")
    p.add_argument("--replays", type=int, default=2, help="replays per sequence with different hidden spans")
    p.add_argument("--detector", default=None,
                   help="detector weights ('default' = shipped): train on its detections instead of corrupted gt")
    p.add_argument("--teacher", choices=("motion", "offline"), default="motion",
                   help="where the pseudo-tracklets come from: confident short-term links of the motion-only "
                        "tracker (motion), or the offline rows of a trained tracker, which link detections through "
                        "real occlusions from both sides of each gap (offline; needs --teacher-weights)")
    p.add_argument("--teacher-weights", default=None,
                   help="with --teacher offline: the teacher tracker's weights (e.g. a first run's checkpoint.pt; "
                        "'default' = shipped)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", default=None, help="checkpoint to continue from")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")


def _git_rev() -> str:
    import subprocess

    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True,
                                       stderr=subprocess.DEVNULL).strip()
    except Exception:  # noqa: BLE001 - not a git checkout
        return "unknown"


def load_training_detections(seq_dir, detector=None):
    """(frames: list[Detections], fps, (W, H)) for one training sequence; refuses held-out seeds."""
    import json
    from pathlib import Path

    import numpy as np

    from occtrack_ros.tracking.mot_files import read_seqinfo
    from occtrack_ros.types import Detections

    seq_dir = Path(seq_dir)
    info = read_seqinfo(seq_dir)
    meta_path = seq_dir / "gt" / "gt3d.json"
    seed = json.loads(meta_path.read_text()).get("seed") if meta_path.is_file() else None
    if seed is None or not 0 <= int(seed) <= 999:
        raise ValueError(f"{seq_dir}: training needs a sequence with a training seed 0-999, got {seed}")
    n = info["length"]
    if detector is not None:
        from occtrack_ros.data.sequence import load_sequence

        seq = load_sequence(seq_dir)
        detector.reset()
        frames = []
        for i in range(0, n, 8):
            frames += detector.detect([seq[k] for k in range(i, min(n, i + 8))])
        return frames, info["fps"], (info["width"], info["height"])
    from occtrack_ros.evaluation.corrupt import corrupt_gt
    from occtrack_ros.evaluation.mot_io import read_gt

    dets = corrupt_gt(read_gt(seq_dir / "gt" / "gt.txt"), int(seed), image_size=(info["width"], info["height"]),
                      num_frames=n)   # rows: frame, -1, x, y, w, h, score (identity dropped)
    frames = []
    for f in range(n):
        r = dets[dets[:, 0] == f + 1]
        frames.append(Detections(boxes=np.column_stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]]),
                                 scores=r[:, 6]))
    return frames, info["fps"], (info["width"], info["height"])


def teacher_camera(seq_dir) -> dict:
    """``poses`` and ``intrinsics`` of a sequence directory (poses.txt, camera.json) for the offline teacher."""
    from pathlib import Path

    from occtrack_ros.data.sequence import read_intrinsics
    from occtrack_ros.tracking.poses import read_poses

    seq_dir, out = Path(seq_dir), {}
    if (seq_dir / "poses.txt").is_file():
        out["poses"] = read_poses(seq_dir / "poses.txt")
    if (seq_dir / "camera.json").is_file():
        out["intrinsics"] = read_intrinsics(seq_dir / "camera.json")
    return out


def build_samples(frames, fps, image_size, rng, history, max_hide, hide_fraction, embed_dim=0, pids=None):
    """Teacher-forced samples of one replay; ``pids``: per-frame pseudo-tracklet ids (default: the motion teacher's)."""
    import numpy as np

    from occtrack_ros.tracking.config import TrackerConfig
    from occtrack_ros.tracking.self_supervision import TeacherForcedTracker, hide_spans, pseudo_tracklets
    from occtrack_ros.types import Frame

    if pids is None:
        pids = pseudo_tracklets(frames, fps)
    keep = (hide_spans(pids, rng, max_hide, hide_fraction) if hide_fraction > 0
            else [np.ones(len(p), bool) for p in pids])
    teacher = TeacherForcedTracker(TrackerConfig(fps=fps), history=history, embed_dim=embed_dim)
    image = np.zeros((image_size[1], image_size[0], 3), np.uint8)
    for f, (d, p, k) in enumerate(zip(frames, pids, keep)):
        teacher.step_forced(d.select(k), p[k], Frame(image=image, stamp_ns=int(f * 1e9 / fps), index=f),
                            hidden_pids=p[~k & (p >= 0)])
    return [s for s in teacher.samples if (s.labels == 1).any()]


def sample_loss(model, s):
    import torch
    import torch.nn.functional as F

    labels = torch.from_numpy(s.labels.astype("float32"))
    mask = labels >= 0
    memory = model.memory_from_history(torch.from_numpy(s.history))
    logits = model(torch.from_numpy(s.track), memory, torch.from_numpy(s.det), torch.from_numpy(s.edge),
                   torch.from_numpy(s.spatial))
    # Tracks that were hidden count more: re-association after occlusion is the rare, hard case.
    w = 1.0 + 2.0 * torch.from_numpy((s.gap > 0).astype("float32"))[:, None].expand_as(labels)
    bce = F.binary_cross_entropy_with_logits(logits[mask], labels[mask], weight=w[mask], reduction="sum")
    return bce, int(mask.sum())


def run(args) -> int:
    import json
    import time
    from dataclasses import asdict
    from pathlib import Path

    import numpy as np
    import torch
    from tqdm import tqdm

    from occtrack_ros.tracking.checkpoint import load_tracker_checkpoint, save_tracker
    from occtrack_ros.tracking.config import GNNConfig, TrackerConfig
    from occtrack_ros.tracking.gnn import SceneGraphGNN

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gnn_cfg = GNNConfig(hidden=args.hidden, rounds=args.rounds)
    config = TrackerConfig(gnn=gnn_cfg)
    print(f"occtrack train tracker  git {_git_rev()}")
    print(json.dumps({"args": {k: v for k, v in vars(args).items() if not k.startswith("_")},
                      "tracker": asdict(config)}, indent=1, default=str))
    detector = None
    if args.detector:
        from occtrack_ros.models.detector import load_detector

        detector = load_detector(None if args.detector == "default" else args.detector, device=args.device)
    if args.teacher == "offline" and not args.teacher_weights:
        raise SystemExit("occtrack train tracker: --teacher offline needs --teacher-weights")
    model = SceneGraphGNN(gnn_cfg)
    if args.resume:
        model, _ = load_tracker_checkpoint(args.resume, expected=gnn_cfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    t0 = time.time()
    seqs = []
    for d in tqdm(args.data, desc="detections"):
        seqs.append(load_training_detections(d, detector))
    # Pseudo-tracklets depend on the detections only: computed once per sequence, not per replay and epoch.
    if args.teacher == "motion":
        from occtrack_ros.tracking.self_supervision import pseudo_tracklets

        teacher_pids = [pseudo_tracklets(frames, fps) for frames, fps, _ in seqs]
    else:
        from occtrack_ros.pipeline import SLOT_DETECTOR_TRACKER_OVERRIDES
        from occtrack_ros.tracking import make_tracker
        from occtrack_ros.tracking.self_supervision import offline_pseudo_tracklets

        overrides = dict(SLOT_DETECTOR_TRACKER_OVERRIDES) if detector is not None else None
        teacher_pids = []
        for d, (frames, fps, size) in tqdm(list(zip(args.data, seqs)), desc="offline teacher"):
            teacher = make_tracker(overrides, args.teacher_weights)
            teacher.config.fps = fps
            teacher_pids.append(offline_pseudo_tracklets(frames, teacher, size, **teacher_camera(d)))
    history = []
    for epoch in range(args.epochs):
        samples = []
        for (frames, fps, size), pids in zip(seqs, teacher_pids):
            for _ in range(args.replays):
                samples += build_samples(frames, fps, size, rng, gnn_cfg.history, args.max_hide, args.hide_fraction,
                                         pids=pids)
        order = rng.permutation(len(samples))
        model.train()
        total, count = 0.0, 0
        bar = tqdm(order, desc=f"epoch {epoch + 1}/{args.epochs}", leave=False)
        for k in bar:
            loss, n = sample_loss(model, samples[k])
            if n == 0:
                continue
            opt.zero_grad()
            (loss / n).backward()
            opt.step()
            total += float(loss)
            count += n
        history.append(total / max(count, 1))
        print(f"epoch {epoch + 1}: loss {history[-1]:.4f} over {len(samples)} frames ({time.time() - t0:.0f} s)")
        save_tracker(out / "checkpoint.pt", model, config,
                     extra={"git": _git_rev(), "epoch": epoch + 1, "loss": history,
                            "signals": {"pseudo_tracklets": args.teacher, "teacher_weights": args.teacher_weights,
                                        "simulated_occlusion": args.hide_fraction > 0,
                                        "max_hide": args.max_hide, "teacher_forced_replay": True},
                            "data": [str(d) for d in args.data], "detector": args.detector})
    _plot(history, out / "loss.png")
    (out / "config.json").write_text(json.dumps(asdict(config), indent=1))
    print(f"wrote {out / 'checkpoint.pt'} and {out / 'loss.png'}")
    return 0


def _plot(history, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, len(history) + 1), history, marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("weighted BCE per labelled edge")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
