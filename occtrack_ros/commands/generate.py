"""`occtrack generate`: render a synthetic benchmark sequence (and optionally a rosbag2 of it)."""
from __future__ import annotations

NAME = "generate"
HELP = "render a synthetic sequence directory (occlusion world or sprites-mot), optionally a rosbag2"
DESCRIPTION = (
    "Render one deterministic synthetic sequence into a MOTChallenge-style directory (img1/, gt/gt.txt, "
    "seqinfo.ini, depth/, camera.json, poses.txt, gt/gt3d.json, gt/masks/). The same --seed always gives "
    "byte-identical files. Seeds 0-999 are for training and tuning; 1000-1009 (occlusion) and 2000-2019 "
    "(sprites-mot) are held out for evaluation."
)


def add_arguments(parser) -> None:
    """Options of `occtrack generate`."""
    parser.add_argument("--preset", default="occlusion", choices=("occlusion", "sprites-mot"),
                        help="occlusion: moving camera, pillars and walls hiding objects for 5-60 frames "
                        "(default); sprites-mot: the Tracking-by-Animation protocol, static camera")
    parser.add_argument("--seed", type=int, default=0, help="scene seed; the output is a pure function of it")
    parser.add_argument("--out", required=True, help="output sequence directory (created; must be empty "
                        "unless --overwrite); with --count > 1, the parent of one directory per sequence")
    parser.add_argument("--count", type=int, default=1,
                        help="render seeds SEED .. SEED+COUNT-1 into OUT/<preset>-<seed>/ (training sets)")
    parser.add_argument("--frames", type=int, default=None,
                        help="number of frames (default 200 for occlusion, 500 for sprites-mot)")
    parser.add_argument("--width", type=int, default=None, help="image width in 64..256 (occlusion only; "
                        "default 128). Larger frames cost detector time quadratically")
    parser.add_argument("--height", type=int, default=None, help="image height in 64..256 (occlusion only; "
                        "default 128)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the files of an existing sequence directory at --out")
    parser.add_argument("--bag", action="store_true",
                        help="also write a rosbag2 recording of the sequence at OUT/bag/")
    parser.add_argument("--bag-storage", default="mcap", choices=("mcap", "sqlite3"),
                        help="rosbag2 storage plugin for --bag (mcap is the ROS 2 default since Iron)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    """Render the sequence(s); returns the process exit status."""
    import sys
    from pathlib import Path

    if args.frames is not None and args.frames < 1:
        print(f"occtrack generate: --frames={args.frames} must be >= 1", file=sys.stderr)
        return 2
    if args.count < 1:
        print(f"occtrack generate: --count={args.count} must be >= 1", file=sys.stderr)
        return 2
    if args.count == 1:
        return _generate_one(args, args.seed, Path(args.out))
    for seed in range(args.seed, args.seed + args.count):
        status = _generate_one(args, seed, Path(args.out) / f"{args.preset}-{seed:04d}")
        if status != 0:
            return status
    return 0


def _generate_one(args, seed: int, out) -> int:
    import sys
    import time

    from occtrack_ros.data.sequence_writer import write_sequence
    from occtrack_ros.world.presets import make_sequence

    start = time.perf_counter()
    try:
        sequence = make_sequence(args.preset, seed, args.frames, args.width, args.height)
    except ValueError as exc:
        print(f"occtrack generate: {exc}", file=sys.stderr)
        return 2
    bag = None
    if args.bag:
        from occtrack_ros.data.bag_writer import SequenceBagWriter

        bag = SequenceBagWriter(out / "bag", sequence.intrinsics, sequence.fps, storage=args.bag_storage)

    def open_bag() -> None:
        if (out / "bag").exists():  # only reached with --overwrite on an existing sequence directory
            import shutil

            shutil.rmtree(out / "bag")
        bag.open()

    try:
        write_sequence(sequence, out, overwrite=args.overwrite, progress=not args.quiet,
                       on_frame=None if bag is None else bag.write_record, on_start=None if bag is None else open_bag)
    except FileExistsError as exc:
        print(f"occtrack generate: {exc}", file=sys.stderr)
        return 2
    finally:
        if bag is not None:
            bag.close()
    elapsed = time.perf_counter() - start
    print(f"wrote {sequence.num_frames} frames of {sequence.name} to {out}"
          f"{' (+ bag/ ' + args.bag_storage + ')' if args.bag else ''} in {elapsed:.1f} s")
    return 0
