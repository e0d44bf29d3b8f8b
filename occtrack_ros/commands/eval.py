"""`occtrack eval`: score MOTChallenge tracker results against ground truth (HOTA, IDF1, MOTA, occlusion)."""
from __future__ import annotations

NAME = "eval"
HELP = "score tracker results (MOTChallenge txt) against ground truth: HOTA, DetA, AssA, IDF1, MOTA, IDSW, occlusion"
DESCRIPTION = (
    "Score one or more tracker result files (frame,id,x,y,w,h,conf,-1,-1,-1) against ground truth with "
    "TrackEval (HOTA, DetA, AssA; CLEAR MOTA/IDSW; Identity IDF1) and the occlusion metrics (occlusion "
    "recovery rate, coasting error; see occtrack_ros/evaluation/occlusion.py). --gt is a gt.txt, a sequence "
    "directory, or a folder of sequence directories (then each --res is a folder of <sequence>.txt files and "
    "metrics are combined over sequences as TrackEval does). Prints a table; --json writes the numbers."
)


def add_arguments(parser) -> None:
    """Options of `occtrack eval`."""
    parser.add_argument("--gt", required=True, help="gt.txt, a sequence directory (with gt/gt.txt), or a folder of "
                        "sequence directories such as /work/shared/data/MOT17")
    parser.add_argument("--res", required=True, nargs="+", help="result file(s); one table row each. With a folder "
                        "of sequences as --gt, result folders holding <sequence>.txt")
    parser.add_argument("--names", nargs="+", default=None, help="table names for the --res entries (default: "
                        "file or folder names)")
    parser.add_argument("--json", default=None, help="write the metrics here (fractions in [0, 1], IDSW a count, "
                        "coasting error in px, null where undefined)")
    parser.add_argument("--per-sequence", action="store_true", help="also print one table per sequence")
    parser.add_argument("--occluded", choices=("auto", "ignore", "count"), default="auto",
                        help="fully occluded gt rows (visibility 0): 'ignore' treats them as distractors (a box on a "
                        "hidden object is neither rewarded nor penalised; our synthetic benchmarks), 'count' keeps "
                        "them as gt that must be tracked (the official MOTChallenge protocol). 'auto' (default): "
                        "count when the gt has MOTChallenge classes other than 1 (MOT16/17/20), else ignore")


def resolve_occluded(mode: str, gts) -> bool:
    """True when fully occluded gt rows are to be ignored (distractors), for --occluded=mode."""
    from occtrack_ros.evaluation.mot_io import CLASS

    if mode == "ignore":
        return True
    if mode == "count":
        return False
    return not any(len(g) and (g[:, CLASS] != 1).any() for g in gts)


def run(args) -> int:
    """Evaluate and print; returns the exit status."""
    import sys
    from pathlib import Path

    from occtrack_ros.evaluation import mot_io
    from occtrack_ros.evaluation.metrics import SequenceInput, evaluate_sequences
    from occtrack_ros.evaluation.report import format_text, write_json

    names = args.names or [Path(r).stem if Path(r).is_file() else Path(r).name for r in args.res]
    if len(names) != len(args.res):
        print(f"occtrack eval: {len(args.names)} --names for {len(args.res)} --res", file=sys.stderr)
        return 2
    gt_path = Path(args.gt)
    try:
        if gt_path.is_dir() and not mot_io.is_sequence_dir(gt_path) and not (gt_path / "gt.txt").is_file():
            seq_dirs = mot_io.list_sequence_dirs(gt_path)
            if not seq_dirs:
                raise FileNotFoundError(f"no sequence directories (with gt/gt.txt) in {gt_path}")
            gts = {d.name: mot_io.read_gt(d) for d in seq_dirs}
            infos = {d.name: mot_io.seqinfo_for(d, gts[d.name]) for d in seq_dirs}
            res_files = [{d.name: Path(r) / f"{d.name}.txt" for d in seq_dirs} for r in args.res]
        else:
            gt = mot_io.read_gt(gt_path)
            info = mot_io.seqinfo_for(gt_path, gt)
            gts, infos = {info.name: gt}, {info.name: info}
            res_files = [{info.name: Path(r)} for r in args.res]
        ignore = resolve_occluded(args.occluded, gts.values())
        results = {}
        for name, files in zip(names, res_files):
            seqs = []
            for seq, f in files.items():
                res = mot_io.read_results(f)
                seqs.append(SequenceInput(seq, gts[seq], res, infos[seq].covering(res).length))
            results[name] = evaluate_sequences(seqs, ignore_fully_occluded=ignore)
    except (FileNotFoundError, ValueError) as exc:
        print(f"occtrack eval: {exc}", file=sys.stderr)
        return 2
    print(f"fully occluded gt rows: {'ignored (distractors)' if ignore else 'counted (MOTChallenge protocol)'}; "
          f"sequences: {', '.join(gts)}")
    print(format_text({n: r["combined"] for n, r in results.items()}))
    for line in (recovery_failures_line(n, r["combined"]) for n, r in results.items()):
        if line:
            print(line)
    if args.per_sequence and len(gts) > 1:
        for seq in gts:
            print(f"\n{seq}")
            print(format_text({n: r["sequences"][seq] for n, r in results.items()}))
    if args.json:
        if len(results) == 1:
            (only,) = results.values()
            payload = dict(only["combined"], sequences=only["sequences"])
            payload["occluded_rows"] = "ignored" if ignore else "counted"
        else:
            payload = {"trackers": {n: dict(r["combined"], sequences=r["sequences"]) for n, r in results.items()},
                       "occluded_rows": "ignored" if ignore else "counted"}
        write_json(args.json, payload)
        print(f"wrote {args.json}")
    return 0


def recovery_failures_line(name: str, m: dict) -> str | None:
    """Why judged occlusion episodes were not recovered (occtrack_ros/evaluation/occlusion.py), or None."""
    judged = m.get("occlusion_episodes_judged") or 0
    if not judged:
        return None
    return (f"occlusion episodes not recovered, {name}: {judged - m['occlusion_episodes_recovered']} of {judged} "
            f"judged (no pre-occlusion id {m['occlusion_failed_no_pre_id']}, not matched in time "
            f"{m['occlusion_failed_unmatched']}, back as a new id {m['occlusion_failed_new_id']}, taken by "
            f"another track {m['occlusion_failed_other_track']})")
