r"""`occtrack train all`: the whole label-free schedule into one run directory and one bundle.

Stages, in order (``--stages`` picks a subset; ``--resume`` skips the finished ones)::

    depth-pose  self-supervised DepthNet + PoseNet (occtrack train depth-pose); SKIPPED, with the reason
                printed, when every training source has depth AND odometry (bag topics or depth/ + poses.txt)
    detector    slot detector (occtrack train detector), run in chunks of --detector-chunk steps until
                the smoothed reconstruction loss plateaus (relative gain < --plateau-rel) or --detector-steps
    tracker     association GNN on the frozen detector's detections (occtrack train tracker --detector);
                with --tracker-teacher offline a second round learns from the first one's offline rows;
                sources it cannot read (bags, sequences without a training seed) go through
                `occtrack train joint --freeze-detector` instead, the same GNN loss on the same detections
    joint       detector + scene graph + GNN fine-tuned together (occtrack train joint)

then the bundle (RUN/bundle: the weights + manifest, :mod:`occtrack_ros.training.bundle`) and the
held-out evaluation (RUN/metrics.json).

Held-out split: with several sources the last ``--holdout`` percent of them (at least one, in
sorted path order) are never trained on; with one source its last ``--holdout`` percent of frames
are held out (the training part is exported as a sequence directory, see below). Held-out data
with ground truth (generated sequence directories) is scored with occtrack_ros.evaluation (HOTA,
IDF1, occlusion recovery) and FG-ARI; without ground truth (bags) with self-supervised proxies
(reconstruction MSE, detections per frame, mean track length). ``--eval-data`` adds evaluation
sequences (e.g. held-out seeds 1000-1009); ``--compare`` also scores the bundle of the stages
before joint fine-tuning on them (the joint-fine-tuning ablation).

Bags: the detector stage reads rosbag2 directories itself; depth-pose and tracker take sequence
directories only, so each bag's training frames are exported (streamed, bounded memory) to
RUN/data/<name>/ (img1/, seqinfo.ini, camera.json from camera_info, poses.txt from odometry,
depth/ from the depth topic) and the stages read that.

Under torchrun, rank 0 runs the single-process stages while the other ranks wait on the status
file; the joint stage runs on all ranks with DDP.

The detector stage has no early stop of its own, so it is called with ``--steps`` raised one
chunk at a time and ``--resume``, and ``--schedule-steps --detector-steps``: every chunk follows
the one cosine schedule the stage alone would have used, and a plateau stop simply ends it early.

Regenerating the shipped occlusion weights from generated data (training seeds 0-23; evaluation on
held-out seeds 1000-1009)::

    for s in $(seq 0 23); do occtrack generate --seed $s --out data/det/occ/$(printf %04d $s) --quiet; done
    occtrack train all --data data/det/occ --out runs/all_occlusion --holdout 0 --depth-pose always \
        --detector-steps 4000 --detector-chunk 500 --detector-batch 4 \
        --detector-args "--lr 1e-3 --warmup 60 --frame-stride 2 --clip-len 2" --tracker-epochs 2 \
        --joint-steps 300 --eval-data data/heldout/occlusion-10* --compare --seed 0 --threads 1

``--depth-pose always`` because generated data carries depth and odometry (which would skip it).
RUN/detector/detector.pt is bit-identical to weights/detector_occlusion.pt, and
RUN/depth-pose/depth_pose.pt to weights/depth_pose_occlusion.pt (checked in session 5: every tensor
equal; the detector's chunks resume its sampling and torch random streams and follow one cosine
schedule). The whole schedule is deterministic on CPU: two runs gave bit-identical detector,
tracker and joint weights. Session 26 checked the detector again at that code: every model
tensor equal (the files differ in metadata: data paths, timings). RUN/joint/{detector,tracker}.pt
of that run are the opt-in weights/detector_occlusion_joint.pt and tracker_occlusion_joint.pt.
weights/tracker_occlusion.pt was trained by `occtrack train tracker` on a detector stand-in
(corrupted ground-truth boxes without identities). RUN/tracker/checkpoint.pt, trained on the
detector's own output, tracks as well behind the detector on tuning seeds. It tracks 0.5-1.0 IDF1
worse on boxes only (weights/tracker.md, session 26). The joint stage's ablation and the wall times
are in README.md.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

STAGE = "all"
HELP = "run the whole schedule (depth-pose, detector, tracker, joint) into one run dir and bundle"
DESCRIPTION = __doc__
STAGES = ("depth-pose", "detector", "tracker", "joint")
OFFLINE_TEACHER_DIR = "tracker-offline"   # the tracker stage's second round (--tracker-teacher offline)


def add_arguments(p) -> None:
    """Options of `occtrack train all`."""
    d = p.add_argument_group("data")
    d.add_argument("--data", nargs="+", required=True,
                   help="sequence directories, rosbag2 directories (or .mcap/.db3), or directories holding them")
    d.add_argument("--holdout", type=float, default=20.0,
                   help="percent held out for evaluation: the last sources, or the last frames of a single source")
    d.add_argument("--eval-data", nargs="*", default=[],
                   help="extra evaluation sequence directories (never trained on), e.g. seeds 1000-1009")
    d.add_argument("--eval-max-frames", type=int, default=None, help="score at most this many frames per sequence")
    d.add_argument("--image-topic", default=None, help="bag image topic (default /camera/image_raw)")
    d.add_argument("--depth-topic", default=None, help="bag depth topic (default /camera/depth/image_raw)")
    d.add_argument("--odom-topic", default=None, help="bag odometry topic (default /odom)")
    d.add_argument("--camera-info-topic", default=None, help="bag camera_info topic (default /camera/camera_info)")
    s = p.add_argument_group("schedule")
    s.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    s.add_argument("--depth-pose", default="auto", choices=("auto", "always", "never"),
                   help="auto: train depth/pose unless the data has depth and odometry; always: train it anyway "
                   "(e.g. to regenerate the shipped depth_pose weights from generated data); never: skip")
    s.add_argument("--stop-after", default=None, choices=STAGES,
                   help="stop (exit 0) once this stage is finished, as if interrupted; --resume goes on")
    s.add_argument("--init-detector", default=None,
                   help="detector weights to start from ('default' = shipped, when present); none = from scratch")
    s.add_argument("--init-tracker", default=None,
                   help="tracker weights the joint stage starts from when the tracker stage is not run")
    s.add_argument("--preset-name", default="occlusion", help="detector architecture preset when from scratch")
    s.add_argument("--detector-steps", type=int, default=3000, help="detector stage: most steps")
    s.add_argument("--detector-chunk", type=int, default=250, help="detector stage: steps between plateau checks")
    s.add_argument("--plateau-rel", type=float, default=0.01,
                   help="stop the detector when the mean loss of the last chunk improves on the previous "
                   "chunk's by less than this fraction")
    s.add_argument("--detector-batch", type=int, default=8, help="detector stage: clips per step")
    s.add_argument("--detector-args", default="", help="extra options for the detector stage, e.g. '--lr 3e-4'")
    s.add_argument("--depth-iters", default="pose=700,depth=700,joint=300,sharpen=300",
                   help="depth-pose --iters (the shipped weights' schedule)")
    s.add_argument("--depth-args", default="", help="extra options for the depth-pose stage")
    s.add_argument("--tracker-epochs", type=int, default=4, help="tracker stage epochs")
    s.add_argument("--tracker-steps", type=int, default=200,
                   help="tracker pretraining steps through the joint stage's frozen-detector path (bags)")
    s.add_argument("--tracker-args", default="", help="extra options for the tracker stage")
    s.add_argument("--tracker-teacher", choices=("motion", "offline"), default="motion",
                   help="offline: after the tracker stage (pseudo-tracklets from the motion-only tracker), train the "
                        "GNN again on the offline rows of the first one, whose identities run through real "
                        "occlusions (occtrack train tracker --teacher offline; sequence directories only). Tuning "
                        "seeds 30-69: the node's live rows IDF1 82.3 -> 83.4 (weights/tracker.md, session 26)")
    s.add_argument("--joint-steps", type=int, default=300, help="joint fine-tuning steps")
    s.add_argument("--joint-args", default="", help="extra options for the joint stage, e.g. '--w-gnn 0.1'")
    r = p.add_argument_group("run")
    r.add_argument("--out", required=True, help="run directory")
    r.add_argument("--resume", action="store_true", help="skip finished stages; resume the interrupted one")
    r.add_argument("--compare", action="store_true",
                   help="also evaluate the pre-joint (stages-only) weights: the joint fine-tuning ablation")
    r.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    r.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores); 1 on a shared machine")


# ------------------------------------------------------------------------------------ data helpers
def bag_options(args) -> dict:
    """BagReader keyword arguments from the topic options that were given."""
    names = {"image_topic": args.image_topic, "depth_topic": args.depth_topic, "odom_topic": args.odom_topic,
             "camera_info_topic": args.camera_info_topic}
    return {k: v for k, v in names.items() if v}


def bag_topics(path: Path) -> set[str]:
    """Topic names recorded in a bag (reads the metadata only)."""
    from rosbags.highlevel import AnyReader

    from occtrack_ros.data.bag_writer import default_typestore

    with AnyReader([path], default_typestore=default_typestore()) as reader:
        return {c.topic for c in reader.connections}


def sensor_report(path: Path, options: dict) -> tuple[bool, str]:
    """(has depth AND odometry, what was found) for one source."""
    from occtrack_ros.data import bag_topics as T
    from occtrack_ros.data.frames import is_bag_dir

    if is_bag_dir(path):
        topics = bag_topics(path)
        want = (options.get("depth_topic", T.DEPTH_TOPIC), options.get("odom_topic", T.ODOM_TOPIC))
        ok = all(t in topics for t in want)
        return ok, f"{path.name}: depth topic {want[0]} {'present' if want[0] in topics else 'absent'}, " \
                   f"odometry {want[1]} {'present' if want[1] in topics else 'absent'}"
    depth = path / "depth"
    has_depth = depth.is_dir() and any(depth.glob("*.npy"))
    has_odom = (path / "poses.txt").is_file()
    return has_depth and has_odom, (f"{path.name}: depth/ {'present' if has_depth else 'absent'}, "
                                    f"poses.txt {'present' if has_odom else 'absent'}")


def split_sources(sources: list[Path], holdout_pct: float) -> tuple[list[Path], list[Path], float]:
    """(train sources, held-out sources, train frame fraction of a single source)."""
    if not 0.0 <= holdout_pct < 100.0:
        raise ValueError(f"--holdout {holdout_pct} must be in [0, 100)")
    if holdout_pct == 0:
        return sources, [], 1.0
    if len(sources) == 1:
        return sources, [], 1.0 - holdout_pct / 100.0
    n_hold = max(1, int(round(len(sources) * holdout_pct / 100.0)))
    if n_hold >= len(sources):
        raise ValueError(f"--holdout {holdout_pct}% of {len(sources)} sources leaves nothing to train on")
    return sources[:-n_hold], sources[-n_hold:], 1.0


def export_names(sources: list[Path]) -> dict[Path, str]:
    """A distinct export directory name per source: its stem, or parent_stem where stems repeat.

    `occtrack generate --bag` writes every recording to a folder named ``bag``, so stems alone
    would send all of them to one export directory.
    """
    from collections import Counter

    stems = Counter(s.stem for s in sources)
    names = {s: (s.stem if stems[s.stem] == 1 else f"{s.parent.name}_{s.stem}") for s in sources}
    seen = Counter(names.values())
    return {s: (n if seen[n] == 1 else f"{i:03d}_{n}") for i, (s, n) in enumerate(names.items())}


def export_sequence(src: Path, out: Path, start: int, stop: int | None, options: dict) -> Path:
    """Write frames [start, stop) of a bag or sequence to a sequence directory (streamed); returns ``out``.

    Written: img1/*.png, seqinfo.ini, and when the source carries them camera.json, poses.txt,
    depth/*.npy. No ground truth. An existing complete export (seqinfo.ini written last) is reused.
    """
    import cv2
    import numpy as np

    from occtrack_ros.data.frames import open_frames
    from occtrack_ros.data.sequence_writer import pose_to_tq

    if (out / "seqinfo.ini").is_file():
        return out
    (out / "img1").mkdir(parents=True, exist_ok=True)
    n, stamps, poses, intr, shape, has_depth = 0, [], [], None, None, True
    for frame in open_frames(src, **options):
        if frame.index < start:
            continue
        if stop is not None and frame.index >= stop:
            break
        n += 1
        cv2.imwrite(str(out / "img1" / f"{n:06d}.png"), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
        shape = frame.image.shape
        stamps.append(frame.stamp_ns)
        intr = frame.intrinsics or intr
        poses.append(frame.T_world_cam)
        if frame.depth is not None and has_depth:
            (out / "depth").mkdir(exist_ok=True)
            np.save(out / "depth" / f"{n:06d}.npy", np.asarray(frame.depth, np.float32))
        else:
            has_depth = False
    if n == 0:
        raise ValueError(f"{src}: no frames in [{start}, {stop})")
    if not has_depth and (out / "depth").is_dir():
        for f in (out / "depth").glob("*.npy"):
            f.unlink()
        (out / "depth").rmdir()
    if intr is not None:
        (out / "camera.json").write_text(json.dumps({"fx": intr.fx, "fy": intr.fy, "cx": intr.cx, "cy": intr.cy,
                                                     "width": intr.width, "height": intr.height}))
    if all(p is not None for p in poses):
        lines = []
        for i, T in enumerate(poses):
            t, q = pose_to_tq(np.asarray(T))
            lines.append(f"{i + 1} " + " ".join(f"{v:.9g}" for v in (*t, *q)))
        (out / "poses.txt").write_text("\n".join(lines) + "\n")
    dt = np.median(np.diff(stamps)) if len(stamps) > 1 else 1e8
    fps = 1e9 / dt if dt > 0 else 10.0
    (out / "seqinfo.ini").write_text(
        f"[Sequence]\nname={out.name}\nimDir=img1\nframeRate={fps:.6g}\nseqLength={n}\n"
        f"imWidth={shape[1]}\nimHeight={shape[0]}\nimExt=.png\n")
    return out


def count_frames(src: Path, options: dict) -> int:
    """Frames of a source (reads a bag once, lazily)."""
    from occtrack_ros.data.frames import open_frames
    from occtrack_ros.training.finetune import source_length

    n = source_length(src)
    if n is not None:
        return n
    return sum(1 for _ in open_frames(src, **options))


# ------------------------------------------------------------------------------------ stage calls
def call_stage(module, argv: list[str]) -> int:
    """Build the stage's own parser, parse ``argv`` and run it (the stage's CLI contract, in process)."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"occtrack train {module.STAGE}")
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    print(f"\n=== occtrack train {module.STAGE} " + " ".join(argv), flush=True)
    return int(module.run(args) or 0)


class _SingleProcess:
    """Hide torchrun's WORLD_SIZE while rank 0 runs a single-process stage (no process group to join)."""

    def __enter__(self):
        self.saved = os.environ.get("WORLD_SIZE")
        os.environ["WORLD_SIZE"] = "1"

    def __exit__(self, *exc):
        if self.saved is None:
            os.environ.pop("WORLD_SIZE", None)
        else:
            os.environ["WORLD_SIZE"] = self.saved


def _common(args, threads_flag: str = "--threads") -> list[str]:
    return ["--seed", str(args.seed), "--device", args.device] + ([threads_flag, str(args.threads)]
                                                                   if args.threads else [])


def _split_extra(text: str) -> list[str]:
    import shlex

    return shlex.split(text) if text else []


def plateaued(losses: list[float], chunk: int, rel: float) -> tuple[bool, str]:
    """Has the smoothed loss stopped improving? Compares the means of the last two chunks of steps."""
    if len(losses) < 2 * chunk:
        return False, f"{len(losses)} steps: need two chunks of {chunk} to compare"
    prev = sum(losses[-2 * chunk:-chunk]) / chunk
    last = sum(losses[-chunk:]) / chunk
    gain = (prev - last) / max(abs(prev), 1e-12)
    return gain < rel, f"mean loss {prev:.5g} -> {last:.5g} over the last two chunks of {chunk} (gain {gain:.2%})"


def run_detector_stage(args, run, train_dirs: list[Path]) -> Path:
    """Chunks of the detector stage until the reconstruction loss plateaus; returns detector.pt."""
    from occtrack_ros.atomic_io import torch_save_atomic
    from occtrack_ros.models.detector.checkpoint import DEFAULT_WEIGHTS, read_checkpoint
    from occtrack_ros.training import detector as stage

    out = run.stage_dir("detector")
    ckpt = out / "checkpoint.pt"
    if not args.resume and ckpt.exists():
        for name in ("checkpoint.pt", "detector.pt", "history.json"):
            (out / name).unlink(missing_ok=True)
    init = args.init_detector
    if init and not ckpt.exists():
        path = DEFAULT_WEIGHTS["occlusion"] if init == "default" else Path(init)
        payload = read_checkpoint(path)
        # The stage has no --init: a step-0 checkpoint of the initial weights is resumed instead.
        torch_save_atomic({"format": payload["format"], "config": payload["config"], "model": payload["model"],
                           "step": 0, "history": {}, "extra": {"init": str(path)}}, ckpt)
        print(f"detector: starting from {path}")
    step = int(read_checkpoint(ckpt)["step"]) if ckpt.exists() else 0
    reason = f"reached --detector-steps {args.detector_steps}"
    while step < args.detector_steps:
        target = min(args.detector_steps, step + args.detector_chunk)
        argv = ["--data", *map(str, train_dirs), "--out", str(out), "--steps", str(target),
                "--schedule-steps", str(args.detector_steps), "--preset-name", args.preset_name,
                "--batch", str(args.detector_batch), "--save-every", str(args.detector_chunk),
                *_common(args), *_split_extra(args.detector_args)]
        if ckpt.exists():
            argv.append("--resume")
        if call_stage(stage, argv) != 0:
            raise RuntimeError("detector stage failed (see its messages above)")
        payload = read_checkpoint(ckpt)
        step = int(payload["step"])
        done, why = plateaued(list(payload["history"].get("loss", [])), args.detector_chunk, args.plateau_rel)
        print(f"detector plateau check at step {step}: {why} -> {'plateau, stop' if done else 'go on'}")
        if done:
            reason = f"plateau at step {step}: {why}"
            break
    det = out / "detector.pt"
    if not det.exists():
        raise RuntimeError(f"detector stage wrote no {det}")
    run.mark("detector", "done", reason=reason, steps=step)
    history = read_checkpoint(ckpt)["history"]
    run.plot_curve("detector", {"reconstruction MSE": (history.get("step", []), history.get("loss", []))})
    return det


def tracker_stage_can_read(dirs: list[Path]) -> tuple[bool, str]:
    """The tracker stage needs sequence dirs whose gt/gt3d.json names a training seed (0-999)."""
    from occtrack_ros.training.finetune import sequence_seed

    for d in dirs:
        if not (d / "gt" / "gt3d.json").is_file():
            return False, f"{d} has no gt/gt3d.json (the tracker stage checks the training seed there)"
        seed = sequence_seed(d)
        if seed is None or not 0 <= seed <= 999:
            return False, f"{d}: seed {seed} is not a training seed"
    return True, ""


# ------------------------------------------------------------------------------------ evaluation
def _gt_available(d: Path) -> bool:
    return (d / "gt" / "gt.txt").is_file() and (d / "img1").is_dir()


def _track_source(detector, tracker, frames, seq, first: int, aris: list, recon: list, offline: list | None = None):
    """Detect + track ``frames`` in batches of 8; returns (MOT result rows, {track: frames observed}, detections).

    The rows are the live tracker's (what the node publishes). With ``offline`` (a list), an
    ``OfflineRecorder`` with ``occtrack track``'s defaults records the same steps and its rows (gap
    filling, backfill, re-linking, completion: what ``occtrack track`` writes) are appended to it at the
    end. Appends per-frame FG-ARI to ``aris`` when ``seq`` (with gt masks) is given, else a
    reconstruction MSE every 10th frame (from the first evaluated one) to ``recon``.
    """
    import numpy as np
    import torch

    from occtrack_ros.models.detector.scoring import fg_ari
    from occtrack_ros.tracking.mot_files import result_rows
    from occtrack_ros.tracking.offline import default_recorder
    from occtrack_ros.tracking.tracker import detection_occluder_sides

    rows, lengths, n_dets = [], {}, 0
    rec = None
    frames = iter(frames)
    while True:
        batch = [f for _, f in zip(range(8), frames)]
        if not batch:
            if offline is not None and rec is not None:
                offline.extend(rec.lines())
            return rows, lengths, n_dets
        dets, masks = detector.detect_all(batch)
        for j, (frame, det) in enumerate(zip(batch, dets)):
            n_dets += len(det)
            out = tracker.step(det, frame)
            size = (frame.image.shape[1], frame.image.shape[0])
            rows.extend(result_rows(frame.index - first, out.tracks, size))
            if offline is not None:
                if rec is None:
                    rec = default_recorder(tracker.config, size)
                rec.add(frame.index - first, out, det.embeddings, det.depths,
                        detection_occluder_sides(det.boxes, det.depths, frame.depth,
                                                 tracker.config.occluder_depth_ratio), det.colours)
            for t in out.tracks:
                lengths[t.track_id] = t.frames_observed
            if seq is not None:
                score = fg_ari(seq.mask(frame.index), masks[j])
                if score is not None:
                    aris.append(score)
            elif (frame.index - first) % 10 == 0:
                with torch.no_grad():
                    x = detector.preprocess(torch.from_numpy(np.array(frame.image[None])).to(detector.device))
                    recon.append(float(detector.model.loss(detector.model(x[None]))))


def evaluate_weights(detector_path: Path, tracker_path: Path, dirs: list[Path], start_frac: float = 0.0,
                     max_frames: int | None = None, options: dict | None = None, device: str = "cpu") -> dict:
    """Score detector + tracker weights on held-out sources.

    The tracker runs as behind the slot detector everywhere else (``SLOT_DETECTOR_TRACKER_OVERRIDES``,
    as the node and ``occtrack track`` run it). With ground truth: TrackEval HOTA/IDF1/..., occlusion
    recovery, FG-ARI (frames from ``start_frac`` of each sequence on, renumbered from 1), for the rows
    ``occtrack track`` writes at its defaults (``tracking``: the issue's measurement contract) and for
    the live rows the node publishes (``tracking_live``). Without: reconstruction MSE, detections per
    frame and mean track length (label-free proxies).
    """
    import numpy as np

    from occtrack_ros.data.frames import open_frames
    from occtrack_ros.evaluation.metrics import SequenceInput, evaluate_sequences
    from occtrack_ros.models.detector import load_detector
    from occtrack_ros.pipeline import SLOT_DETECTOR_TRACKER_OVERRIDES
    from occtrack_ros.tracking import make_tracker

    detector = load_detector(str(detector_path), device=device)
    with_gt, live, proxies, aris = [], [], {"recon_mse": [], "dets_per_frame": [], "track_len": []}, []
    for d in dirs:
        gt_ok = _gt_available(d)
        total = count_frames(d, options or {})
        first = int(math.floor(start_frac * total))
        last = total if max_frames is None else min(total, first + max_frames)
        detector.reset()
        tracker = make_tracker(dict(SLOT_DETECTOR_TRACKER_OVERRIDES), str(tracker_path))
        seq = None
        if gt_ok:
            from occtrack_ros.data.sequence import load_sequence

            seq = load_sequence(d)
            tracker.config.fps = seq.fps
            frames_iter = (seq[i] for i in range(first, last))
        else:
            frames_iter = (f for f in open_frames(d, **(options or {})) if first <= f.index < last)
        offline = [] if seq is not None else None
        rows, lengths, n_dets = _track_source(detector, tracker, frames_iter, seq, first, aris, proxies["recon_mse"],
                                              offline)
        proxies["dets_per_frame"].append(n_dets / max(last - first, 1))
        proxies["track_len"].extend(v for v in lengths.values() if v > 0)
        if seq is not None:
            from occtrack_ros.evaluation.mot_io import read_gt

            gt = read_gt(d / "gt" / "gt.txt")
            gt = gt[(gt[:, 0] > first) & (gt[:, 0] <= last)].copy()
            gt[:, 0] -= first
            for out_rows, into in ((offline, with_gt), (rows, live)):
                res = np.array([[float(v) for v in r.split(",")] for r in out_rows]).reshape(-1, 10)
                into.append(SequenceInput(name=d.name, gt=gt, res=res, num_frames=last - first))
    out = {"sequences": [str(d) for d in dirs], "first_frame_fraction": start_frac, "detector": str(detector_path),
           "tracker": str(tracker_path), "dets_per_frame": float(np.mean(proxies["dets_per_frame"])),
           "mean_track_length": float(np.mean(proxies["track_len"])) if proxies["track_len"] else 0.0}
    if proxies["recon_mse"]:
        out["recon_mse"] = float(np.mean(proxies["recon_mse"]))
    if with_gt:
        res = evaluate_sequences(with_gt)
        out["tracking"] = res["combined"]
        out["tracking_live"] = evaluate_sequences(live)["combined"]
        out["fg_ari"] = float(np.mean(aris)) if aris else None
        out["per_sequence"] = {k: {m: v.get(m) for m in ("HOTA", "IDF1", "occlusion_recovery")}
                               for k, v in res["sequences"].items()}
    return out


# ------------------------------------------------------------------------------------ the schedule
def _wait_for(run, stage: str, poll_s: float = 5.0) -> None:
    """Non-zero ranks: wait (on the file system, no collective timeout) until rank 0 finished ``stage``."""
    while not run.finished(stage):
        if run.status().get(stage, {}).get("state") == "failed":
            raise RuntimeError(f"stage {stage} failed on rank 0")
        time.sleep(poll_s)


def schedule(args) -> int:
    import torch

    from occtrack_ros.training import depth_pose as depth_stage
    from occtrack_ros.training import finetune
    from occtrack_ros.training import tracker as tracker_stage
    from occtrack_ros.training.bundle import write_bundle
    from occtrack_ros.training.run_dir import RunDir, git_revision

    rank = int(os.environ.get("RANK", "0"))
    if args.threads:
        torch.set_num_threads(args.threads)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise ValueError(f"--stages: unknown stage(s) {unknown}; choose from {','.join(STAGES)}")
    stages = [s for s in STAGES if s in stages]
    run = RunDir(args.out)
    options = bag_options(args)
    sources = finetune.find_sources(args.data)
    train_src, held_src, frac = split_sources(sources, args.holdout)
    for src in train_src:
        seed = finetune.sequence_seed(src)
        if seed is not None and seed >= finetune.HELD_OUT_FIRST_SEED:
            raise ValueError(f"{src}: seed {seed} is a held-out evaluation seed (>= {finetune.HELD_OUT_FIRST_SEED}); "
                             "give it as --eval-data, never as training --data")
    if rank == 0:
        cfg = run.write_config({"command": "occtrack train all", "args": {k: v for k, v in vars(args).items()
                                                                         if not k.startswith("_")},
                                "split": {"train": [str(s) for s in train_src], "held_out": [str(s) for s in held_src],
                                          "train_frame_fraction": frac,
                                          "rule": "last --holdout percent of sources; of frames for one source"},
                                "stages": stages})
        print(f"occtrack train all @ git {cfg['git_revision']}")
        print("config: " + json.dumps(cfg, sort_keys=True, default=str))
        if not args.resume:
            for s in stages:
                status = run.status()
                if s in status:
                    status.pop(s)
                    run.path.joinpath("status.json").write_text(json.dumps(status, indent=1))

    # Sequence directories the single-process stages can read (bags and frame splits are exported).
    train_dirs: list[Path] = []
    names = export_names(train_src)
    for src in train_src:
        needs_export = frac < 1.0 or not (src / "seqinfo.ini").is_file() or not (src / "img1").is_dir()
        if not needs_export:
            train_dirs.append(src)
            continue
        stop = None
        if frac < 1.0:
            stop = int(math.floor(frac * count_frames(src, options)))
        dst = run.path / "data" / f"{names[src]}_train"
        if rank == 0:
            print(f"exporting {src} frames [0, {stop if stop is not None else 'end'}) to {dst}")
            export_sequence(src, dst, 0, stop, options)
        else:
            while not (dst / "seqinfo.ini").is_file():
                time.sleep(2.0)
        train_dirs.append(dst)

    def finished(stage: str) -> bool:
        return args.resume and run.finished(stage)

    det_path = run.path / "detector" / "detector.pt"
    trk_path = None
    for stage in stages:
        if finished(stage):
            print(f"[{stage}] already {run.status()[stage]['state']} in {run.path} (--resume): not rerun")
        elif rank != 0 and stage != "joint":
            _wait_for(run, stage)
        elif stage == "depth-pose":
            reports = [sensor_report(s, options) for s in train_src]
            if args.depth_pose == "never" or (args.depth_pose == "auto" and reports and all(ok for ok, _ in reports)):
                reason = ("--depth-pose never" if args.depth_pose == "never" else
                          "the data has depth and odometry: " + "; ".join(r for _, r in reports))
                print(f"[depth-pose] SKIPPED: {reason}")
                run.mark("depth-pose", "skipped", reason=reason)
            else:
                out = run.stage_dir("depth-pose")
                argv = ["--seqs", *map(str, train_dirs), "--train-seeds", "", "--iters", args.depth_iters,
                        "--out", str(out / "depth_pose.pt"), "--run-dir", str(out), *_common(args),
                        *_split_extra(args.depth_args)]
                if args.resume and (out / "state.pt").exists():
                    argv.append("--resume")
                if call_stage(depth_stage, argv) != 0:
                    run.mark("depth-pose", "failed")
                    raise RuntimeError("depth-pose stage failed (see its messages above)")
                run.mark("depth-pose", "done", reason=("--depth-pose always" if args.depth_pose == "always" else
                                                       "missing sensors: " + "; ".join(r for _, r in reports)))
                hist = json.loads((out / "metrics.json").read_text()).get("history", [])
                run.plot_curve("depth-pose", {s: ([h["step"] for h in hist if h["stage"] == s],
                                                  [h["loss"] for h in hist if h["stage"] == s])
                                              for s in dict.fromkeys(h["stage"] for h in hist)})
        elif stage == "detector":
            try:
                det_path = run_detector_stage(args, run, train_dirs)
            except Exception:
                run.mark("detector", "failed")
                raise
        elif stage == "tracker":
            det_in = _require_detector(args, det_path)
            out = run.stage_dir("tracker")
            readable, why = tracker_stage_can_read(train_dirs)
            if readable:
                argv = ["--data", *map(str, train_dirs), "--out", str(out), "--detector", str(det_in),
                        "--epochs", str(args.tracker_epochs), *_common(args), *_split_extra(args.tracker_args)]
                rc = call_stage(tracker_stage, argv)
                trk_path = out / "checkpoint.pt"
                if rc == 0 and args.tracker_teacher == "offline":
                    # Second round: the first GNN's offline rows are the teacher (label-free self-training).
                    second = run.stage_dir(OFFLINE_TEACHER_DIR)
                    argv = ["--data", *map(str, train_dirs), "--out", str(second), "--detector", str(det_in),
                            "--epochs", str(args.tracker_epochs), "--teacher", "offline", "--teacher-weights",
                            str(trk_path), *_common(args), *_split_extra(args.tracker_args)]
                    rc = call_stage(tracker_stage, argv)
                    trk_path = second / "checkpoint.pt"
            else:
                if args.tracker_teacher == "offline":
                    print("[tracker] --tracker-teacher offline needs sequence directories; the motion teacher only")
                print(f"[tracker] the tracker stage cannot read this data ({why}); pretraining the GNN through "
                      "`occtrack train joint --freeze-detector` on the same detections instead")
                argv = ["--data", *map(str, train_dirs), "--detector", str(det_in), "--out", str(out),
                        "--freeze-detector", "--steps", str(args.tracker_steps), "--allow-held-out",
                        *_common(args), *_split_extra(args.tracker_args)]
                if args.resume and (out / finetune.CHECKPOINT).exists():
                    argv.append("--resume")
                with _SingleProcess():
                    rc = call_stage(finetune, argv)
                trk_path = out / "tracker.pt"
            if rc != 0:
                run.mark("tracker", "failed")
                raise RuntimeError("tracker stage failed (see its messages above)")
            run.mark("tracker", "done", via="tracker stage" if readable else "joint --freeze-detector", reason=why)
            _plot_tracker_curve(run, out, trk_path)
        elif stage == "joint":
            det_in = _require_detector(args, det_path)
            trk_in = _tracker_input(args, run, trk_path)
            out = run.stage_dir("joint")
            argv = ["--data", *map(str, train_dirs), "--detector", str(det_in), "--out", str(out),
                    "--steps", str(args.joint_steps), "--allow-held-out", "--amp", "bf16",
                    *_common(args), *_split_extra(args.joint_args)]
            if trk_in is not None:
                argv += ["--tracker", str(trk_in)]
            if args.resume and (out / finetune.CHECKPOINT).exists():
                argv.append("--resume")
            if call_stage(finetune, argv) != 0:
                if rank == 0:
                    run.mark("joint", "failed")
                raise RuntimeError("joint stage failed (see its messages above)")
            if rank == 0:
                run.mark("joint", "done", steps=args.joint_steps)
                hist = json.loads((out / "history.json").read_text())
                keys = ("rec", "cons", "gnn") + (("distill",) if any(hist.get("distill", [])) else ())
                run.plot_curve("joint", {k: (hist["step"], hist[k]) for k in keys})
        if args.stop_after == stage:
            print(f"--stop-after {stage}: stopping here; rerun with --resume to go on")
            return 0
    if rank != 0:
        return 0

    # The bundle: the latest weights of each component.
    det_final = _latest(run, ["joint/detector.pt", "detector/detector.pt"])
    if det_final is None and args.init_detector:
        det_final = _require_detector(args, det_path)
    trk_final = _latest(run, ["joint/tracker.pt", f"{OFFLINE_TEACHER_DIR}/checkpoint.pt", "tracker/tracker.pt",
                              "tracker/checkpoint.pt"])
    if trk_final is None:
        trk_final = _tracker_input(args, run, None)
    if det_final is None or trk_final is None:
        print(f"no bundle written: no {'detector' if det_final is None else 'tracker'} weights yet in {run.path} "
              "(run the detector and tracker stages, or give --init-detector / --init-tracker)")
        return 0
    depth_final = _latest(run, ["depth-pose/depth_pose.pt"])
    bundle = write_bundle(run.path / "bundle", det_final, trk_final, depth_final, git_revision=git_revision(),
                          provenance={"run": str(run.path), "status": run.status(),
                                      "detector": str(det_final), "tracker": str(trk_final)})
    print(f"bundle: {bundle} (load with occtrack_ros.training.bundle.load_bundle)")
    if args.no_eval:
        return 0
    metrics = {"split": run.read_config().get("split"), "git_revision": git_revision()}
    eval_sets = []
    if held_src:
        eval_sets.append(("held_out", held_src, 0.0))
    elif frac < 1.0:
        eval_sets.append(("held_out", train_src, frac))
    if args.eval_data:
        eval_sets.append(("eval_data", finetune.find_sources(args.eval_data), 0.0))
    variants = [("final", det_final, trk_final)]
    pre_det = _latest(run, ["detector/detector.pt"])
    if pre_det is None and args.init_detector:
        pre_det = _require_detector(args, det_path)
    pre_trk = (_latest(run, [f"{OFFLINE_TEACHER_DIR}/checkpoint.pt", "tracker/tracker.pt", "tracker/checkpoint.pt"])
               or _tracker_input(args, run, None))
    if args.compare and det_final != pre_det and pre_det is not None and pre_trk is not None:
        variants.append(("stages_only", pre_det, pre_trk))
    for name, dirs, start in eval_sets:
        for variant, dpath, tpath in variants:
            print(f"evaluating {variant} on {name} ({len(dirs)} sources)")
            metrics.setdefault(name, {})[variant] = evaluate_weights(dpath, tpath, dirs, start, args.eval_max_frames,
                                                                     options, "cpu")
    print(f"metrics: {run.write_metrics(metrics)}")
    for name in metrics:
        if isinstance(metrics[name], dict) and "final" in metrics[name]:
            for variant, m in metrics[name].items():
                for rows in ("tracking", "tracking_live"):
                    t = m.get(rows) or {}
                    print(f"  {name}/{variant} ({'occtrack track' if rows == 'tracking' else 'live'} rows): HOTA "
                          f"{t.get('HOTA')} IDF1 {t.get('IDF1')} occlusion_recovery {t.get('occlusion_recovery')} "
                          f"FG-ARI {m.get('fg_ari')} dets/frame {m['dets_per_frame']:.2f}")
    return 0


def _latest(run, rel: list[str]) -> Path | None:
    for r in rel:
        p = run.path / r
        if p.is_file():
            return p
    return None


def _require_detector(args, det_path: Path) -> Path:
    from occtrack_ros.models.detector.checkpoint import DEFAULT_WEIGHTS

    if det_path.is_file():
        return det_path
    if args.init_detector:
        p = DEFAULT_WEIGHTS["occlusion"] if args.init_detector == "default" else Path(args.init_detector)
        if p.is_file():
            return p
        raise FileNotFoundError(f"--init-detector {p} does not exist")
    raise FileNotFoundError(f"no detector weights: {det_path} is missing (run the detector stage or give "
                            "--init-detector)")


def _tracker_input(args, run, trk_path: Path | None) -> Path | None:
    # tracker.pt first: the frozen-detector adapter writes the GNN there and keeps its resume state in
    # checkpoint.pt, while the tracker stage writes the GNN to checkpoint.pt.
    from occtrack_ros.tracking import DEFAULT_WEIGHTS

    if trk_path is not None and trk_path.is_file():
        return trk_path
    found = _latest(run, [f"{OFFLINE_TEACHER_DIR}/checkpoint.pt", "tracker/tracker.pt", "tracker/checkpoint.pt"])
    if found is not None:
        return found
    if args.init_tracker:
        p = DEFAULT_WEIGHTS if args.init_tracker == "default" else Path(args.init_tracker)
        if not p.is_file():
            raise FileNotFoundError(f"--init-tracker {p} does not exist")
        return p
    return None


def _plot_tracker_curve(run, out: Path, trk_path: Path) -> None:
    import torch

    hist_file = out / "history.json"
    if hist_file.is_file():
        h = json.loads(hist_file.read_text())
        run.plot_curve("tracker", {"GNN BCE": (h["step"], h["gnn"])})
        return
    extra = torch.load(trk_path, map_location="cpu", weights_only=True).get("extra", {})
    loss = list(extra.get("loss", []))
    run.plot_curve("tracker", {"GNN BCE per epoch": (list(range(1, len(loss) + 1)), loss)})


def run(args) -> int:
    """Run the schedule; returns the exit status."""
    try:
        return schedule(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"occtrack train all: {exc}", file=sys.stderr)
        return 2
