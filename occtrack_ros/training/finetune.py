"""`occtrack train joint`: detector + scene graph + association GNN fine-tuned together, without labels.

One step runs the design's loop on a clip of consecutive frames:

1. **detection**: the slot detector encodes the clip (gradients on); its per-slot masks give
   boxes/scores (the inference head) and differentiable mask-pooled embeddings;
2. **scene graph + GNN tracker**: the real :class:`~occtrack_ros.tracking.tracker.Tracker`, scoring
   associations with the current GNN, links the detections into tracks (no labels);
3. **back into detection**: two losses follow the tracker's associations back to the detector,
   - *temporal consistency* (InfoNCE): a track's embedding at its next observation, possibly after
     an occlusion, must be closer to its previous embedding than every other detection of that frame;
   - *GNN association* (BCE): the tracks are replayed teacher-forced with random spans hidden
     (simulated occlusion, as in ``occtrack train tracker``); the appearance edge feature of the
     scene graph is recomputed from the detector's embeddings with gradients, so the GNN's loss
     trains both the GNN and the detector features it reads;
   plus the detector's own reconstruction loss, which keeps the slots explaining the image, and,
   with ``--w-distill``, *mask distillation* (learning without forgetting): the masks the
   inference head reads (fresh slots, sharpened as at inference) are held to those of the frozen
   starting detector through their pixel-pair co-assignment, which slot each pair of pixels falls
   in together. It is invariant to the slots' order and is what FG-ARI scores; boxes and scores
   are functions of these masks, so the tracking losses may reshape the embeddings, not the detections.

``--freeze-detector`` trains the GNN alone on the frozen detector's output (the tracker
pretraining that ``occtrack train all`` uses for data the tracker stage cannot read, e.g. bags).

Runs unchanged under ``torchrun`` (DDP: gloo on CPU, NCCL on CUDA); bf16 autocast on CUDA.
"""
from __future__ import annotations

import math
from pathlib import Path

STAGE = "joint"
HELP = "fine-tune detector + scene graph + GNN together: tracking-consistency loss back into the detector"
DESCRIPTION = __doc__
HELD_OUT_FIRST_SEED = 1000
CHECKPOINT = "checkpoint.pt"


def add_arguments(p) -> None:
    """Options of `occtrack train joint`."""
    d = p.add_argument_group("data")
    d.add_argument("--data", nargs="+", required=True,
                   help="sequence directories, rosbag2 directories, or directories holding them")
    d.add_argument("--max-frames", type=int, default=None,
                   help="use at most the first N frames of each source (the rest is held out by the caller)")
    d.add_argument("--frame-fraction", type=float, default=1.0,
                   help="use the first fraction of each source's frames (0-1]; the rest stays unseen")
    d.add_argument("--image-topic", default=None, help="bag image topic (default: the bag reader's)")
    d.add_argument("--allow-held-out", action="store_true", help="do not refuse sequences with seed >= 1000")
    m = p.add_argument_group("models")
    m.add_argument("--detector", required=True, help="initial detector weights ('default' = shipped)")
    m.add_argument("--tracker", default=None,
                   help="initial tracker (GNN) weights ('default' = shipped); none = a fresh GNN")
    m.add_argument("--hidden", type=int, default=32, help="GNN width when starting a fresh GNN")
    m.add_argument("--freeze-detector", action="store_true",
                   help="train the GNN only, on the frozen detector's detections (tracker pretraining)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, default=300, help="optimizer steps (one clip per step and rank)")
    o.add_argument("--clip-len", type=int, default=16,
                   help="frames per clip; longer clips hold longer (simulated) occlusions")
    o.add_argument("--lr", type=float, default=2e-5,
                   help="detector learning rate (small: it is pretrained; on tuning seeds 2e-5 cost 0.004 "
                   "FG-ARI, 5e-5 cost 0.02)")
    o.add_argument("--gnn-lr", type=float, default=5e-4, help="GNN learning rate")
    o.add_argument("--w-consistency", type=float, default=0.05, help="weight of the temporal-consistency loss")
    o.add_argument("--w-gnn", type=float, default=0.05, help="weight of the GNN association loss")
    o.add_argument("--w-distill", type=float, default=0.0,
                   help="weight of the mask-distillation loss to the frozen starting detector (pixel-pair "
                   "co-assignment of the inference head's masks; 0 = off). 100 kept the occlusion detector's "
                   "FG-ARI (0.921 on validation seeds, 0.904 without); weights/tracker.md, session 19")
    o.add_argument("--distill-grid", type=int, default=32,
                   help="masks are averaged to a GRID x GRID grid before their co-assignment is compared")
    o.add_argument("--temperature", type=float, default=0.1, help="InfoNCE temperature")
    o.add_argument("--det-threshold", type=float, default=None,
                   help="objectness a slot needs to count as a detection in training (default: the detector's "
                   "score_threshold); lower it for a young detector whose scores are still low")
    o.add_argument("--max-hide", type=int, default=6, help="longest simulated occlusion inside a clip [frames]")
    o.add_argument("--save-every", type=int, default=50, help="checkpoint every n steps")
    r = p.add_argument_group("run")
    r.add_argument("--out", required=True, help="run folder: checkpoint.pt, detector.pt, tracker.pt, loss.png")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    r.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    r.add_argument("--amp", default="bf16", choices=("bf16", "fp16", "none"), help="autocast dtype on CUDA")
    r.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores); 1 on a shared machine")


# ----------------------------------------------------------------------------------------- data
def find_sources(paths: list[str]) -> list[Path]:
    """Sequence dirs (seqinfo.ini), bag dirs (metadata.yaml) or .mcap/.db3 files, or folders of them."""
    from occtrack_ros.data.frames import is_bag_dir, is_sequence_dir

    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise FileNotFoundError(f"--data {str(p)!r} does not exist")
        if is_sequence_dir(p) or is_bag_dir(p):
            out.append(p)
            continue
        kids = sorted(c for c in p.iterdir() if is_sequence_dir(c) or is_bag_dir(c)) if p.is_dir() else []
        if not kids:
            raise ValueError(f"--data {str(p)!r} is neither a sequence/bag directory nor holds any")
        out.extend(kids)
    return out


def sequence_seed(path: Path) -> int | None:
    """The generator seed of a sequence directory (gt3d.json, else trailing digits of its name); None for bags."""
    import json
    import re

    meta = path / "gt" / "gt3d.json"
    if meta.is_file():
        seed = json.loads(meta.read_text()).get("seed")
        if seed is not None:
            return int(seed)
    if (path / "seqinfo.ini").is_file():
        from occtrack_ros.data.sequence import read_seqinfo

        m = re.search(r"(\d+)$", read_seqinfo(path).get("name", ""))
        return int(m.group(1)) if m else None
    return None


def source_length(path: Path) -> int | None:
    """Frames in a sequence directory (seqinfo.ini); None for bags (unknown without reading them)."""
    if (path / "seqinfo.ini").is_file():
        from occtrack_ros.data.sequence import read_seqinfo

        return int(read_seqinfo(path)["seqlength"])
    return None


def load_clips_source(path: Path, size: int, max_frames: int | None, fraction: float, bag_options: dict):
    """Frames of one source, resized to (size, size): uint8 tensor (F, 3, S, S), fps.

    Streams the source (``open_frames``), so memory is the resized frames kept, never the recording.
    """
    import cv2
    import numpy as np
    import torch

    from occtrack_ros.data.frames import open_frames

    n_total = source_length(path)
    limit = max_frames
    if fraction < 1.0:
        if n_total is None:
            raise ValueError(f"{path}: --frame-fraction needs the source length; give --max-frames for bags")
        limit = min(limit or n_total, int(math.floor(fraction * n_total)))
    frames, stamps = [], []
    for frame in open_frames(path, **bag_options):
        if limit is not None and len(frames) >= limit:
            break
        im = frame.image
        frames.append(cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) if im.shape[:2] != (size, size)
                      else im)
        stamps.append(frame.stamp_ns)
    if not frames:
        raise ValueError(f"{path}: no frames")
    dt = np.diff(np.asarray(stamps, np.float64)) if len(stamps) > 1 else np.array([1e8])
    fps = float(1e9 / np.median(dt)) if np.median(dt) > 0 else 10.0
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous(), fps   # (F, 3, S, S)


# ----------------------------------------------------------------------------------------- losses
def detector_forward(model, clip, inference_masks: bool = False):
    """Clip (1, T, 3, S, S) -> reconstruction loss, differentiable embeddings (T, K, C), head output (no grad).

    The head (boxes, objectness) is the inference head on the same alpha, without gradients: it only
    decides which slots are detections; the embeddings carry the gradient back into the detector.
    With ``cfg.split_components`` detections are connected parts instead (``component_head``).
    With ``inference_masks`` the head output also holds ``masks``: the soft masks (T, K, S, S) of the
    inference path, with gradients (what the mask distillation compares); else ``masks`` is None.
    """
    import torch

    from occtrack_ros.models.detector import detector as det
    from occtrack_ros.models.detector.head import masks_from_logits, pooled_embeddings, run_head

    assert clip.dim() == 5 and clip.shape[0] == 1, f"clip must be (1, T, 3, S, S), got {tuple(clip.shape)}"
    s = clip.shape[-1]
    out = model(clip)
    core = model.module if hasattr(model, "module") else model
    rec = core.loss(out)
    feats = out["feats"][0].float()                                         # (T, N, C)
    masks = det.inference_masks(core, core.cfg, out["feats"][0], clip[0]) if inference_masks else None
    if core.cfg.split_components:
        emb, head = component_head(core, clip[0], feats, None if masks is None else masks.detach())
    else:
        alpha = out["alpha"][0].float()                                     # (T, K, h, w)
        emb = pooled_embeddings(masks_from_logits(alpha, s, s), feats, core.feature_grid)   # (T, K, C)
        with torch.no_grad():
            head = run_head(alpha.detach(), feats.detach(), core.feature_grid, s, s,
                            core.cfg.replace(refine_sigma=0.0))
    head["masks"] = masks
    return rec, emb, head


def coassignment(masks, grid: int):
    """Soft masks (T, K, H, W), summing to 1 over K -> (T, P, P) pixel-pair co-assignment, P = grid * grid.

    Entry (i, j) is the probability that pixels i and j fall in the same slot, ``sum_k m_k(i) m_k(j)``
    of the soft masks averaged to a ``grid x grid`` grid: independent of the slots' order, so two
    detectors are compared by their segmentations, not by which slot holds what.
    """
    import torch.nn.functional as F

    masks = masks.float()
    if masks.shape[-1] != grid or masks.shape[-2] != grid:
        masks = F.adaptive_avg_pool2d(masks, grid)                           # (T, K, g, g)
    flat = masks.flatten(2)                                                  # (T, K, P)
    return flat.transpose(1, 2) @ flat                                       # (T, P, P)


def distill_loss(masks, teacher_masks, grid: int):
    """Mean squared difference of the co-assignments of soft masks and the frozen teacher's (both (T, K, H, W))."""
    import torch

    with torch.no_grad():
        target = coassignment(teacher_masks, grid)
    return (coassignment(masks, grid) - target).pow(2).mean()


def distill_term(teacher, masks, frames, grid: int, autocast):
    """Mask distillation of one clip: the trained detector's inference masks against the frozen teacher's.

    masks (T, K, S, S) carry gradients (``detector_forward(..., inference_masks=True)``); the teacher
    encodes the frames (T, 3, S, S) in [0, 1] itself, without gradients.
    """
    import torch

    from occtrack_ros.models.detector.detector import inference_masks

    with torch.no_grad(), autocast():
        teacher_masks = inference_masks(teacher, teacher.cfg, teacher.encode(frames), frames)
    return distill_loss(masks, teacher_masks, grid)


def component_head(core, frames, feats, masks=None):
    """The parts the detector itself would report (``split_components``), with differentiable embeddings.

    frames (T, 3, S, S) in [0, 1] and their encoder tokens feats (T, N, C) -> embeddings (T, R, C) and
    head boxes (T, R, 4) / scores (T, R), padded with empty parts to the clip's largest R. The parts
    come from the inference path (``inference_masks``: fresh or carried slots as ``cfg.carry_slots``
    says, sharpened masks; then connected parts), without gradients; ``masks`` (T, K, S, S) are those
    masks when the caller has them already. Each embedding pools the tokens
    under its part's mask, so the consistency and GNN losses reach the encoder. The training
    forward's slot-level regions are no stand-in: a slot holding two objects far apart has one wide
    box, which the occlusion head scores as background, and the clip's carried slots drift.
    """
    import numpy as np
    import torch

    from occtrack_ros.models.detector.detector import frame_components, inference_masks
    from occtrack_ros.models.detector.head import pooled_embeddings

    cfg = core.cfg
    if masks is None:
        with torch.no_grad():
            masks = inference_masks(core, cfg, feats.detach(), frames.detach().float())
    masks, tokens = masks.detach().cpu().numpy(), feats.detach().float().cpu().numpy()
    every = cfg.replace(score_threshold=0.0)           # the caller applies its own threshold
    images = frames.detach().float().permute(0, 2, 3, 1).cpu().numpy()   # (T, H, W, 3): merge_chroma
    parts = [frame_components(masks[t], tokens[t], core.feature_grid, every, image=images[t])[0]
             for t in range(len(masks))]
    t_len, h, w = masks.shape[0], masks.shape[-2], masks.shape[-1]
    r = max(1, max(len(d) for d in parts))
    part_masks = torch.zeros(t_len, r, h, w, device=feats.device)
    boxes, scores = torch.zeros(t_len, r, 4), torch.zeros(t_len, r)
    for t, d in enumerate(parts):
        part_masks[t, :len(d)] = torch.from_numpy(d.masks).to(feats.device)
        boxes[t, :len(d)] = torch.from_numpy(np.asarray(d.boxes, np.float32))
        scores[t, :len(d)] = torch.from_numpy(np.asarray(d.scores, np.float32))
    emb = pooled_embeddings(part_masks, feats, core.feature_grid)            # (T, R, C)
    return emb, {"boxes": boxes, "scores": scores}


def clip_detections(head, emb, threshold: float):
    """Per frame: Detections of the slots scoring >= threshold and their slot indices (K-based)."""
    import numpy as np

    from occtrack_ros.types import Detections

    boxes, scores = head["boxes"].cpu().numpy(), head["scores"].cpu().numpy()      # (T, K, 4), (T, K)
    e = emb.detach().float().cpu().numpy()
    dets, slots = [], []
    for t in range(boxes.shape[0]):
        has_region = (boxes[t, :, 2] > boxes[t, :, 0]) & (boxes[t, :, 3] > boxes[t, :, 1])   # (K,)
        keep = np.nonzero((scores[t] >= threshold) & has_region)[0]
        dets.append(Detections(boxes=boxes[t, keep].astype(np.float64), scores=scores[t, keep].astype(np.float64),
                               embeddings=e[t, keep].astype(np.float32)))
        slots.append(keep)
    return dets, slots


def track_clip(gnn, dets, fps: float, size: int, min_score: float = 0.1):
    """Run the GNN tracker over a clip's detections -> per frame (N,) track id of each detection (-1 = none)."""
    import numpy as np

    from occtrack_ros.tracking.config import TrackerConfig
    from occtrack_ros.tracking.tracker import Tracker
    from occtrack_ros.types import Frame

    tracker = Tracker(TrackerConfig(fps=fps, n_init=1, min_new_track_score=0.0, min_det_score=min_score,
                                    gnn=gnn.config if gnn is not None else TrackerConfig().gnn), model=gnn)
    image = np.zeros((size, size, 3), np.uint8)
    ids = []
    for f, d in enumerate(dets):
        out = tracker.step(d, Frame(image=image, stamp_ns=int(round(f * 1e9 / fps)), index=f))
        tid = np.full(len(d), -1, np.int64)
        for t in out.tracks:
            if 0 <= t.detection_index < len(d):
                tid[t.detection_index] = t.track_id
        ids.append(tid)
    return ids


def consistency_loss(emb, slots, ids, temperature: float):
    """InfoNCE along the tracker's associations: each track's next observation is found among its frame's dets.

    emb (T, K, C) L2-normalised; slots / ids per frame (N_t,) -> scalar loss (0 when no link has a rival).
    """
    import torch
    import torch.nn.functional as F

    last: dict[int, tuple[int, int]] = {}
    terms = []
    for t, (sl, tid) in enumerate(zip(slots, ids)):
        if len(sl) >= 2:
            cand = emb[t, torch.as_tensor(sl, dtype=torch.long)]                           # (N, C)
            for j, q in enumerate(tid.tolist()):
                if q in last:
                    t0, k0 = last[q]
                    logits = cand @ emb[t0, k0] / temperature                                # (N,)
                    terms.append(F.cross_entropy(logits[None], torch.tensor([j])))
        for j, q in enumerate(tid.tolist()):
            if q >= 0:
                last[q] = (t, int(sl[j]))
    return torch.stack(terms).mean() if terms else emb.sum() * 0.0


def _teacher_class():
    from occtrack_ros.tracking.self_supervision import TeacherForcedTracker

    class RecordingTeacher(TeacherForcedTracker):
        """The tracker stage's teacher, also recording which pseudo-track each graph row is."""

        frame = 0

        def _assign(self, prob):
            import numpy as np

            pids = np.array([self._pid_of_track.get(t.track_id, -2) for t in self.tracks])
            matches = super()._assign(prob)
            self.samples[-1].track_pids = pids
            self.samples[-1].frame = self.frame
            return matches

    return RecordingTeacher


def track_memory(gnn, history):
    """(T, L, obs) zero-padded observation histories -> (T, H) GRU memories, as the tracker builds them."""
    import torch

    if hasattr(gnn, "memory_from_history"):
        return gnn.memory_from_history(history)
    T, L, _ = history.shape
    h = torch.zeros(T, gnn.config.hidden)
    valid = history.abs().sum(-1) > 0                                    # (T, L)
    for k in range(L):
        h = torch.where(valid[:, k:k + 1], gnn.update_memory(history[:, k], h), h)
    return h


def gnn_loss(gnn, emb, dets, slots, ids, fps: float, size: int, rng, max_hide: int, min_score: float = 0.1):
    """BCE of the GNN on teacher-forced replays with hidden spans; the appearance edge carries gradient.

    Returns (loss, labelled edges). Edge feature 8 (cosine of track and detection embeddings) is
    recomputed from the differentiable ``emb`` using each track's last kept observation.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    from occtrack_ros.tracking.config import TrackerConfig
    from occtrack_ros.tracking.self_supervision import hide_spans
    from occtrack_ros.types import Frame

    keep = hide_spans(ids, rng, max_hide, 1.0)
    teacher = _teacher_class()(TrackerConfig(fps=fps, min_det_score=min_score), history=gnn.config.history,
                               embed_dim=gnn.config.embed_dim)
    image = np.zeros((size, size, 3), np.uint8)
    kept_slots = []
    for f, (d, p, k) in enumerate(zip(dets, ids, keep)):
        teacher.frame = f
        kept_slots.append(slots[f][k])
        teacher.step_forced(d.select(k), p[k], Frame(image=image, stamp_ns=int(round(f * 1e9 / fps)), index=f))
    last_seen: dict[int, list[tuple[int, int]]] = {}
    for f, (p, k) in enumerate(zip(ids, keep)):
        for q, s in zip(p[k].tolist(), slots[f][k].tolist()):
            last_seen.setdefault(q, []).append((f, s))
    total, count = emb.sum() * 0.0, 0
    for s in teacher.samples:
        labels = torch.from_numpy(s.labels.astype(np.float32))                              # (T, N)
        mask = labels >= 0
        if not (labels == 1).any():
            continue
        edge = torch.from_numpy(s.edge).clone()                                              # (T, N, E)
        det_slots = torch.as_tensor(kept_slots[s.frame], dtype=torch.long)                   # (N,)
        rows, prev = [], []
        for i, q in enumerate(s.track_pids.tolist()):
            seen = [fs for fs in last_seen.get(q, []) if fs[0] < s.frame]
            if seen:
                rows.append(i)
                prev.append(seen[-1])
        if rows:
            tr_emb = torch.stack([emb[f, k] for f, k in prev])                              # (R, C)
            cos = tr_emb @ emb[s.frame, det_slots].T                                          # (R, N)
            idx = torch.as_tensor(rows, dtype=torch.long)
            edge[idx, :, 8] = cos.to(edge.dtype)
            edge[idx, :, 9] = 1.0
        memory = track_memory(gnn, torch.from_numpy(s.history))
        logits = gnn(torch.from_numpy(s.track), memory, torch.from_numpy(s.det), edge, torch.from_numpy(s.spatial))
        w = 1.0 + 2.0 * torch.from_numpy((s.gap > 0).astype(np.float32))[:, None].expand_as(labels)
        total = total + F.binary_cross_entropy_with_logits(logits[mask], labels[mask], weight=w[mask], reduction="sum")
        count += int(mask.sum())
    return total / max(count, 1), count


# ----------------------------------------------------------------------------------------- run
def _plot(history: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    panels = [("rec", "reconstruction MSE"), ("cons", "temporal consistency (InfoNCE)"),
              ("gnn", "GNN association BCE")]
    if any(history.get("distill", [])):
        panels.append(("distill", "mask distillation (co-assignment MSE)"))
    fig, ax = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    steps = np.asarray(history["step"])
    for a, (key, title) in zip(ax, panels):
        y = np.asarray(history[key], dtype=np.float64)
        a.plot(steps, y, alpha=0.35)
        k = max(1, len(y) // 20)
        if len(y) > k:
            a.plot(steps[k - 1:], np.convolve(y, np.ones(k) / k, mode="valid"), label=f"mean of {k}")
            a.legend()
        a.set_title(title)
        a.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _allreduce_grads(params, ctx) -> None:
    """Average gradients over ranks for a module that is not DDP-wrapped (the GNN runs many small forwards)."""
    import torch
    import torch.distributed as dist

    if not ctx.distributed:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad /= ctx.world_size


def train(args) -> int:
    """The joint fine-tuning loop; returns the exit status."""
    import json
    import time

    import numpy as np
    import torch
    from tqdm import tqdm

    from occtrack_ros.atomic_io import torch_save_atomic
    from occtrack_ros.models.detector.checkpoint import DEFAULT_WEIGHTS, load_model, save_checkpoint
    from occtrack_ros.tracking import DEFAULT_WEIGHTS as TRACKER_DEFAULT
    from occtrack_ros.tracking.checkpoint import load_tracker_checkpoint, save_tracker
    from occtrack_ros.tracking.config import GNNConfig, TrackerConfig
    from occtrack_ros.tracking.gnn import SceneGraphGNN
    from occtrack_ros.training import distributed as D
    from occtrack_ros.training.run_dir import git_revision

    if args.threads:
        torch.set_num_threads(args.threads)
    if not 0.0 < args.frame_fraction <= 1.0:
        raise ValueError(f"--frame-fraction {args.frame_fraction} must be in (0, 1]")
    if args.clip_len < 2:
        raise ValueError(f"--clip-len {args.clip_len}: need at least 2 frames to associate")
    ctx = D.init_distributed(args.device)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / CHECKPOINT
    det_path = DEFAULT_WEIGHTS["occlusion"] if args.detector == "default" else Path(args.detector)
    model, _ = load_model(det_path, overrides={"device": str(ctx.device)})
    cfg = model.cfg
    if args.tracker:
        trk_path = TRACKER_DEFAULT if args.tracker == "default" else Path(args.tracker)
        gnn, tracker_cfg = load_tracker_checkpoint(trk_path)
    else:
        tracker_cfg = TrackerConfig(gnn=GNNConfig(hidden=args.hidden))
        torch.manual_seed(args.seed)
        gnn = SceneGraphGNN(tracker_cfg.gnn)
    sources = find_sources(args.data)
    for src in sources:
        seed = sequence_seed(src)
        if seed is not None and seed >= HELD_OUT_FIRST_SEED and not args.allow_held_out:
            raise ValueError(f"{src}: seed {seed} is a held-out evaluation seed (>= {HELD_OUT_FIRST_SEED})")
    if ctx.is_main:
        print(f"occtrack train joint @ git {git_revision()}; torch threads {torch.get_num_threads()}; "
              f"device {ctx.device}; ranks {ctx.world_size}")
        print("args: " + json.dumps({k: v for k, v in vars(args).items() if not k.startswith("_")}, default=str,
                                    sort_keys=True))
        print("detector config: " + json.dumps(cfg.to_dict(), sort_keys=True))
        print("tracker config: " + json.dumps(tracker_cfg.to_dict(), sort_keys=True))
    bag_options = {"image_topic": args.image_topic} if args.image_topic else {}
    data = [load_clips_source(s, cfg.image_size, args.max_frames, args.frame_fraction, bag_options)
            for s in tqdm(sources, desc="loading frames", disable=not ctx.is_main)]
    usable = [i for i, (x, _) in enumerate(data) if x.shape[0] >= 2]
    if not usable:
        raise ValueError("no source has 2 frames for a clip")

    det_params = [p for p in model.parameters() if p.requires_grad]
    if args.freeze_detector:
        model.requires_grad_(False)
        det_params = []
    if args.w_distill < 0:
        raise ValueError(f"--w-distill {args.w_distill} must be >= 0")
    if args.distill_grid < 1:
        raise ValueError(f"--distill-grid {args.distill_grid} must be >= 1")
    teacher = None
    if args.w_distill > 0 and det_params:
        # the starting detector, frozen: what the segmentation must stay close to (learning without forgetting)
        import copy

        teacher = copy.deepcopy(model).to(ctx.device).eval().requires_grad_(False)
    model = D.wrap_ddp(model, ctx) if det_params else model.to(ctx.device)
    gnn_params = list(gnn.parameters())
    groups = [{"params": gnn_params, "lr": args.gnn_lr}]
    if det_params:
        groups.append({"params": det_params, "lr": args.lr})
    opt = torch.optim.Adam(groups)
    step = 0
    history = {"step": [], "loss": [], "rec": [], "cons": [], "gnn": [], "distill": [], "edges": [], "time_s": []}
    if args.resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        D.unwrap(model).load_state_dict(state["detector"])
        gnn.load_state_dict(state["gnn"])
        opt.load_state_dict(state["optimizer"])
        step, history = int(state["step"]), state["history"]
        history.setdefault("distill", [0.0] * len(history["step"]))     # checkpoints written before --w-distill
        if ctx.is_main:
            print(f"resumed at step {step}")
    torch.manual_seed(args.seed + 7919 * ctx.rank)
    t0 = time.time() - (history["time_s"][-1] if history["time_s"] else 0.0)
    bar = tqdm(total=args.steps, initial=step, desc="train joint", unit="step", disable=not ctx.is_main)
    while step < args.steps:
        # One stream per (seed, rank, step): a resumed run draws what the uninterrupted one would have.
        rng = np.random.default_rng([args.seed, ctx.rank, step])
        si = usable[int(rng.integers(len(usable)))]
        frames, fps = data[si]
        t_len = min(args.clip_len, frames.shape[0])
        start = int(rng.integers(frames.shape[0] - t_len + 1))
        clip = frames[start:start + t_len].to(ctx.device).float().div(255.0)[None]          # (1, T, 3, S, S)
        if rng.random() < 0.5:
            clip = clip.flip(-1)
        model.train(not args.freeze_detector)
        with D.autocast(ctx.device, enabled=args.amp != "none", dtype=args.amp):
            if args.freeze_detector:
                with torch.no_grad():
                    rec, emb, head = detector_forward(model, clip)
            else:
                rec, emb, head = detector_forward(model, clip, inference_masks=teacher is not None)
        distill = rec.detach() * 0.0
        if teacher is not None:
            distill = distill_term(teacher, head["masks"], clip[0], args.distill_grid,
                                   lambda: D.autocast(ctx.device, enabled=args.amp != "none", dtype=args.amp))
        emb = emb.float().cpu() if ctx.device.type != "cpu" else emb.float()
        threshold = cfg.score_threshold if args.det_threshold is None else args.det_threshold
        dets, slots = clip_detections(head, emb, threshold)
        gnn.eval()
        ids = track_clip(gnn, dets, fps, cfg.image_size, min(0.1, threshold))
        gnn.train()
        cons = consistency_loss(emb, slots, ids, args.temperature) if not args.freeze_detector else emb.sum() * 0
        g_loss, edges = gnn_loss(gnn, emb, dets, slots, ids, fps, cfg.image_size, rng, args.max_hide,
                                 min(0.1, threshold))
        if args.freeze_detector:
            loss = g_loss
        else:
            loss = (rec + args.w_consistency * cons.to(rec.device) + args.w_gnn * g_loss.to(rec.device)
                    + args.w_distill * distill)
        opt.zero_grad(set_to_none=False)
        if loss.requires_grad:  # frozen detector and no detections in the clip: nothing to learn from
            loss.backward()
        _allreduce_grads(gnn_params, ctx)
        torch.nn.utils.clip_grad_norm_(gnn_params + det_params, 1.0)
        opt.step()
        step += 1
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"joint loss became {value} at step {step}")
        history["step"].append(step)
        for key, v in (("loss", value), ("rec", D.all_reduce_mean(float(rec.detach()), ctx)),
                       ("cons", D.all_reduce_mean(float(cons.detach()), ctx)),
                       ("gnn", D.all_reduce_mean(float(g_loss.detach()), ctx)),
                       ("distill", D.all_reduce_mean(float(distill.detach()), ctx)), ("edges", edges),
                       ("time_s", time.time() - t0)):
            history[key].append(v)
        bar.update(1)
        bar.set_postfix(rec=f"{history['rec'][-1]:.4f}", cons=f"{history['cons'][-1]:.3f}",
                        gnn=f"{history['gnn'][-1]:.3f}", distill=f"{history['distill'][-1]:.2e}")
        if ctx.is_main and (step % args.save_every == 0 or step == args.steps):
            torch_save_atomic({"detector": D.unwrap(model).state_dict(), "gnn": gnn.state_dict(),
                               "optimizer": opt.state_dict(), "step": step, "history": history}, ckpt_path)
            _plot(history, out_dir / "loss.png")
    bar.close()
    if ctx.is_main:
        core = D.unwrap(model).cpu()
        save_checkpoint(out_dir / "detector.pt", core, None, step, {"step": history["step"], "loss": history["rec"]},
                        extra={"stage": STAGE, "git": git_revision(), "init": str(det_path),
                               "freeze_detector": bool(args.freeze_detector)})
        save_tracker(out_dir / "tracker.pt", gnn, tracker_cfg,
                     extra={"git": git_revision(), "stage": STAGE, "init": args.tracker, "loss": history["gnn"]})
        (out_dir / "history.json").write_text(json.dumps(history))
        _plot(history, out_dir / "loss.png")
        print(f"done: {step} steps in {history['time_s'][-1] / 60 if history['time_s'] else 0:.1f} min; "
              f"last losses rec {np.mean(history['rec'][-20:]):.5f} cons {np.mean(history['cons'][-20:]):.4f} "
              f"gnn {np.mean(history['gnn'][-20:]):.4f} distill {np.mean(history['distill'][-20:]):.2e}; "
              f"wrote {out_dir / 'detector.pt'}, {out_dir / 'tracker.pt'}")
    D.barrier(ctx)
    D.cleanup(ctx)
    return 0


def run(args) -> int:
    """Train; returns the exit status."""
    import sys

    try:
        return train(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        print(f"occtrack train joint: {exc}", file=sys.stderr)
        return 2
