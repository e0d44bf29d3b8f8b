"""`occtrack bench-detector`: frames per second of each detector stage, CNN preset and DINO ViTs."""
from __future__ import annotations

NAME = "bench-detector"
HELP = "time the detector per stage (backbone, slots, decoder, head) on CPU or CUDA; ViT-S/16 and ViT-B/16 too"
DESCRIPTION = (
    "Times ObjectDetector stages on synthetic frames at the preset's resolution, one frame per call "
    "(the online case), after warm-up. Stages: backbone (resize + encoder), slots (slot attention with "
    "the predictor), decoder (per-slot masks), head (masks -> boxes, scores, depths, embeddings, one host "
    "copy). --vit adds random-initialised DINO ViT-S/16 and ViT-B/16 (the real architectures; no weights "
    "needed) at 224 and 448 px."
)


def add_arguments(parser) -> None:
    """Options of `occtrack bench-detector`."""
    parser.add_argument("--weights", default=None, help="CNN detector checkpoint (default: shipped occlusion)")
    parser.add_argument("--frames", type=int, default=50, help="timed frames per configuration")
    parser.add_argument("--height", type=int, default=128, help="input frame height")
    parser.add_argument("--width", type=int, default=128, help="input frame width")
    parser.add_argument("--vit", action="store_true", help="also time DINO ViT-S/16 and ViT-B/16 at 224 and 448 px")
    parser.add_argument("--vit-frames", type=int, default=3, help="timed frames per ViT configuration")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    parser.add_argument("--json", default=None, help="also write the results here")


def time_stages(detector, frames: int, height: int, width: int) -> dict:
    """Mean seconds per frame of each stage, measured over ``frames`` single-frame calls."""
    import time

    import numpy as np
    import torch

    from occtrack_ros.models.detector.head import run_head
    from occtrack_ros.types import Frame

    device = detector.device
    model = detector.model
    cfg = detector.cfg

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    pixels = _scene_frame(height, width)                                     # (H, W, 3) uint8
    image = torch.from_numpy(pixels[None]).to(device)
    depth = torch.full((1, height, width), 5.0, device=device)
    host_frame = Frame(image=pixels, depth=np.full((height, width), 5.0, np.float32))
    totals = {"backbone": 0.0, "slots": 0.0, "decoder": 0.0, "head": 0.0}
    slots = None
    with torch.inference_mode(), detector._autocast():
        for i in range(frames + 3):  # 3 warm-up frames
            t0 = time.perf_counter()
            x = detector.preprocess(image)
            feats = model.encode(x)
            sync()
            t1 = time.perf_counter()
            slots, attn = model.bind(feats, slots if cfg.carry_slots else None)
            sync()
            t2 = time.perf_counter()
            _, alpha, per_slot = model.decode(slots, attn)
            sync()
            t3 = time.perf_counter()
            full = image.permute(0, 3, 1, 2).float() / 255.0 if cfg.refine_sigma > 0 else None
            rgb = per_slot if (full is not None and cfg.decoder == "broadcast") else None
            out = run_head(alpha.float(), feats.float(), model.feature_grid, height, width, cfg, depth, rgb, full)
            host = {k: v.cpu().numpy() for k, v in out.items()}
            if cfg.split_components:                                         # the host-side part of detect()
                host["feats"] = feats.float().cpu().numpy()
                detector._components(host, [host_frame], True)
            t4 = time.perf_counter()
            if i >= 3:
                for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    totals[key] += dt
    per_frame = {k: v / frames for k, v in totals.items()}
    per_frame["total"] = sum(per_frame.values())
    return per_frame


def _scene_frame(height: int, width: int):
    """A frame of the ``occlusion`` world (held-out seed 1000) at this size, or noise where it cannot render."""
    import numpy as np

    try:
        from occtrack_ros.world.presets import make_sequence

        return next(make_sequence("occlusion", 1000, num_frames=1, width=width, height=height).frames).image
    except ValueError:   # sizes outside the world's 64..256 px
        return np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)


def _row(label: str, per_frame: dict) -> str:
    cells = "  ".join(f"{k} {1.0 / max(v, 1e-9):8.1f}" for k, v in per_frame.items())
    return f"{label:<28} FPS  {cells}"


def run(args) -> int:
    """Benchmark; returns the process exit status."""
    import json
    import sys
    from pathlib import Path

    import torch

    from occtrack_ros.models.detector import ObjectDetector, SlotVideoModel, load_detector
    from occtrack_ros.models.detector.config import preset_config

    if args.threads:
        torch.set_num_threads(args.threads)
    results = {"device": args.device, "threads": torch.get_num_threads(), "frame": [args.height, args.width]}
    print(f"device {args.device}, {torch.get_num_threads()} threads, frames {args.width}x{args.height}, "
          "stage FPS = 1 / mean seconds per frame")
    try:
        detector = load_detector(args.weights, device=args.device)
    except (FileNotFoundError, ValueError) as exc:
        print(f"occtrack bench-detector: {exc}", file=sys.stderr)
        return 2
    label = f"cnn {detector.cfg.image_size}px K={detector.cfg.num_slots}"
    results[label] = time_stages(detector, args.frames, args.height, args.width)
    print(_row(label, results[label]))
    if args.vit:
        for name in ("dino-vits16", "dino-vitb16"):
            for size in (224, 448):
                cfg = preset_config(name).replace(image_size=size, device=args.device)
                det = ObjectDetector(SlotVideoModel(cfg, random_init_backbone=True))
                label = f"{name} {size}px K={cfg.num_slots}"
                results[label] = time_stages(det, args.vit_frames, args.height, args.width)
                print(_row(label, results[label]), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0
