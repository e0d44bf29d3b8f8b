"""`occtrack bench`: every benchmark of the project in one run on one machine, as bench.json + bench.md."""
from __future__ import annotations

NAME = "bench"
HELP = "per-stage latency and FPS, tracker scaling vs SORT, node overhead, memory and accuracy in one run"
DESCRIPTION = (
    "Measures, in one run on this machine and on the held-out occlusion sequences: per-stage latency of the "
    "pipeline (backbone, slots, decoder, head, scene graph, GNN, assignment) and end-to-end FPS on CPU (and "
    "CUDA when available); tracker step time at 5/20/50/100 objects next to SORT (`occtrack bench-tracker`); "
    "the ROS node's added latency over DDS (`occtrack bench-node`); peak memory; and the accuracy table of "
    "`occtrack baselines` (ours vs SORT / ByteTrack / OC-SORT on corrupted gt boxes of seeds 1000-1009). "
    "Writes OUT/bench.json and OUT/bench.md with the date, CPU, cores, torch version and git revision. "
    "A section that fails is recorded with its error and makes the exit status 1."
)

BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
STAGES = ("backbone", "slots", "decoder", "head", "scene_graph", "gnn", "assignment")
SEEDS_FULL, SEEDS_QUICK = "1000-1009", "1000-1002"


def add_arguments(parser) -> None:
    """Options of `occtrack bench`."""
    parser.add_argument("--out", default="out/bench", help="output directory")
    parser.add_argument("--quick", action="store_true", help=f"fewer sequences and frames: accuracy on seeds "
                        f"{SEEDS_QUICK} instead of {SEEDS_FULL}, 100 tracker frames, 40 node frames, no ViT timing")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads for every section (0 = torch's "
                        "default, all cores); 1 gives the per-core cost on a shared machine")
    parser.add_argument("--frames", type=int, default=None, help="frames of occlusion-1000 timed through the "
                        "pipeline (default 100; 40 with --quick)")
    parser.add_argument("--detector-weights", default="", help="detector checkpoint instead of the shipped one")
    parser.add_argument("--tracker-weights", default="", help="tracker checkpoint instead of the shipped one")
    parser.add_argument("--skip", default="", help="comma-separated sections to leave out: pipeline, detector, "
                        "depth, tracker, node, accuracy")


# ----------------------------------------------------------------------------- machine
def machine_info(threads: int) -> dict:
    """Date, CPU model, cores, load, torch/python versions and the git revision of this checkout."""
    import os
    import platform
    import subprocess
    from datetime import datetime, timezone
    from pathlib import Path

    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    repo = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        rev += "+dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu,
        "cores": os.cpu_count(), "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(), "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads() if threads <= 0 else threads,
        "python": platform.python_version(), "cuda_device": cuda, "git_revision": rev,
        "blas_threads": {v: os.environ.get(v, "unset") for v in BLAS_THREAD_VARS},
    }


# ----------------------------------------------------------------------------- pipeline stages
class StageTimer:
    """Accumulates wall time per stage while a frame is processed, by wrapping bound methods.

    The pipeline reports only depth/detector/tracker totals; the finer stages are timed by
    wrapping the methods that implement them on the instances (restored by :meth:`restore`).
    ``sync`` (torch.cuda.synchronize on CUDA) runs around each timed call so GPU work is counted.
    """

    def __init__(self, sync=None) -> None:
        self.sync = sync or (lambda: None)
        self.frame: dict[str, float] = {}
        self._undo: list = []

    def wrap(self, owner, attr: str, stage: str) -> None:
        import time
        import types

        original = getattr(owner, attr)
        is_module_global = isinstance(owner, types.ModuleType)

        def timed(*a, **k):
            self.sync()
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                self.sync()
                self.frame[stage] = self.frame.get(stage, 0.0) + 1e3 * (time.perf_counter() - t0)

        setattr(owner, attr, timed)
        if is_module_global:
            self._undo.append(lambda: setattr(owner, attr, original))
        else:
            self._undo.append(lambda: owner.__dict__.pop(attr, None))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


def _instrument(pipeline, timer: StageTimer) -> list[str]:
    """Wrap the stage methods of the pipeline's detector and tracker; returns notes on what is missing."""
    import importlib

    notes = []
    model = getattr(pipeline.detector, "model", None)
    if model is not None and all(hasattr(model, a) for a in ("encode", "bind", "decode")):
        timer.wrap(model, "encode", "backbone")
        timer.wrap(model, "bind", "slots")
        timer.wrap(model, "decode", "decoder")
        detector_module = importlib.import_module(type(pipeline.detector).__module__)
        if hasattr(detector_module, "run_head"):
            timer.wrap(detector_module, "run_head", "head")
        else:
            notes.append(f"head: {detector_module.__name__} has no run_head to time")
    else:
        notes.append(f"detector stages: {type(pipeline.detector).__name__} has no model.encode/bind/decode")
    tracker = pipeline.tracker
    for attr, stage in (("_graph_inputs", "scene_graph"), ("_scene_graph", "scene_graph"),
                        ("_learned_probability", "gnn"), ("_assign", "assignment")):
        if hasattr(tracker, attr):
            timer.wrap(tracker, attr, stage)
        else:
            notes.append(f"{stage}: {type(tracker).__name__} has no {attr}")
    if getattr(tracker, "model", None) is None:
        notes.append("gnn: no learned association model loaded (motion-only tracker): not run")
    return notes


def _stats(values) -> dict:
    import numpy as np

    a = np.asarray(values, np.float64)
    if a.size == 0:
        return {"mean": None, "p50": None, "p95": None}
    return {"mean": round(float(a.mean()), 3), "p50": round(float(np.percentile(a, 50)), 3),
            "p95": round(float(np.percentile(a, 95)), 3)}


def bench_pipeline(seq_dir, device: str, frames: int, detector_weights: str, tracker_weights: str,
                   warmup: int = 5) -> dict:
    """Per-stage latency [ms] and end-to-end FPS of Pipeline.process on a sequence's frames.

    Depth comes from the sequence (as the node's depth topic). The tracks of the run are scored
    against the sequence's gt as a sanity check of what was timed.
    """
    import resource
    import tracemalloc

    import numpy as np
    from tqdm import tqdm

    from occtrack_ros.data.sequence import load_sequence
    from occtrack_ros.evaluation import mot_io
    from occtrack_ros.evaluation.metrics import SequenceInput, evaluate_sequences
    from occtrack_ros.pipeline import Pipeline, PipelineConfig
    from occtrack_ros.types import TrackState

    sync = None
    if device.startswith("cuda"):
        import torch

        sync = torch.cuda.synchronize
    pipeline = Pipeline(PipelineConfig(device=device, detector_weights=detector_weights or None,
                                       tracker_weights=tracker_weights or None, depth_source="topic"))
    timer = StageTimer(sync)
    notes = list(pipeline.notes) + _instrument(pipeline, timer)
    seq = load_sequence(seq_dir)
    n = min(frames, len(seq))
    per_stage = {s: [] for s in STAGES}
    totals, det_ms, trk_ms, rows = [], [], [], []
    n_dets, n_tracks = [], []   # the load the tracker stages ran under
    try:
        for i in tqdm(range(n), desc=f"pipeline ({device})", unit="frame"):
            timer.frame = {}
            result = pipeline.process(seq[i])
            for t in result.output.tracks:
                if t.state in (TrackState.CONFIRMED, TrackState.OCCLUDED):
                    x0, y0, x1, y1 = (float(v) for v in t.box)
                    rows.append([i + 1, t.track_id, x0, y0, x1 - x0, y1 - y0, t.existence_probability])
            if i < warmup:
                continue
            for s in STAGES:
                if s in timer.frame:
                    per_stage[s].append(timer.frame[s])
            n_dets.append(len(result.detections))
            n_tracks.append(len(result.output.tracks))
            totals.append(result.timings["total"])
            det_ms.append(result.timings["detector"])
            trk_ms.append(result.timings["tracker"])
        # Python-heap peak over a few more frames (tracemalloc slows everything: not timed).
        pipeline.reset()
        tracemalloc.start()
        for i in range(min(10, n)):
            pipeline.process(seq[i])
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        timer.restore()
    gt = mot_io.read_gt(seq_dir)
    res = np.array(rows, np.float64).reshape(-1, 7)
    metrics = evaluate_sequences([SequenceInput(seq.name, gt[gt[:, 0] <= n], res, n)])["combined"]
    mean_total = float(np.mean(totals)) if totals else float("nan")
    return {
        "device": device, "sequence": seq.name, "frames_timed": len(totals), "warmup_frames": warmup,
        "image": f"{seq.intrinsics.width}x{seq.intrinsics.height}",
        "stages_ms": {s: _stats(v) for s, v in per_stage.items()},
        "detector_ms": _stats(det_ms), "tracker_ms": _stats(trk_ms), "total_ms": _stats(totals),
        "fps": round(1e3 / mean_total, 2) if totals else None,
        "detections_per_frame": round(float(np.mean(n_dets)), 2) if n_dets else None,
        "live_tracks_per_frame": round(float(np.mean(n_tracks)), 2) if n_tracks else None,
        "peak_rss_mb_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "python_heap_peak_mb_10_frames": round(heap_peak / 2**20, 2),
        "accuracy_full_pipeline": {k: metrics.get(k) for k in ("HOTA", "IDF1", "MOTA", "IDSW",
                                                                 "occlusion_recovery", "coasting_error_px")},
        "notes": notes,
    }


def bench_learned_depth(seq_dir, device: str, frames: int) -> dict:
    """Per-frame cost of depth_source 'learned' without odometry, stage by stage (shipped depth/pose weights).

    DepthNet's forward pass, the image-guided edge refinement of its map (``depth/edge_refine.py``),
    and the ego-motion (PoseNet plus direct refinement), on consecutive frames after 3 warm-up frames.
    """
    import time

    import torch

    from occtrack_ros.data.sequence import load_sequence
    from occtrack_ros.depth.edge_refine import joint_weighted_median
    from occtrack_ros.depth.learned import LearnedNets
    from occtrack_ros.depth.source import image_tensor

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    seq = load_sequence(seq_dir)
    nets = LearnedNets(None, device)
    size = nets.input_size
    if len(seq) < 5:
        raise ValueError(f"{seq_dir}: {len(seq)} frames; the depth bench needs at least 5 (3 warm-up)")
    n = min(frames, len(seq) - 4)  # frames 1..3 warm up, then n timed
    times = {"depthnet": [], "edge_refine": [], "motion": []}
    prev = seq[0]
    for i in range(1, n + 4):
        frame = seq[i]
        with torch.no_grad():
            sync()
            t0 = time.perf_counter()
            depth = nets.depth(frame, edge_refine=False)
            sync()
            t1 = time.perf_counter()
            joint_weighted_median(depth, image_tensor(frame, size, device), nets.edge_refine)
            sync()
            t2 = time.perf_counter()
        nets.motion(frame, prev)
        sync()
        t3 = time.perf_counter()
        if i > 3:
            for key, dt in (("depthnet", t1 - t0), ("edge_refine", t2 - t1), ("motion", t3 - t2)):
                times[key].append(1e3 * dt)
        prev = frame
    total = [sum(v) for v in zip(*times.values())]
    return {"device": device, "frames_timed": len(total), "sequence": seq.name, "size": list(size),
            "stages_ms": {k: _stats(v) for k, v in times.items()}, "total_ms": _stats(total)}


def bench_detector_alone(device: str, detector_weights: str, vit: bool, frames: int = 50) -> dict:
    """Detector stages alone (``occtrack bench-detector``'s ``time_stages``), ms per frame at 128x128.

    With ``vit``, the DINO ViT-S/16 and ViT-B/16 presets too (random weights: the real architectures'
    cost; their pretrained weights cannot be downloaded here).
    """
    from occtrack_ros.commands.bench_detector import time_stages
    from occtrack_ros.models.detector import ObjectDetector, SlotVideoModel, load_detector
    from occtrack_ros.models.detector.config import preset_config

    rows = {}
    detector = load_detector(detector_weights or None, device=device)
    label = f"cnn {detector.cfg.image_size}px K={detector.cfg.num_slots} ({detector_weights or 'shipped'})"
    rows[label] = time_stages(detector, frames, 128, 128)
    if vit:
        for name, size in (("dino-vits16", 224), ("dino-vits16", 448), ("dino-vitb16", 224), ("dino-vitb16", 448)):
            cfg = preset_config(name).replace(image_size=size, device=device)
            vit_detector = ObjectDetector(SlotVideoModel(cfg, random_init_backbone=True))
            rows[f"{name} {size}px K={cfg.num_slots} (random init)"] = time_stages(vit_detector, 2, 128, 128)
            print(f"  {name} {size}px: {1e3 * rows[list(rows)[-1]]['total']:.0f} ms/frame", flush=True)
    return {"device": device, "frame": "128x128", "ms_per_frame": {
        k: {stage: round(1e3 * v, 3) for stage, v in r.items()} for k, r in rows.items()}}


# ----------------------------------------------------------------------------- sub-command benchmarks
def _occtrack(args: list[str], timeout: float) -> str:
    """Run an `occtrack` sub-command; its stdout is echoed and returned, its stderr (progress bars) shown."""
    import subprocess
    import sys
    import time

    cmd = [sys.executable, "-m", "occtrack_ros.cli", *args]
    print("+ occtrack " + " ".join(args), flush=True)
    deadline = time.monotonic() + timeout
    lines = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            for line in proc.stdout:
                print("  " + line, end="", flush=True)
                lines.append(line)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"occtrack {args[0]} took over {timeout:.0f} s")
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
    if proc.returncode != 0:
        raise RuntimeError(f"occtrack {args[0]} failed (status {proc.returncode}); its output is above")
    return "".join(lines)


def parse_bench_tracker(text: str) -> dict:
    """`occtrack bench-tracker` output -> {"threads", "frames", "columns", "rows": {objects: {column: (median, p95)}}}.

    The command prints only a table (no function returns the numbers), so its text is parsed here.
    """
    import re

    lines = text.splitlines()
    head = next((i for i, line in enumerate(lines) if line.strip().startswith("objects")), None)
    if head is None:
        raise ValueError(f"no table header ('objects ...') in bench-tracker output:\n{text}")
    columns = re.split(r"\s{2,}", lines[head].strip())[1:]
    threads = re.search(r"\bthreads=(\d+)", text)
    frames = re.search(r"\bframes=(\d+)", text)
    repeats = re.search(r"\brepeats=(\d+)", text)
    notes = [line.strip()[len("note:"):].strip() for line in lines[:head] if line.strip().startswith("note:")]
    rows = {}
    for line in lines[head + 1:]:
        cells = re.findall(r"(\d+\.\d+)\s*/\s*(\d+\.\d+)", line)
        count = re.match(r"\s*(\d+)\s", line)
        if not cells or count is None:
            continue
        if len(cells) != len(columns):
            raise ValueError(f"bench-tracker row {line!r} has {len(cells)} cells for columns {columns}")
        rows[int(count.group(1))] = {c: (float(m), float(p)) for c, (m, p) in zip(columns, cells)}
    if not rows:
        raise ValueError(f"no rows in bench-tracker output:\n{text}")
    return {"threads": int(threads.group(1)) if threads else None, "frames": int(frames.group(1)) if frames else None,
            "repeats": int(repeats.group(1)) if repeats else 1, "columns": columns, "rows": rows, "notes": notes}


def parse_bench_node(text: str) -> dict:
    """The JSON line `occtrack bench-node` prints last."""
    import json

    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            return json.loads(line)
    raise ValueError(f"no JSON line in bench-node output:\n{text[-2000:]}")


# ----------------------------------------------------------------------------- report
def bench_markdown(report: dict) -> str:
    """bench.md from bench.json's content."""
    from occtrack_ros.reporting.tables import markdown_table

    m = report["machine"]
    blas = " ".join(f"{k}={v}" for k, v in m.get("blas_threads", {}).items())
    lines = ["# occtrack bench", "",
             f"{m['date']} on {m['cpu']} ({m['cores_usable']} usable of {m['cores']} cores, "
             f"load {m['load_average_1m_at_start']} at start), torch {m['torch']} with {m['torch_threads']} threads, "
             f"git {m['git_revision']}; {blas}; "
             f"CUDA: {m['cuda_device'] or 'not available'}. Load at the end: {report.get('load_average_1m_at_end')} "
             f"(a shared machine: p50 is the steadier number). Total {report.get('wall_s')} s. "
             f"Data: {report['data']}. Weights: detector {report['weights']['detector']}, tracker "
             f"{report['weights']['tracker']}.", ""]

    def fmt(v, digits=2):
        return "-" if v is None else f"{v:.{digits}f}"

    for key, sec in report.get("pipeline", {}).items():
        if "error" in sec:
            lines += [f"## Pipeline ({key})", "", f"FAILED: {sec['error']}", ""]
            continue
        rows = [[s, fmt(sec["stages_ms"][s]["mean"]), fmt(sec["stages_ms"][s]["p50"]), fmt(sec["stages_ms"][s]["p95"])]
                for s in STAGES]
        rows += [["detector (all)", fmt(sec["detector_ms"]["mean"]), fmt(sec["detector_ms"]["p50"]),
                  fmt(sec["detector_ms"]["p95"])],
                 ["tracker (all)", fmt(sec["tracker_ms"]["mean"]), fmt(sec["tracker_ms"]["p50"]),
                  fmt(sec["tracker_ms"]["p95"])],
                 ["**end to end**", fmt(sec["total_ms"]["mean"]), fmt(sec["total_ms"]["p50"]),
                  fmt(sec["total_ms"]["p95"])]]
        acc = sec["accuracy_full_pipeline"]
        lines += [f"## Pipeline latency per frame ({sec['device']}): {fmt(sec['fps'], 1)} FPS", "",
                  f"{sec['frames_timed']} frames of {sec['sequence']} ({sec['image']}) after {sec['warmup_frames']} "
                  "warm-up frames; depth from the sequence (the node's depth topic); on average "
                  f"{sec['detections_per_frame']} detections and {sec['live_tracks_per_frame']} live tracks per "
                  "frame. Stages are timed by wrapping their methods (the sums stay below the end-to-end time); "
                  "scene graph = graph and edge features plus the output scene graph, GNN = learned association "
                  "scores, assignment = the two Hungarian rounds; a tracker stage only runs when there are both "
                  "tracks and detections.", "",
                  markdown_table(["stage", "mean ms", "p50 ms", "p95 ms"], rows, "lrrr"), "",
                  f"Peak RSS of the bench process {sec['peak_rss_mb_process']} MB; Python-heap peak over 10 frames "
                  f"(tracemalloc) {sec['python_heap_peak_mb_10_frames']} MB. Tracks of this run against the gt: "
                  f"HOTA {fmt(100 * acc['HOTA'] if acc['HOTA'] is not None else None, 1)}, "
                  f"IDF1 {fmt(100 * acc['IDF1'] if acc['IDF1'] is not None else None, 1)}, IDSW {acc['IDSW']}.", ""]
        lines += [f"Note: {n}" for n in sec["notes"]] + ([""] if sec["notes"] else [])

    for key, sec in report.get("detector_alone", {}).items():
        lines += [f"## Detector stages alone ({key}, ms per frame)", ""]
        if "error" in sec:
            lines += [f"FAILED: {sec['error']}", ""]
            continue
        stages = ["backbone", "slots", "decoder", "head", "total"]
        rows = [[label] + [f"{cells[s]:.2f}" for s in stages] + [f"{1e3 / cells['total']:.1f}"]
                for label, cells in sec["ms_per_frame"].items()]
        lines += ["`occtrack bench-detector`'s `time_stages`: one 128x128 frame per call after 3 warm-up frames "
                  "(backbone includes the resize; head includes the one host copy). The DINO rows time the real "
                  "ViT architectures with random weights.", "",
                  markdown_table(["detector", *stages, "FPS"], rows, "l" + "r" * (len(stages) + 1)), ""]

    for key, sec in report.get("learned_depth", {}).items():
        lines += [f"## Learned depth and ego-motion per frame ({key})", ""]
        if "error" in sec:
            lines += [f"FAILED: {sec['error']}", ""]
            continue
        rows = [[label, fmt(sec["stages_ms"][k]["mean"]), fmt(sec["stages_ms"][k]["p50"]),
                 fmt(sec["stages_ms"][k]["p95"])]
                for k, label in (("depthnet", "DepthNet"), ("edge_refine", "edge refinement"),
                                 ("motion", "ego-motion (PoseNet + direct refinement)"))]
        rows.append(["**total**", fmt(sec["total_ms"]["mean"]), fmt(sec["total_ms"]["p50"]),
                     fmt(sec["total_ms"]["p95"])])
        lines += [f"`depth_source: learned` without odometry: {sec['frames_timed']} consecutive frames of "
                  f"{sec['sequence']} at the nets' {sec['size'][0]}x{sec['size'][1]}, after 3 warm-up frames; "
                  "shipped depth/pose weights. With a depth topic and odometry none of this runs.", "",
                  markdown_table(["stage", "mean ms", "p50 ms", "p95 ms"], rows, "lrrr"), ""]

    trk = report.get("tracker_scaling")
    if trk is not None:
        lines += ["## Tracker step time vs number of objects (ms, median / p95)", ""]
        if "error" in trk:
            lines += [f"FAILED: {trk['error']}", ""]
        else:
            rows = [[str(n)] + [f"{v[0]:.3f} / {v[1]:.3f}" for v in cells.values()] for n, cells in trk["rows"].items()]
            best = (f" Each cell is the run with the lowest median of {trk['repeats']} interleaved runs (timeit's "
                    "rule: on a shared machine the slower runs measure the other load)." if trk.get("repeats", 1) > 1
                    else "")
            lines += [f"`occtrack bench-tracker`: boxes of bouncing objects, 5% dropouts, {trk['frames']} frames "
                      f"(20 warm-up), {trk['threads']} torch thread(s).{best}", "",
                      markdown_table(["objects"] + trk["columns"], rows, "r" * (1 + len(trk["columns"]))), ""]
            lines += [f"Note (bench-tracker): {n}" for n in trk.get("notes", [])] + ([""] if trk.get("notes") else [])

    node = report.get("node")
    if node is not None:
        lines += ["## ROS 2 node overhead (DDS, loopback)", ""]
        if "error" in node:
            lines += [f"FAILED: {node['error']}", ""]
        else:
            rows = [[k.replace("_ms", ""), fmt(node[k]["mean"]), fmt(node[k]["p50"]), fmt(node[k]["p95"]),
                     fmt(node[k]["max"])] for k in ("pipeline_ms", "end_to_end_ms", "added_ms", "added_inside_node_ms")]
            lines += [f"`occtrack bench-node`: {node['frames_tracked']} of {node['frames_sent']} frames tracked at "
                      f"{node['rate_hz']} Hz ({node['image']}); added = image published -> tracks received, minus "
                      f"pipeline time. Largest subprocess peak RSS (node included): "
                      f"{report.get('subprocess_peak_rss_mb', '-')} MB.", "",
                      markdown_table(["ms", "mean", "p50", "p95", "max"], rows, "lrrrr"), ""]

    acc = report.get("accuracy")
    if acc is not None:
        lines += ["## Accuracy: ours vs SORT / ByteTrack / OC-SORT", ""]
        if "error" in acc:
            lines += [f"FAILED: {acc['error']}", ""]
        else:
            from occtrack_ros.evaluation.report import format_markdown

            lines += [f"`occtrack baselines --generate occlusion --seeds {acc['seeds']}` (held-out): every "
                      "tracker gets the same detections (ground-truth boxes corrupted with seeded noise, misses "
                      f"and false positives); fully occluded gt rows {acc['occluded_rows']}. "
                      f"'ours' = {acc['ours']}.", "",
                      format_markdown(acc["trackers"]), ""]
            lines += [f"Note: {n}" for n in acc.get("notes", [])]
    failed = report.get("failed_sections", [])
    if failed:
        lines += ["", f"**Failed sections: {', '.join(failed)}** (see bench.json)."]
    return "\n".join(lines).rstrip() + "\n"


def run(args) -> int:
    """Run every section; returns 0 when all ran."""
    import json
    import os
    import resource
    import sys
    import time
    import traceback
    from pathlib import Path

    if args.threads > 0:
        # numpy's BLAS reads these once, at load: set them before torch/numpy are imported here and in
        # every subprocess, so --threads bounds all the math (not only torch's).
        for var in BLAS_THREAD_VARS:
            os.environ.setdefault(var, str(args.threads))
    import torch

    from occtrack_ros.evaluation.report import write_json

    start = time.monotonic()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    threads = args.threads if args.threads > 0 else torch.get_num_threads()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - {"pipeline", "detector", "depth", "tracker", "node", "accuracy"}
    if unknown:
        print(f"occtrack bench: unknown --skip section(s) {sorted(unknown)}", file=sys.stderr)
        return 2
    seeds = SEEDS_QUICK if args.quick else SEEDS_FULL
    frames = args.frames or (40 if args.quick else 100)
    report = {"machine": machine_info(threads), "quick": bool(args.quick),
              "data": f"held-out occlusion seeds {seeds} (accuracy{', --quick' if args.quick else ''}); "
                      "occlusion-1000 (latency, node)",
              "weights": {"detector": args.detector_weights or "shipped", "tracker": args.tracker_weights or "shipped"}}
    print(json.dumps(report["machine"]), flush=True)
    failed = []

    def section(name, fn):
        t0 = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - a failed section is recorded and reported, never hidden
            traceback.print_exc()
            failed.append(name)
            result = {"error": f"{type(exc).__name__}: {exc}"}
        if isinstance(result, dict):
            result["wall_s"] = round(time.monotonic() - t0, 1)
        return result

    seq_root = out / "baselines" / "seqs"
    seq_dir = seq_root / "occlusion-1000"
    weights_args = (["--ours-weights", args.tracker_weights] if args.tracker_weights else
                    (["--ours-weights", "default"] if _shipped_tracker() else []))

    def accuracy():
        _occtrack(["baselines", "--generate", "occlusion", "--seeds", seeds, "--out", str(out / "baselines"),
                   "--threads", str(threads), *weights_args], timeout=900)
        data = json.loads((out / "baselines" / "metrics.json").read_text())
        ours = ("tracker with " + (args.tracker_weights or "the shipped GNN weights") if weights_args else
                "motion-only tracker (no shipped tracker weights)") + ", given camera poses (odometry)"
        return {"seeds": seeds, "occluded_rows": data["occluded_rows"], "ours": ours, "notes": data.get("notes", []),
                "trackers": {t: {k: v for k, v in m.items() if k != "sequences"} for t, m in data["trackers"].items()},
                "git_revision": data.get("git_revision")}

    if "accuracy" not in skip:
        report["accuracy"] = section("accuracy", accuracy)
    if not (seq_dir / "gt" / "gt.txt").is_file() and not skip >= {"pipeline", "node", "depth"}:
        _occtrack(["generate", "--preset", "occlusion", "--seed", "1000", "--out", str(seq_dir), "--quiet",
                   "--overwrite"], timeout=300)

    if "pipeline" not in skip:
        report["pipeline"] = {"cpu": section("pipeline (cpu)", lambda: bench_pipeline(
            seq_dir, "cpu", frames, args.detector_weights, args.tracker_weights))}
        if torch.cuda.is_available():
            report["pipeline"]["cuda"] = section("pipeline (cuda)", lambda: bench_pipeline(
                seq_dir, "cuda", frames, args.detector_weights, args.tracker_weights))

    if "detector" not in skip:
        report["detector_alone"] = {"cpu": section("detector stages (cpu)", lambda: bench_detector_alone(
            "cpu", args.detector_weights, vit=not args.quick))}
        if torch.cuda.is_available():
            report["detector_alone"]["cuda"] = section("detector stages (cuda)", lambda: bench_detector_alone(
                "cuda", args.detector_weights, vit=True))

    if "depth" not in skip:
        report["learned_depth"] = {"cpu": section("learned depth (cpu)", lambda: bench_learned_depth(
            seq_dir, "cpu", 20 if args.quick else 50))}
        if torch.cuda.is_available():
            report["learned_depth"]["cuda"] = section("learned depth (cuda)", lambda: bench_learned_depth(
                seq_dir, "cuda", 50))

    if "tracker" not in skip:
        def tracker():
            text = _occtrack(["bench-tracker", "--threads", str(threads), "--frames", "100" if args.quick else "300",
                              "--weights", args.tracker_weights or "default"], timeout=600)
            return parse_bench_tracker(text)
        report["tracker_scaling"] = section("tracker scaling", tracker)

    if "node" not in skip:
        def node():
            extra = []
            for name, value in (("detector_weights", args.detector_weights), ("tracker_weights", args.tracker_weights)):
                if value:
                    extra += ["--param", f"{name}:={Path(value).resolve()}"]
            # Publish at half the pipeline's measured rate (at most 5 Hz), so the node drops no frame.
            fps = (report.get("pipeline", {}).get("cpu") or {}).get("fps") or 4.0
            rate = round(min(5.0, 0.5 * fps), 2)
            text = _occtrack(["bench-node", "--seq", str(seq_dir), "--frames", "30" if args.quick else "60",
                              "--rate", str(rate), "--threads", str(threads), *extra], timeout=600)
            return parse_bench_node(text)
        report["node"] = section("node overhead", node)
    # Largest resident set of any finished subprocess (the node, the baselines, the benches it started).
    report["subprocess_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1)

    report["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    report["failed_sections"] = failed
    report["wall_s"] = round(time.monotonic() - start, 1)
    write_json(out / "bench.json", report)
    (out / "bench.md").write_text(bench_markdown(json.loads((out / "bench.json").read_text())))
    print((out / "bench.md").read_text())
    print(f"occtrack bench: wrote {out / 'bench.json'} and {out / 'bench.md'} in {report['wall_s']:.0f} s"
          + (f"; FAILED sections: {failed}" if failed else ""))
    return 1 if failed else 0


def _shipped_tracker() -> bool:
    from occtrack_ros.tracking import DEFAULT_WEIGHTS

    return DEFAULT_WEIGHTS.is_file()
