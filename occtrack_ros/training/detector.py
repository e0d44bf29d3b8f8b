"""`occtrack train detector`: unsupervised training of the slot-attention detector.

Only images are read (sequence directories' img1/ or a rosbag2's image topic); ground truth is
never opened. The loss is the reconstruction error of the slot decoder (pixels for the CNN,
frozen features for a ViT) on short clips, so the SAVi slot predictor learns to carry slots
from frame to frame.
"""
from __future__ import annotations

import re
from pathlib import Path

STAGE = "detector"
HELP = "train the slot-attention object detector on image sequences or a rosbag (no labels)"
DESCRIPTION = __doc__
HELD_OUT_FIRST_SEED = 1000  # seeds >= this are evaluation data (see the project brief)


def add_arguments(parser) -> None:
    """Options of `occtrack train detector`."""
    parser.add_argument("--data", nargs="+", required=True,
                        help="sequence directories, directories holding sequence directories, or rosbag2 "
                        "directories; only their images are read")
    parser.add_argument("--out", required=True, help="run directory: checkpoint.pt, detector.pt, loss.png, log")
    parser.add_argument("--preset-name", default="occlusion",
                        help="architecture preset (occlusion, sprites-mot, dino-vitb16, dino-vits16)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a DetectorConfig field, e.g. --set num_slots=12 (repeatable)")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps; more gives sharper masks")
    parser.add_argument("--batch", type=int, default=8, help="clips per step; raise on a GPU")
    parser.add_argument("--clip-len", type=int, default=3,
                        help="frames per clip; 1 trains without the slot predictor")
    parser.add_argument("--lr", type=float, default=4e-4, help="peak Adam learning rate")
    parser.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    parser.add_argument("--schedule-steps", type=int, default=None,
                        help="length of the cosine learning-rate schedule (default --steps). Set it to stop "
                        "early on the full schedule's curve, as `occtrack train all` does between plateau checks")
    parser.add_argument("--frame-stride", type=int, default=1,
                        help="use every n-th frame of each source when loading (less memory, more variety)")
    parser.add_argument("--max-sources", type=int, default=None, help="use at most this many sequences/bags")
    parser.add_argument("--save-every", type=int, default=250, help="checkpoint and plot every n steps")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and clip sampling")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: all cores); 1 on a shared machine")
    parser.add_argument("--allow-held-out", action="store_true",
                        help="do not refuse sequences whose seed is >= 1000 (held-out evaluation seeds)")


def _parse_overrides(items: list[str], flag: str = "--set") -> dict:
    """``--set FIELD=VALUE`` strings -> DetectorConfig changes (unknown fields refused, naming ``flag``)."""
    import dataclasses

    from occtrack_ros.cli import parse_assignments
    from occtrack_ros.models.detector.config import DetectorConfig

    fields = {f.name for f in dataclasses.fields(DetectorConfig)}
    return parse_assignments(items, flag, fields, "DetectorConfig")


def find_sources(paths: list[str]) -> list[Path]:
    """Expand ``--data``: a sequence dir (seqinfo.ini), a bag dir (metadata.yaml) or a dir of them."""
    sources: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise FileNotFoundError(f"--data {str(p)!r} does not exist")
        if (p / "seqinfo.ini").is_file() or (p / "metadata.yaml").is_file():
            sources.append(p)
            continue
        children = sorted(c for c in p.iterdir() if (c / "seqinfo.ini").is_file() or (c / "metadata.yaml").is_file())
        if not children:
            raise ValueError(f"--data {str(p)!r} is neither a sequence/bag directory nor holds any")
        sources.extend(children)
    return sources


def _sequence_seed(path: Path) -> int | None:
    from occtrack_ros.data.sequence import read_seqinfo

    name = read_seqinfo(path).get("name", "")
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) if m else None


def load_frames(sources: list[Path], size: int, stride: int, allow_held_out: bool):
    """Images of every source resized to (size, size): uint8 tensor (F, 3, S, S) and [(start, length)] per source."""
    import cv2
    import numpy as np
    import torch
    from tqdm import tqdm

    chunks, spans, start = [], [], 0
    for src in tqdm(sources, desc="loading images", unit="src"):
        if (src / "seqinfo.ini").is_file():
            seed = _sequence_seed(src)
            if seed is not None and seed >= HELD_OUT_FIRST_SEED and not allow_held_out:
                raise ValueError(f"{src}: seed {seed} is a held-out evaluation seed (>= {HELD_OUT_FIRST_SEED}); "
                                 "train on seeds 0-999 or pass --allow-held-out")
            from occtrack_ros.data.sequence import load_sequence

            seq = load_sequence(src, load_depth=False)
            images = (seq.image(i) for i in range(0, len(seq), stride))
        else:
            from occtrack_ros.data.frames import open_frames

            images = (f.image for i, f in enumerate(open_frames(src)) if i % stride == 0)
        frames = [cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) if im.shape[:2] != (size, size) else im
                  for im in images]
        if not frames:
            raise ValueError(f"{src}: no images")
        chunks.append(np.stack(frames))
        spans.append((start, len(frames)))
        start += len(frames)
    data = torch.from_numpy(np.concatenate(chunks)).permute(0, 3, 1, 2).contiguous()  # (F, 3, S, S)
    return data, spans


def _clip_starts(spans, clip_len: int):
    import numpy as np

    starts = [np.arange(s, s + n - clip_len + 1) for s, n in spans if n >= clip_len]
    if not starts:
        raise ValueError(f"no source has {clip_len} frames for one clip")
    return np.concatenate(starts)


def _git_revision() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def plot_losses(history: dict, path: Path) -> None:
    """Loss (log scale) against step, raw and smoothed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps, loss = np.asarray(history.get("step", [])), np.asarray(history.get("loss", []))
    if len(loss) == 0:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, loss, alpha=0.3, label="loss")
    k = max(1, len(loss) // 50)
    if len(loss) > k:
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], smooth, label=f"mean of {k}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("reconstruction MSE")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_preview(out: dict, clip, path: Path) -> None:
    """Input | reconstruction | argmax slot colours for the first frame of a few clips."""
    import cv2
    import numpy as np
    import torch
    import torch.nn.functional as F

    n = min(4, clip.shape[0])
    s = clip.shape[-1]
    rng = np.random.default_rng(0)
    palette = torch.from_numpy(rng.integers(40, 255, size=(out["alpha"].shape[2], 3)).astype(np.float32) / 255)
    rows = []
    for i in range(n):
        img = clip[i, 0].float().cpu()                                            # (3, S, S)
        alpha = F.interpolate(out["alpha"][i, :1].float().cpu(), size=(s, s), mode="bilinear")[0]  # (K, S, S)
        seg = palette[alpha.argmax(0)].permute(2, 0, 1)                           # (3, S, S)
        if out["recon"].dim() == 5:
            recon = F.interpolate(out["recon"][i, :1].float().cpu(), size=(s, s), mode="bilinear")[0]
        else:
            recon = torch.zeros_like(img)
        rows.append(torch.cat([img, recon.clamp(0, 1), seg], dim=2))
    grid = (torch.cat(rows, dim=1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def run(args) -> int:
    """Train; returns the process exit status."""
    import json
    import math
    import sys
    import time

    import numpy as np
    import torch
    from tqdm import tqdm

    from occtrack_ros.models.detector.checkpoint import read_checkpoint, save_checkpoint
    from occtrack_ros.models.detector.config import DetectorConfig, preset_config
    from occtrack_ros.models.detector.model import SlotVideoModel
    from occtrack_ros.training.distributed import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    device = resolve_device(args.device)
    try:
        if args.resume:
            payload = read_checkpoint(ckpt_path)
            cfg = DetectorConfig.from_dict(payload["config"])
        else:
            cfg = preset_config(args.preset_name).replace(**_parse_overrides(args.overrides))
            cfg.extra.update({"data": [str(p) for p in args.data], "steps": args.steps, "seed": args.seed})
        sources = find_sources(args.data)
        if args.max_sources:
            sources = sources[:args.max_sources]
    except (FileNotFoundError, ValueError) as exc:
        print(f"occtrack train detector: {exc}", file=sys.stderr)
        return 2
    cfg = cfg.replace(device=str(device))
    print(f"occtrack train detector @ git {_git_revision()}; torch threads {torch.get_num_threads()}; device {device}")
    print("config: " + json.dumps(cfg.to_dict(), sort_keys=True))
    print("args: " + json.dumps({k: v for k, v in vars(args).items() if not k.startswith("_")}, default=str))

    torch.manual_seed(args.seed)
    gen = np.random.default_rng(args.seed)
    try:
        data, spans = load_frames(sources, cfg.image_size, args.frame_stride, args.allow_held_out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"occtrack train detector: {exc}", file=sys.stderr)
        return 2
    starts = _clip_starts(spans, args.clip_len)
    print(f"{len(sources)} sources, {data.shape[0]} frames, {len(starts)} clips of {args.clip_len}")

    model = SlotVideoModel(cfg).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr)
    step, history = 0, {"step": [], "loss": [], "time_s": [], "lr": []}
    if args.resume:
        model.load_state_dict(payload["model"], strict=cfg.backbone == "cnn")
        if "optimizer" in payload:
            opt.load_state_dict(payload["optimizer"])
        step, history = int(payload["step"]), payload.get("history") or history
        state = (payload.get("extra") or {}).get("rng")
        if state is not None:   # the very streams of the interrupted run: resuming changes no result
            gen.bit_generator.state = state["numpy"]
            torch.set_rng_state(state["torch"])
        else:                   # a checkpoint without them (e.g. initial weights): a new, reproducible stream
            gen = np.random.default_rng([args.seed, step])
        print(f"resumed at step {step}")
    print(f"{sum(p.numel() for p in params) / 1e6:.3f} M trainable parameters")

    horizon = args.schedule_steps or args.steps

    def lr_at(i: int) -> float:
        if i < args.warmup:
            return args.lr * (i + 1) / args.warmup
        frac = (i - args.warmup) / max(1, horizon - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))

    t_idx = torch.arange(args.clip_len)
    model.train()
    t0 = time.time() - (history["time_s"][-1] if history["time_s"] else 0.0)
    bar = tqdm(total=args.steps, initial=step, desc="train detector", unit="step")
    out = clip = None
    while step < args.steps:
        idx = torch.from_numpy(gen.choice(starts, size=args.batch)).unsqueeze(1) + t_idx    # (B, T)
        clip = data[idx].to(device, non_blocking=True).float() / 255.0                      # (B, T, 3, S, S)
        flip = torch.from_numpy(gen.random(args.batch) < 0.5).to(device)
        clip = torch.where(flip.view(-1, 1, 1, 1, 1), clip.flip(-1), clip)
        if gen.random() < 0.5:
            clip = clip.flip(1)  # time reversal: motion statistics are symmetric
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        out = model(clip)
        loss = model.loss(out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        value = float(loss.detach())
        if not math.isfinite(value):
            print(f"occtrack train detector: loss became {value} at step {step}", file=sys.stderr)
            return 1
        history["step"].append(step)
        history["loss"].append(value)
        history["time_s"].append(time.time() - t0)
        history.setdefault("lr", []).append(lr_at(step - 1))
        bar.update(1)
        bar.set_postfix(loss=f"{value:.5f}", lr=f"{lr_at(step):.1e}")
        if step % args.save_every == 0 or step == args.steps:
            save_checkpoint(ckpt_path, model, opt, step, history,
                            extra={"rng": {"numpy": gen.bit_generator.state, "torch": torch.get_rng_state()}})
            plot_losses(history, out_dir / "loss.png")
            save_preview({k: v.detach() for k, v in out.items()}, clip, out_dir / "preview.png")
    bar.close()
    save_checkpoint(out_dir / "detector.pt", model, None, step, history)
    (out_dir / "history.json").write_text(json.dumps(history))
    print(f"done: {step} steps in {history['time_s'][-1] / 60:.1f} min; final loss "
          f"{np.mean(history['loss'][-50:]):.5f}; weights {out_dir / 'detector.pt'}")
    return 0
