"""`occtrack bench-tracker`: per-frame tracker step time on CPU next to SORT in the same run."""
from __future__ import annotations

NAME = "bench-tracker"
HELP = "time one tracker step for 5/20/50/100 moving objects on CPU, next to the trackers package's SORT"


def add_arguments(p) -> None:
    p.add_argument("--objects", default="5,20,50,100", help="comma-separated object counts")
    p.add_argument("--frames", type=int, default=300, help="frames per run (the first 20 are warm-up)")
    p.add_argument("--weights", default="default",
                   help="tracker weights for the learned mode ('default' = shipped, 'none' = motion only)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 = the robot-side budget)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3,
                   help="runs of every cell, interleaved across the columns; the run with the lowest median is "
                        "reported (as timeit does: on a shared machine the slower runs measure the other load)")


def _scene(n: int, frames: int, seed: int):
    """Boxes of n objects bouncing in a 1280x720 image with 5% dropouts: (frames, n, 4) xyxy and keep mask."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pos = rng.uniform([50, 50], [1230, 670], size=(n, 2))
    vel = rng.normal(0, 4, size=(n, 2))
    size = rng.uniform([20, 40], [60, 120], size=(n, 2))
    boxes, keep = [], []
    for _ in range(frames):
        pos += vel
        bounce = (pos < 30) | (pos > np.array([1250, 690]))
        vel[bounce] *= -1
        jitter = rng.normal(0, 1.0, size=(n, 2))
        c = pos + jitter
        boxes.append(np.concatenate([c - size / 2, c + size / 2], axis=1))
        keep.append(rng.uniform(size=n) > 0.05)
    return boxes, keep


def run(args) -> int:
    import time
    from pathlib import Path

    import numpy as np
    import torch

    from occtrack_ros.tracking import DEFAULT_WEIGHTS, make_tracker
    from occtrack_ros.types import Detections, Frame

    torch.set_num_threads(args.threads)
    counts = [int(x) for x in args.objects.split(",")]
    weights = args.weights
    if weights == "default" and not Path(DEFAULT_WEIGHTS).is_file():
        print(f"(no shipped weights at {DEFAULT_WEIGHTS}: learned mode skipped)")
        weights = "none"
    modes = [("ours (motion only)", "none")] + ([("ours (learned GNN)", weights)] if weights != "none" else [])
    image = np.zeros((720, 1280, 3), np.uint8)
    import os

    blas = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    if args.repeats < 1:
        raise SystemExit("occtrack bench-tracker: --repeats must be >= 1")
    print(f"threads={args.threads} OPENBLAS_NUM_THREADS={blas} frames={args.frames} repeats={args.repeats} "
          f"(median / p95 per step, ms, of the run with the lowest median)")
    if blas == "unset":
        print("note: numpy's BLAS may spread even small products over all cores; on a busy machine run with "
              "OPENBLAS_NUM_THREADS=1")
    print(f"{'objects':>7s}  " + "  ".join(f"{m:>24s}" for m, _ in modes) + f"  {'SORT (trackers pkg)':>24s}")
    for n in counts:
        boxes, keep = _scene(n, args.frames, args.seed)

        def ours(w, boxes=boxes, keep=keep):
            tracker = make_tracker(None, w)
            times = []
            for f in range(args.frames):
                det = Detections(boxes=boxes[f][keep[f]], scores=np.full(int(keep[f].sum()), 0.9))
                frame = Frame(image=image, stamp_ns=int(f * 1e9 / 30), index=f)
                t0 = time.perf_counter()
                tracker.step(det, frame)
                times.append(time.perf_counter() - t0)
            return np.array(times[20:]) * 1e3

        runs = [[] for _ in range(len(modes) + 1)]
        for _ in range(args.repeats):
            for k, (_, w) in enumerate(modes):
                runs[k].append(ours(w))
            runs[-1].append(_time_sort(boxes, keep, args.frames))
        cells = []
        for column in runs:
            t = min(column, key=np.median)
            cells.append(f"{np.median(t):10.3f} / {np.percentile(t, 95):8.3f}")
        print(f"{n:7d}  " + "  ".join(f"{c:>24s}" for c in cells))
    return 0


def _time_sort(boxes, keep, frames):
    """Per-step times [ms] (numpy array) of the trackers package's SORT on the same boxes, warm-up dropped."""
    import time

    import numpy as np
    import supervision as sv
    from trackers import SORTTracker

    tracker = SORTTracker(frame_rate=30.0)
    times = []
    for f in range(frames):
        b = boxes[f][keep[f]].astype(np.float32)
        det = sv.Detections(xyxy=b, confidence=np.full(len(b), 0.9, np.float32), class_id=np.zeros(len(b), int))
        t0 = time.perf_counter()
        tracker.update(det)
        times.append(time.perf_counter() - t0)
    return np.array(times[20:]) * 1e3
