"""`occtrack train depth-pose`: self-supervised DepthNet + PoseNet with a staged schedule.

Why stages: trained jointly from scratch, the photometric loss has two degenerate optima that the
seed project fell into: with SSIM+L1 the depth net learned while the pose net stayed at zero
motion, and with L1 alone the pose net learned while depth went flat. The fix is to pretrain
each net while the other is held fixed, then fine-tune both:

- ``pose``: PoseNet alone, with depth replaced by a fronto-parallel plane (``--plane-depth``);
- ``depth``: DepthNet alone, with the pretrained PoseNet frozen;
- ``joint``: both together at a lower learning rate;
- ``sharpen``: DepthNet alone again, pose frozen, with self-distillation onto its own edge-refined
  map (``--edge-distill``) added to the photometric loss. It removes the soft ramps the photometric
  loss leaves on the far side of depth edges, which bias the far/near ratio.

``--stages joint`` alone reproduces the from-scratch setting for the ablation. Collapse (flat
depth, zero motion) is detected during training, printed as a WARNING line and recorded in the
run's metrics.json. No ground truth is read: only images and camera.json intrinsics.
"""
from __future__ import annotations

import argparse

STAGE = "depth-pose"
HELP = "self-supervised depth + ego-motion nets (Monodepth2 losses) with staged pose/depth/joint/sharpen training"
STAGES = ("pose", "depth", "joint", "sharpen")
DEPTH_STAGES = ("depth", "joint", "sharpen")  # DepthNet trains through the refined poses


def add_arguments(p) -> None:
    """Options of `occtrack train depth-pose`."""
    data = p.add_argument_group("data")
    data.add_argument("--seqs", nargs="*", default=[], help="training sequence directories (images + camera.json)")
    data.add_argument("--train-seeds", default="0-23",
                      help="occlusion seeds to train on, e.g. 0-23 or 0,5,7; generated into --data-root when "
                      "missing. Seeds >= 1000 are held out and refused")
    data.add_argument("--data-root", default="data/depth_pose_train",
                      help="where generated training sequences live (occ-<seed>/)")
    data.add_argument("--max-stride", type=int, default=6,
                      help="sources are frames t-k and t+k with k drawn in 1..max-stride; raise it when "
                      "the camera moves little per frame (parallax grows with the baseline)")
    data.add_argument("--size", type=int, nargs=2, default=(128, 128), metavar=("H", "W"),
                      help="training resolution (multiples of 32); inference resizes to it and upsamples the "
                      "depth back. The occlusion preset's native 128x128: at 64x64 the far wall's parallax is too "
                      "small for the photometric loss to place it (measured: its best depth moved from 25 m to 15 m)")
    sched = p.add_argument_group("schedule")
    sched.add_argument("--stages", default="pose,depth,joint,sharpen",
                       help="comma-separated subset/order of pose, depth, joint, sharpen (joint alone = from "
                       "scratch; sharpen alone with --init sharpens an existing checkpoint)")
    sched.add_argument("--iters", default="pose=700,depth=700,joint=300,sharpen=300",
                       help="iterations per stage, e.g. pose=700,depth=700,joint=300,sharpen=300")
    sched.add_argument("--batch-size", type=int, default=8)
    sched.add_argument("--lr", type=float, default=1e-3,
                       help="Adam learning rate of the pose, depth and sharpen stages")
    sched.add_argument("--joint-lr", type=float, default=1e-4, help="learning rate of joint fine-tuning")
    sched.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine"),
                       help="per stage: constant, or cosine decay to 5%% of the stage's rate by its last iteration")
    loss = p.add_argument_group("loss")
    loss.add_argument("--alpha", type=float, default=0.85,
                      help="SSIM weight in the photometric error; 0 = L1 only (the seed's pose-only variant)")
    loss.add_argument("--smoothness", type=float, default=3e-4,
                      help="edge-aware smoothness weight (validation seeds 900-901: 3e-4 beat 1e-3 and 3e-3; "
                      "1e-2 flattened depth during pose pretraining)")
    loss.add_argument("--automask", action=argparse.BooleanOptionalAction, default=False,
                      help="Monodepth2's auto-masking (drop pixels the unwarped source explains better). Off by "
                      "default: it is meant for a camera that stops, and it also drops every pixel whose depth is "
                      "still wrong, so those get no gradient (measured: validation abs rel 0.87 without it, 1.42 "
                      "with it)")
    loss.add_argument("--contrast-normalise", action=argparse.BooleanOptionalAction, default=True,
                      help="take SSIM + L1 between locally contrast-normalised images, so low-contrast surfaces "
                      "(the occlusion preset's far wall) constrain depth too; --no-contrast-normalise compares "
                      "raw images as Monodepth2 does")
    loss.add_argument("--refine-iters", type=int, default=10,
                      help="iterations per pyramid level of direct pose refinement in the depth and joint stages: "
                      "PoseNet's motion is polished against the current depth before it warps the sources, and "
                      "PoseNet learns to regress the polished motion (0 = off, PoseNet's raw output). The checkpoint "
                      "records it, and inference refines the same way (with Levenberg-Marquardt)")
    loss.add_argument("--refine-optimizer", choices=("lbfgs", "lm"), default="lbfgs",
                      help="the refinement's optimiser during training: 'lbfgs' (default; the shipped weights were "
                      "trained with it, and the one run trained with 'lm' came out far worse held out: abs rel "
                      "0.674 against 0.139, weights/depth_pose.md session 14) or 'lm' (Levenberg-Marquardt, "
                      "what inference uses)")
    loss.add_argument("--pose-distill", type=float, default=10.0,
                      help="weight of PoseNet's L1 regression onto the refined motion (joint stage)")
    loss.add_argument("--edge-distill", type=float, default=0.2,
                      help="weight of the sharpen stage's self-distillation onto DepthNet's own edge-refined map "
                      "(L1 on log depth, teacher gradient-stopped). Validation seeds 900-909, 300 iterations "
                      "continuing the session-5 file: 0.2 gave raw abs rel 0.106, 0.05 gave 0.190, 1.0 flattened "
                      "depth; with the term in the depth and joint stages from scratch instead, 0.118")
    loss.add_argument("--lcn-window", type=int, default=7,
                      help="window [px at --size] of the local mean/std of --contrast-normalise")
    loss.add_argument("--pose-prior", default="l1-joint", choices=("sweep", "plane", "l1-joint"),
                      help="signal of the pose stage: sweep = photometric loss minimised per pixel over the "
                      "fronto-parallel planes --sweep-depths (plane-sweep stereo; no depth net); plane = one "
                      "plane at --plane-depth (cannot tell sideways translation from a pan in far scenes); "
                      "l1-joint = "
                      "L1-only photometric loss with DepthNet trained alongside (the setting in which pose "
                      "learns); the depth stage then goes on training DepthNet with pose frozen")
    loss.add_argument("--loss-scales", type=int, default=2,
                      help="disparity scales in the loss (Monodepth2 uses 4); 2 halves the CPU cost")
    loss.add_argument("--sweep-depths", default="1,2,4,8,16,32,64",
                      help="depth hypotheses of the sweep pose prior; a geometric series spanning the scene's "
                      "depth ratio (they also set the arbitrary scale the nets learn in)")
    loss.add_argument("--plane-depth", type=float, default=10.0,
                      help="depth of the fixed plane used by pose pretraining; sets the (arbitrary) scale "
                      "the nets learn in, keep it inside the depth net's [min_depth, max_depth]")
    run = p.add_argument_group("run")
    run.add_argument("--out", default="occtrack_ros/weights/depth_pose_occlusion.pt", help="checkpoint to write")
    run.add_argument("--run-dir", default="runs/depth_pose", help="metrics.json, loss.png and resume state")
    run.add_argument("--check-every", type=int, default=50, help="iterations between collapse checks/log lines")
    run.add_argument("--collapse-depth-cv", type=float, default=0.05,
                     help="depth std/mean below which depth counts as collapsed (flat)")
    run.add_argument("--collapse-trans-ratio", type=float, default=5e-4,
                     help="|translation| / median depth below which pose counts as collapsed (a quarter of the "
                     "occlusion preset's mean motion per sample); lower it for slower cameras")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--resume", action="store_true", help="continue from RUN_DIR/state.pt")
    run.add_argument("--init", default=None,
                     help="start both nets from this depth/pose checkpoint (e.g. a longer joint fine-tuning "
                     "after a finished schedule); its configs must match the nets'")
    run.add_argument("--device", default="cpu")
    run.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")


def parse_seeds(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    seeds: list[int] = []
    for part in filter(None, (s.strip() for s in text.split(","))):
        if "-" in part:
            a, b = part.split("-", 1)
            seeds.extend(range(int(a), int(b) + 1))
        else:
            seeds.append(int(part))
    return seeds


def parse_iters(text: str) -> dict[str, int]:
    """'pose=500,depth=1500' -> {'pose': 500, 'depth': 1500}; unknown stage names raise."""
    out: dict[str, int] = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        name, _, value = part.partition("=")
        if name not in STAGES or not value:
            raise ValueError(f"--iters: bad entry {part!r}; expected <stage>=<n> with stage in {STAGES}")
        out[name] = int(value)
    return out


def _git_revision() -> str:
    import subprocess
    from pathlib import Path

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _training_sequences(args):
    from pathlib import Path

    from occtrack_ros.data.sequence import load_sequence

    dirs = [Path(d) for d in args.seqs]
    if args.train_seeds:
        seeds = parse_seeds(args.train_seeds)
        held_out = [s for s in seeds if s >= 1000]
        if held_out:
            raise ValueError(f"--train-seeds {held_out} are held-out evaluation seeds (>= 1000)")
        root = Path(args.data_root)
        for seed in seeds:
            d = root / f"occ-{seed}"
            if not (d / "poses.txt").exists():
                from occtrack_ros.cli import main as cli_main

                if cli_main(["generate", "--preset", "occlusion", "--seed", str(seed), "--out", str(d),
                             "--overwrite", "--quiet"]) != 0:
                    raise ValueError(f"could not generate training sequence seed {seed} into {d}")
            dirs.append(d)
    if not dirs:
        raise ValueError("no training data: give --seqs and/or --train-seeds")
    return [load_sequence(d, load_depth=False) for d in dirs]


def _plot_losses(history: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.5))
    for stage in dict.fromkeys(h["stage"] for h in history):
        rows = [h for h in history if h["stage"] == stage]
        x = [h["step"] for h in rows]
        ax[0].plot(x, [h["loss"] for h in rows], label=stage)
        ax[1].plot(x, [h["depth_cv"] for h in rows], label=stage)
        ax[2].plot(x, [h["trans_ratio"] for h in rows], label=stage)
    for a, title in zip(ax, ("photometric loss", "depth CV (flat < 0.05)", "|t| / median depth")):
        a.set_title(title)
        a.set_xlabel("step")
        a.legend()
    ax[2].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def train(args) -> int:
    """The staged training loop (see the module docstring)."""
    import json
    import math
    import time
    from dataclasses import asdict, replace
    from pathlib import Path

    import numpy as np
    import torch
    from tqdm import tqdm

    from occtrack_ros.atomic_io import torch_save_atomic
    from occtrack_ros.models.depth_pose import (
        CollapseThresholds,
        DepthNet,
        PhotometricConfig,
        PoseNet,
        collapse_flags,
        depth_cv,
        motion_stats,
        save_depth_pose,
    )
    from occtrack_ros.models.depth_pose.objective import DepthPoseObjective
    from occtrack_ros.models.depth_pose.refine import RefineConfig
    from occtrack_ros.models.depth_pose.triplets import TripletSampler

    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise ValueError(f"--stages: unknown stage(s) {unknown}; choose from {STAGES}")
    iters = parse_iters(args.iters)
    if "sharpen" in stages and args.edge_distill <= 0:
        raise ValueError("the sharpen stage needs --edge-distill > 0 (leave the stage out to skip it)")
    missing = [s for s in stages if s not in iters]
    if missing:
        raise ValueError(f"--iters gives no iteration count for stage(s) {missing}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)

    print(f"occtrack train depth-pose @ git {_git_revision()}")
    print("config: " + json.dumps({k: v for k, v in vars(args).items() if not k.startswith("_")}, default=str,
                                  sort_keys=True))
    sampler = TripletSampler(_training_sequences(args), max_stride=args.max_stride, size=tuple(args.size))
    print(f"data: {len(sampler.images)} sequences, {sum(len(x) for x in sampler.images)} frames, "
          f"{sampler.height}x{sampler.width}")

    depth_net, pose_net = DepthNet().to(args.device), PoseNet().to(args.device)
    if args.init:
        from occtrack_ros.models.depth_pose import load_depth_pose

        d0, p0, _ = load_depth_pose(args.init, args.device, depth_net.config, pose_net.config)
        depth_net.load_state_dict(d0.state_dict())
        pose_net.load_state_dict(p0.state_dict())
        print(f"initialised from {args.init}")
    loss_cfg = PhotometricConfig(alpha=args.alpha, smoothness=args.smoothness, automask=args.automask,
                                 contrast_normalise=args.contrast_normalise, lcn_window=args.lcn_window)
    objective = DepthPoseObjective(sampler.height, sampler.width, loss_cfg, args.loss_scales).to(args.device)
    pose_objective = objective
    if args.pose_prior == "l1-joint":
        pose_cfg = replace(loss_cfg, alpha=0.0)
        pose_objective = DepthPoseObjective(sampler.height, sampler.width, pose_cfg, args.loss_scales).to(args.device)
    refine_cfg = (RefineConfig(iters=args.refine_iters, lcn_window=args.lcn_window,
                               optimizer=args.refine_optimizer)
                  if args.refine_iters > 0 else None)
    thresholds = CollapseThresholds(depth_cv=args.collapse_depth_cv, trans_ratio=args.collapse_trans_ratio)
    metrics = {"config": {k: v for k, v in vars(args).items() if not k.startswith("_")},
               "git": _git_revision(), "loss": asdict(loss_cfg), "thresholds": asdict(thresholds),
               "stages": [], "collapse_events": [], "history": []}
    start_stage, start_iter, opt_state, step = 0, 0, None, 0
    state_path = run_dir / "state.pt"
    if args.resume:
        if not state_path.exists():
            raise FileNotFoundError(f"--resume: no resume state at {state_path}")
        state = torch.load(state_path, map_location=args.device, weights_only=False)
        depth_net.load_state_dict(state["depth_state"])
        pose_net.load_state_dict(state["pose_state"])
        start_stage, start_iter, opt_state, step = state["stage"], state["iter"], state["optimizer"], state["step"]
        metrics = state["metrics"]
        rng = np.random.default_rng(args.seed + step)
        print(f"resumed at stage {stages[start_stage]} iteration {start_iter}")

    prior_depth = ([float(d) for d in args.sweep_depths.split(",")] if args.pose_prior == "sweep"
                   else args.plane_depth)
    t0 = time.time()
    for si in range(start_stage, len(stages)):
        stage = stages[si]
        n = iters[stage]
        plane = stage == "pose" and args.pose_prior in ("plane", "sweep")
        train_depth = stage in DEPTH_STAGES or (stage == "pose" and not plane)
        train_pose = stage in ("pose", "joint")
        depth_net.train(train_depth)
        pose_net.train(train_pose)
        depth_net.requires_grad_(train_depth)
        pose_net.requires_grad_(train_pose)
        params = ([*depth_net.parameters()] if train_depth else []) + ([*pose_net.parameters()] if train_pose else [])
        opt = torch.optim.Adam(params, lr=args.joint_lr if stage == "joint" else args.lr)
        if opt_state is not None and si == start_stage:
            opt.load_state_dict(opt_state)
        warmup = min(200, int(0.3 * n))
        ema = None
        first_flag: dict[str, int] = {}
        bar = tqdm(range(start_iter if si == start_stage else 0, n), desc=f"depth-pose {stage}", leave=False,
                   mininterval=10.0)
        for it in bar:
            target, sources, K = sampler.sample(args.batch_size, rng, args.device)
            obj = pose_objective if stage == "pose" else objective
            loss, stats = obj(None if plane else depth_net, pose_net, target, sources, K,
                              plane_depth=prior_depth if plane else None,
                              refine=refine_cfg if stage in DEPTH_STAGES else None,
                              pose_distill=args.pose_distill,
                              edge_distill=args.edge_distill if stage == "sharpen" else 0.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if args.lr_schedule == "cosine":
                base = args.joint_lr if stage == "joint" else args.lr
                for group in opt.param_groups:
                    group["lr"] = base * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * (it + 1) / n)))
            step += 1
            ratio, rot = motion_stats(stats["axis_angle"], stats["translation"], stats["depth"].repeat(2, 1, 1, 1))
            cur = {"loss": float(loss.detach()), "depth_cv": depth_cv(stats["depth"]), "trans_ratio": ratio,
                   "rot_deg": rot}
            ema = cur if ema is None else {k: 0.9 * ema[k] + 0.1 * v for k, v in cur.items()}
            if (it + 1) % args.check_every == 0 or it + 1 == n:
                metrics["history"].append({"stage": stage, "iter": it + 1, "step": step, **ema})
                bar.set_postfix(loss=f"{ema['loss']:.4f}", cv=f"{ema['depth_cv']:.3f}", t=f"{ema['trans_ratio']:.1e}")
                flags = collapse_flags(ema["depth_cv"], ema["trans_ratio"], thresholds)
                if plane:
                    flags["depth_collapsed"] = False  # depth is the fixed plane by design
                for kind, on in flags.items():
                    if on and it + 1 >= warmup and kind not in first_flag:
                        first_flag[kind] = it + 1
                        value = (f"depth CV {ema['depth_cv']:.4f} < {thresholds.depth_cv}" if kind == "depth_collapsed"
                                 else f"|t|/median depth {ema['trans_ratio']:.2e} < {thresholds.trans_ratio}, "
                                 f"rotation {ema['rot_deg']:.3f} deg")
                        tqdm.write(f"WARNING [collapse] stage={stage} iter={it + 1}: "
                                   f"{kind.replace('_', ' ')} ({value})")
                        metrics["collapse_events"].append({"stage": stage, "iter": it + 1, "kind": kind,
                                                           **{k: ema[k] for k in ("depth_cv", "trans_ratio",
                                                                                  "rot_deg")}})
                torch_save_atomic({"depth_state": depth_net.state_dict(), "pose_state": pose_net.state_dict(),
                                   "stage": si, "iter": it + 1, "optimizer": opt.state_dict(), "step": step,
                                   "metrics": metrics}, state_path)
        final = collapse_flags(ema["depth_cv"], ema["trans_ratio"], thresholds)
        if plane:
            final["depth_collapsed"] = False
        metrics["stages"].append({"stage": stage, "iters": n, "final": ema, **final,
                                  "first_collapse_iter": first_flag, "elapsed_s": time.time() - t0})
        print(f"stage {stage}: loss {ema['loss']:.4f} depth CV {ema['depth_cv']:.3f} "
              f"|t|/depth {ema['trans_ratio']:.2e} rot {ema['rot_deg']:.3f} deg  "
              f"{'DEPTH COLLAPSED ' if final['depth_collapsed'] else ''}"
              f"{'POSE COLLAPSED' if final['pose_collapsed'] else ''}")
        opt_state = None
    last = metrics["stages"][-1] if metrics["stages"] else {}
    metrics["collapsed"] = {"depth": bool(last.get("depth_collapsed")), "pose": bool(last.get("pose_collapsed"))}
    meta = {"height": sampler.height, "width": sampler.width, "stages": stages, "iters": iters,
            "git": metrics["git"], "pose_prior": args.pose_prior, "prior_depth": prior_depth, "loss": asdict(loss_cfg),
            "edge_distill": args.edge_distill, "train_seeds": args.train_seeds, "collapsed": metrics["collapsed"],
            "init": args.init, "train_refine_optimizer": refine_cfg.optimizer if refine_cfg is not None else None,
            # inference refines with these settings and its own optimiser (Levenberg-Marquardt)
            "refine": ({k: v for k, v in asdict(refine_cfg).items() if k != "optimizer"}
                       if refine_cfg is not None else None)}
    save_depth_pose(args.out, depth_net, pose_net, meta=meta)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    _plot_losses(metrics["history"], run_dir / "loss.png")
    print(f"wrote {args.out}, {run_dir / 'metrics.json'}, {run_dir / 'loss.png'} in {time.time() - t0:.0f} s")
    return 0


def run(args) -> int:
    """Train; returns the exit status."""
    import sys

    try:
        return train(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"occtrack train depth-pose: {exc}", file=sys.stderr)
        return 2
