"""`occtrack baselines`: SORT, ByteTrack, OC-SORT (and ours) on the same detections, one table."""
from __future__ import annotations

NAME = "baselines"
HELP = "run SORT / ByteTrack / OC-SORT (and ours when available) on the same detections and score them"
DESCRIPTION = (
    "Run every tracker on the same per-frame detections and print one table (rows = trackers; columns = HOTA, "
    "DetA, AssA, IDF1, MOTA, IDSW, occlusion recovery, coasting error). Exactly one data source: --dets with "
    "--gt (one sequence, e.g. our detector's det.txt), --seqs (synthetic sequence directories; detections = "
    "corrupted gt boxes, corruption seed = the sequence seed from gt/gt3d.json), --generate with --seeds "
    "(renders the sequences first with `occtrack generate`), or --mot17 (all sequences with their public "
    "detections). Writes OUT/metrics.json, OUT/metrics.md, OUT/dets/<seq>.txt and OUT/results/<tracker>/<seq>.txt "
    "(TrackEval layout, so `occtrack eval --gt ROOT --res OUT/results/sort` reproduces a row)."
)


def add_arguments(parser) -> None:
    """Options of `occtrack baselines`."""
    src = parser.add_argument_group("data source (exactly one)")
    src.add_argument("--dets", default=None, help="a det.txt (frame,-1,x,y,w,h,score) for the --gt sequence")
    src.add_argument("--gt", default=None, help="with --dets: gt.txt or sequence directory")
    src.add_argument("--seqs", nargs="+", default=None, help="synthetic sequence directories; their gt boxes are "
                     "corrupted into detections (see occtrack_ros/evaluation/corrupt.py)")
    src.add_argument("--generate", default=None, choices=("occlusion", "sprites-mot"),
                     help="render --seeds of this preset (into OUT/seqs, reused when present), then as --seqs")
    src.add_argument("--seeds", default=None, help="with --generate: '1000-1009' or '2000,2001'. Held-out seeds: "
                     "1000-1009 (occlusion), 2000-2019 (sprites-mot)")
    src.add_argument("--regenerate", action="store_true", help="with --generate: render again even when OUT/seqs "
                     "has the sequence (do this after the generator changed)")
    src.add_argument("--mot17", default=None, help="folder of MOT17 sequence directories with det/det.txt and "
                     "gt/gt.txt, e.g. /work/shared/data/MOT17")
    cor = parser.add_argument_group("corruption of gt boxes (--seqs / --generate); defaults = reported benchmarks")
    for flag, field, helptext in (
        ("--center-noise", "center_noise", "std of the centre shift as a fraction of box size"),
        ("--size-noise", "size_noise", "std of the log-scale size change"),
        ("--drop-prob", "drop_prob", "chance a detectable object is missed in a frame"),
        ("--fp-rate", "fp_rate", "mean false positives per frame (Poisson)"),
        ("--min-visibility", "min_visibility", "objects less visible than this are never detected"),
    ):
        default = getattr(_default_corruption(), field)
        cor.add_argument(flag, dest=field, type=float, default=default, help=f"{helptext} (default {default})")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--trackers", default="sort,bytetrack,ocsort,ours",
                        help="comma-separated; 'ours' is skipped with a note when occtrack_ros.tracking.make_tracker "
                        "is not importable")
    parser.add_argument("--ours-weights", default="default",
                        help="tracker weights for 'ours': 'default' (shipped), a path, or 'none' (motion only)")
    parser.add_argument("--corrupt-seed", type=int, default=None, help="corruption seed for sequences whose "
                        "gt3d.json has no seed (default: error); also overrides it when given")
    parser.add_argument("--occluded", choices=("auto", "ignore", "count"), default="auto",
                        help="fully occluded gt rows: ignore (distractors; default for synthetic data) or count "
                        "(official MOTChallenge protocol; the auto choice for --mot17). See `occtrack eval -h`")
    parser.add_argument("--ours-no-poses", action="store_true", help="give 'ours' boxes only, like the baselines "
                        "(default: also the camera poses.txt and camera.json of the sequence when present)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for 'ours' (default: all)")
    from occtrack_ros.tracking.offline import nonnegative_seconds

    parser.add_argument("--interpolate", type=nonnegative_seconds, default=0.0, metavar="SECONDS",
                        help="offline gap filling for every tracker, baselines included: gaps of at most this many "
                        "seconds between two rows of a track are filled by linear interpolation (default 0: off, "
                        "every tracker at its default settings; occtrack_ros/tracking/offline.py)")
    parser.add_argument("--backfill", action="store_true", help="'ours' also writes the observed tentative frames "
                        "of tracks it confirms and the rows of tracks merged by re-identification (offline.py)")
    parser.add_argument("--relink", action="store_true", help="offline re-linking for every tracker, baselines "
                        "included: tracks are cut at gaps and joined again from both sides of each gap, before "
                        "--interpolate fills them (occtrack_ros/tracking/relink.py; pieces that left the view are "
                        "not joined to ones that came into it on presets whose objects never return, Sprites-MOT)")


def _default_corruption():
    from occtrack_ros.evaluation.corrupt import CorruptionConfig

    return CorruptionConfig()


def _parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part[1:]:
            a, b = part.split("-", 1)
            seeds += list(range(int(a), int(b) + 1))
        elif part:
            seeds.append(int(part))
    if not seeds:
        raise ValueError(f"--seeds {text!r} names no seed")
    return seeds


def _sequence_seed(seq_dir, override):
    import json
    from pathlib import Path

    if override is not None:
        return override
    f = Path(seq_dir) / "gt" / "gt3d.json"
    if f.is_file():
        seed = json.loads(f.read_text()).get("seed")
        if seed is not None:
            return int(seed)
    raise ValueError(f"{seq_dir}: no seed in gt/gt3d.json; pass --corrupt-seed")


def _objects_return(seq_dir) -> bool:
    """False when the sequence's preset (gt/gt3d.json) is one whose objects never come back into view."""
    import json
    from pathlib import Path

    from occtrack_ros.tracking.config import TRACKER_PRESETS

    f = Path(seq_dir) / "gt" / "gt3d.json" if seq_dir is not None else None
    if f is None or not f.is_file():
        return True
    preset = TRACKER_PRESETS.get(json.loads(f.read_text()).get("preset") or "", {})
    return preset.get("max_outside_frames", 1) > 0


def _git_revision() -> str:
    """HEAD of the checkout this code runs from, with '+dirty' when tracked files differ (for the record)."""
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def _generate(preset: str, seeds: list[int], root, regenerate: bool) -> list:
    import subprocess
    import sys

    dirs = []
    for s in seeds:
        d = root / f"{preset}-{s}"
        if regenerate or not (d / "gt" / "gt.txt").is_file():
            cmd = [sys.executable, "-m", "occtrack_ros.cli", "generate", "--preset", preset, "--seed", str(s),
                   "--out", str(d), "--quiet", "--overwrite"]
            print("+", " ".join(cmd[2:]), flush=True)
            subprocess.run(cmd, check=True)
        dirs.append(d)
    return dirs


def _camera(seq_dir, notes: list) -> dict:
    """Intrinsics (camera.json) and poses (poses.txt) of a sequence directory, for 'ours'."""
    from occtrack_ros.data.sequence import read_intrinsics

    out = {}
    if seq_dir is None:
        return out
    cam = seq_dir / "camera.json"
    if cam.is_file():
        out["intrinsics"] = read_intrinsics(cam)
    if (seq_dir / "poses.txt").is_file():
        from occtrack_ros.tracking.poses import read_poses

        out["poses"] = read_poses(seq_dir / "poses.txt")
        note = "'ours' gets the camera poses (poses.txt, i.e. odometry); the baselines get boxes only"
        if note not in notes:
            notes.append(note)
    return out


def run(args) -> int:
    """Run and score every tracker; returns the exit status."""
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from occtrack_ros.commands.eval import resolve_occluded
    from occtrack_ros.evaluation import mot_io
    from occtrack_ros.evaluation.baselines import BASELINES, OURS, ours_available, run_tracker
    from occtrack_ros.evaluation.corrupt import CorruptionConfig, corrupt_gt
    from occtrack_ros.evaluation.metrics import SequenceInput, evaluate_sequences
    from occtrack_ros.evaluation.report import format_markdown, format_text, write_json

    out = Path(args.out)
    sources = [x for x in ("dets", "seqs", "generate", "mot17") if getattr(args, x)]
    if len(sources) != 1:
        print(f"occtrack baselines: give exactly one of --dets/--seqs/--generate/--mot17 (got {sources or 'none'})",
              file=sys.stderr)
        return 2
    names = [t.strip() for t in args.trackers.split(",") if t.strip()]
    unknown = [t for t in names if t not in BASELINES + (OURS,)]
    if unknown:
        print(f"occtrack baselines: unknown tracker(s) {unknown}; choose from {BASELINES + (OURS,)}", file=sys.stderr)
        return 2
    notes = []
    if OURS in names:
        ok, why = ours_available()
        if not ok:
            names.remove(OURS)
            notes.append(f"'ours' skipped: occtrack_ros.tracking.make_tracker not importable ({why})")
        elif args.threads:
            import torch

            torch.set_num_threads(args.threads)

    try:
        cfg = CorruptionConfig(center_noise=args.center_noise, size_noise=args.size_noise, drop_prob=args.drop_prob,
                               fp_rate=args.fp_rate, min_visibility=args.min_visibility)
    except ValueError as exc:
        print(f"occtrack baselines: {exc}", file=sys.stderr)
        return 2
    corruption = None
    # Each entry: name, gt (N, 9), dets (K, 7), SeqInfo; seq_dirs: where poses.txt / camera.json may be.
    seqs = []
    seq_dirs = {}
    try:
        if args.dets:
            if not args.gt:
                raise ValueError("--dets needs --gt")
            gt = mot_io.read_gt(args.gt)
            info = mot_io.seqinfo_for(args.gt, gt)
            dets = mot_io.read_results(args.dets)
            seqs.append((info.name, gt, dets, info.covering(dets)))
            gt_file = mot_io.resolve_gt_file(args.gt)
            seq_dirs[info.name] = gt_file.parent.parent if gt_file.parent.name == "gt" else gt_file.parent
        elif args.mot17:
            for d in mot_io.list_sequence_dirs(args.mot17):
                gt = mot_io.read_gt(d)
                seqs.append((d.name, gt, mot_io.read_results(d / "det" / "det.txt"), mot_io.seqinfo_for(d, gt)))
            if not seqs:
                raise FileNotFoundError(f"no sequence directories in {args.mot17}")
        else:
            if args.generate:
                if not args.seeds:
                    raise ValueError("--generate needs --seeds")
                dirs = _generate(args.generate, _parse_seeds(args.seeds), out / "seqs", args.regenerate)
            else:
                dirs = [Path(d) for d in args.seqs]
            corruption = {"config": cfg.__dict__, "seeds": {}}
            for d in dirs:
                gt = mot_io.read_gt(d)
                info = mot_io.seqinfo_for(d, gt)
                seed = _sequence_seed(d, args.corrupt_seed)
                corruption["seeds"][info.name] = seed
                dets = corrupt_gt(gt, seed, cfg, image_size=(info.width, info.height), num_frames=info.length)
                seqs.append((info.name, gt, dets, info))
                seq_dirs[info.name] = Path(d)
    except (FileNotFoundError, ValueError) as exc:
        print(f"occtrack baselines: {exc}", file=sys.stderr)
        return 2

    ignore = resolve_occluded(args.occluded, [s[1] for s in seqs])
    for name, _, dets, _ in seqs:
        mot_io.write_results(out / "dets" / f"{name}.txt", dets)
    results = {}
    for tracker in names:
        inputs = []
        for name, gt, dets, info in tqdm(seqs, desc=tracker, leave=False):
            extra = _camera(seq_dirs.get(name), notes) if tracker == OURS and not args.ours_no_poses else {}
            res = run_tracker(tracker, dets, info.length, info.fps, (info.width, info.height), args.ours_weights,
                              interpolate_s=args.interpolate, backfill=args.backfill, relink=args.relink,
                              objects_return=_objects_return(seq_dirs.get(name)), **extra)
            mot_io.write_results(out / "results" / tracker / f"{name}.txt", res)
            inputs.append(SequenceInput(name, gt, res, info.length))
        results[tracker] = evaluate_sequences(inputs, ignore_fully_occluded=ignore)

    source = {"dets": f"--dets {args.dets} --gt {args.gt}", "mot17": f"--mot17 {args.mot17} (public detections)",
              "seqs": "--seqs " + " ".join(map(str, args.seqs or [])),
              "generate": f"--generate {args.generate} --seeds {args.seeds}"}[sources[0]]
    occl = "ignored (distractors)" if ignore else "counted (MOTChallenge protocol)"
    combined = {t: r["combined"] for t, r in results.items()}
    first = next(iter(combined.values()), {})
    episodes = (f"full-occlusion episodes: {first.get('occlusion_episodes', 0)}, judged for recovery: "
                f"{first.get('occlusion_episodes_judged', 0)}")
    print(f"data: {source}; {len(seqs)} sequence(s); fully occluded gt rows {occl}; {episodes}")
    for n in notes:
        print("note:", n)
    print(format_text(combined))

    md = [f"# Baselines: {source}", "",
          f"Sequences: {', '.join(s[0] for s in seqs)}. Fully occluded gt rows {occl}; {episodes}.",
          "", "## Combined", "", format_markdown(combined), ""]
    if len(seqs) > 1:
        for name, *_ in seqs:
            md += [f"## {name}", "", format_markdown({t: r["sequences"][name] for t, r in results.items()}), ""]
    md += [f"Note: {n}" for n in notes]
    (out / "metrics.md").write_text("\n".join(md) + "\n")
    write_json(out / "metrics.json", {
        "source": source, "git_revision": _git_revision(),
        "sequences": [s[0] for s in seqs], "occluded_rows": "ignored" if ignore else "counted",
        "corruption": corruption, "notes": notes,
        "trackers": {t: dict(r["combined"], sequences=r["sequences"]) for t, r in results.items()},
    })
    print(f"wrote {out / 'metrics.json'} and {out / 'metrics.md'}")
    return 0
