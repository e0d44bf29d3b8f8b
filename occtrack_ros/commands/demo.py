"""`occtrack demo`: one held-out occlusion recording through the real ROS 2 node, with figures and metrics."""
from __future__ import annotations

NAME = "demo"
HELP = "play a generated occlusion bag through the ROS 2 tracker node; write tracks, metrics, video and figures"
DESCRIPTION = (
    "Generates a held-out occlusion recording (rosbag2), plays it over DDS (loopback only, a private "
    "ROS_DOMAIN_ID) through three processes: the bag player (lock-stepped on the node's tracks), the tracker "
    "node with config/occtrack.yaml and the shipped weights, and the track recorder. Writes OUT/tracks.txt "
    "(MOTChallenge), OUT/tracks.json (the published TrackedObjectArray messages), OUT/metrics.json and "
    "OUT/metrics.md (against the generated ground truth), OUT/overlay.mp4, OUT/contact_sheet.png (the "
    "longest occlusion the tracker recovered from) and OUT/states.png (state of every track over time). "
    "Then runs `occtrack replay` on the same bag and fails unless its metrics equal the live node's."
)

DEFAULT_SEED = 1001   # held-out; object 1 is fully hidden for 25 frames (40-64) and reappears at 68
NODE = "/occtrack_tracker"
BAG_TOPIC_PARAMS = ("image_topic:=/camera/image_raw", "depth_topic:=/camera/depth/image_raw",
                    "camera_info_topic:=/camera/camera_info", "odom_topic:=/odom")


def add_arguments(parser) -> None:
    """Options of `occtrack demo`."""
    parser.add_argument("--out", default="out/demo", help="output directory (created; files in it are replaced)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="occlusion-preset seed; keep it in the held-out range 1000-1009")
    parser.add_argument("--frames", type=int, default=120, help="frames to generate (10 fps)")
    parser.add_argument("--params", default=None, help="node parameter YAML (default: config/occtrack.yaml)")
    parser.add_argument("--detector-weights", default="", help="detector checkpoint instead of the shipped one")
    parser.add_argument("--tracker-weights", default="", help="tracker checkpoint instead of the shipped one")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra node parameter for the live node and the replay alike, e.g. "
                        "--param score_threshold:=0.6 (recorded in summary.json)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads in the node and in the replay (0 = torch's default, all cores). "
                        "Default 1: the node shares the CPU with the player and recorder, and on a busy machine "
                        "all cores made `occtrack replay` 20-40x slower (1.3-2.5 s per frame instead of 63 ms on 2 "
                        "cores)")
    parser.add_argument("--timeout", type=float, default=480.0, help="seconds the live run may take in all")


def _ros_env() -> dict:
    import os
    import random

    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_LOCALHOST_ONLY"] = "1"
    env["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
    env["PYTHONUNBUFFERED"] = "1"
    env["RCUTILS_LOGGING_BUFFERED_STREAM"] = "0"
    return env


def _command_args(module, argv: list[str]):
    """Parse ``argv`` with the sub-command's own parser, so its new options get their defaults."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"occtrack {module.NAME}")
    module.add_arguments(parser)
    return parser.parse_args(argv)


def _generate(seq_dir, seed: int, frames: int) -> None:
    from occtrack_ros.commands import generate

    status = generate.run(_command_args(generate, ["--preset", "occlusion", "--seed", str(seed), "--out", str(seq_dir),
                                                   "--frames", str(frames), "--overwrite", "--bag"]))
    if status != 0:
        raise RuntimeError(f"occtrack generate --seed {seed} failed (status {status})")


def _run_live(seq_dir, out, params: str, node_params: list[str], timeout: float, frames: int) -> list[dict]:
    """Player -> node -> recorder over DDS; returns the recorded tracks records (one per frame)."""
    import signal
    import sys
    import time

    from tqdm import tqdm

    from occtrack_ros.child_process import ChildProcess
    from occtrack_ros.reporting.records import read_records

    env = _ros_env()
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rec_file = logs / "recorded_tracks.jsonl"
    py = sys.executable
    node_cmd = [py, "-m", "occtrack_ros.ros.tracker_node", "--ros-args", "--params-file", params]
    for p in node_params:
        node_cmd += ["-p", p]
    print(f"live: ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} (loopback only); node parameters: --params-file {params} "
          + " ".join(f"-p {p}" for p in node_params), flush=True)
    children: list[ChildProcess] = []

    def on_sigterm(signum, frame):
        raise SystemExit(128 + signum)   # unwinds through `finally`, which stops the children

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        node = ChildProcess("tracker_node", node_cmd, env, logs / "tracker_node.log")
        children.append(node)
        recorder_cmd = [py, "-m", "occtrack_ros.ros.track_recorder", "--tracks", f"{NODE}/tracks",
                        "--out", str(rec_file), "--idle", "5", "--duration", str(timeout)]
        recorder = ChildProcess("track_recorder", recorder_cmd, env, logs / "track_recorder.log")
        children.append(recorder)
        if not node.wait_for("tracking /camera/image_raw", 180):
            raise node.failure("the tracker node did not start")
        if not recorder.wait_for("RECORDER ready", 60):
            raise recorder.failure("the track recorder did not discover the node's tracks")
        player_cmd = [py, "-m", "occtrack_ros.ros.sequence_player", "--bag", str(seq_dir / "bag"),
                      "--lockstep", f"{NODE}/tracks", "--lockstep-timeout", "60", "--wait-subscriber", "60"]
        player = ChildProcess("sequence_player", player_cmd, env, logs / "sequence_player.log")
        children.append(player)
        deadline = time.monotonic() + timeout
        with tqdm(total=frames, desc="live (player -> node -> recorder)", unit="frame") as bar:
            while player.p.poll() is None:
                if time.monotonic() > deadline:
                    raise player.failure(f"the live run took over {timeout:.0f} s")
                if node.p.poll() is not None:
                    raise node.failure("the tracker node exited during playback")
                done = sum(1 for _ in open(rec_file)) if rec_file.is_file() else 0
                bar.update(done - bar.n)
                time.sleep(0.25)
            if "PLAYER done" not in player.text():
                raise player.failure(f"the bag player failed (status {player.p.returncode})")
            if player.p.returncode != 0:
                # It has published every frame; only its shutdown failed (reported to the ROS layer's owner).
                print(f"live: note: the bag player exited with status {player.p.returncode} after "
                      "publishing every frame", flush=True)
            recorder.p.wait(timeout=30)   # stops 5 s after the last message
            bar.update(len(read_records(rec_file)) - bar.n)
        summary = next(line for line in player.text().splitlines() if "PLAYER done" in line)
        print(f"live: {summary.strip()}", flush=True)
    finally:
        for child in reversed(children):
            child.stop()
        signal.signal(signal.SIGTERM, previous)
    return read_records(rec_file)


def _evaluate(seq_dir, tracks_txt, metrics_json) -> dict:
    import json

    from occtrack_ros.commands import eval as eval_command

    status = eval_command.run(_command_args(eval_command, ["--gt", str(seq_dir), "--res", str(tracks_txt), "--names",
                                                           "occtrack", "--json", str(metrics_json)]))
    if status != 0:
        raise RuntimeError(f"occtrack eval failed on {tracks_txt} (status {status})")
    return json.loads(metrics_json.read_text())


def _replay(seq_dir, out, params: str, sets: list[str], threads: int) -> dict:
    import json
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "occtrack_ros.cli", "replay", "--bag", str(seq_dir / "bag"), "--out", str(out),
           "--params", params, "--threads", str(threads), "--no-video"]
    for s in sets:
        cmd += ["--set", s]
    print("+ occtrack " + " ".join(cmd[3:]), flush=True)
    if subprocess.run(cmd).returncode != 0:
        raise RuntimeError("occtrack replay failed (see above)")
    return json.loads((out / "metrics.json").read_text())


def _write_overlay(path, seq, per_frame) -> None:
    import cv2
    import numpy as np
    from tqdm import tqdm

    from occtrack_ros.reporting.contact_sheet import draw_tracks

    writer = None
    try:
        for i in tqdm(range(len(seq)), desc="overlay.mp4", unit="frame"):
            canvas = draw_tracks(seq.image(i), per_frame[i])
            cv2.putText(canvas, f"frame {i + 1}", (4, canvas.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (255, 255, 255), 1, cv2.LINE_AA)
            if writer is None:
                h, w = canvas.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(seq.fps), (w, h))
                if not writer.isOpened():
                    raise RuntimeError(f"OpenCV cannot write {path} with the mp4v codec")
            writer.write(np.ascontiguousarray(canvas[..., ::-1]))
    finally:
        if writer is not None:
            writer.release()


def run(args) -> int:
    """Run the demo; returns the exit status."""
    import json
    import sys
    import time
    from datetime import datetime, timezone
    from pathlib import Path

    from occtrack_ros.data.sequence import load_sequence
    from occtrack_ros.evaluation import mot_io
    from occtrack_ros.evaluation.metrics import HEADLINE
    from occtrack_ros.evaluation.report import format_markdown, format_text
    from occtrack_ros.reporting.contact_sheet import write_contact_sheet
    from occtrack_ros.reporting.episode_outcome import episode_outcomes, longest_recovered
    from occtrack_ros.reporting.records import frames_of, mot_rows, state_timeline, tracks_by_frame
    from occtrack_ros.reporting.state_plot import plot_states
    from occtrack_ros.reporting.tables import markdown_table

    start = time.monotonic()
    repo = Path(__file__).resolve().parents[2]
    out = Path(args.out)
    params = str(Path(args.params) if args.params else _default_params(repo))
    if not Path(params).is_file():
        print(f"occtrack demo: no node parameter file at {params} (pass --params)", file=sys.stderr)
        return 2
    if not 1000 <= args.seed <= 1009:
        print(f"occtrack demo: note: seed {args.seed} is outside the held-out range 1000-1009", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    seq_dir = out / "sequence"

    print(f"[1/5] generating occlusion seed {args.seed} ({args.frames} frames, rosbag2) into {seq_dir}", flush=True)
    _generate(seq_dir, args.seed, args.frames)
    gt = mot_io.read_gt(seq_dir)
    reference = [o for o in episode_outcomes(gt, gt[:, :7]) if o.judged]
    if not reference:
        print(f"occtrack demo: seed {args.seed} has no full occlusion after which the object reappears; "
              "choose another --seed", file=sys.stderr)
        return 2

    node_params = list(BAG_TOPIC_PARAMS) + ["qos_reliability:=reliable", f"threads:={args.threads}"]
    sets = []   # the same weights for `occtrack replay` (--set NAME=VALUE)
    for name, value in (("detector_weights", args.detector_weights), ("tracker_weights", args.tracker_weights)):
        if value:
            value = str(Path(value).resolve())
            node_params.append(f"{name}:={value}")
            sets.append(f"{name}={value}")

    for item in args.param:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            print(f"occtrack demo: --param {item!r}: expected NAME:=VALUE", file=sys.stderr)
            return 2
        node_params.append(f"{name}:={value}")
        sets.append(f"{name}={value}")

    print("[2/5] live: bag player -> tracker node -> track recorder over DDS", flush=True)
    try:
        records = _run_live(seq_dir, out, params, node_params, args.timeout, args.frames)
    except (RuntimeError, StopIteration, OSError) as exc:
        print(f"occtrack demo: {exc}", file=sys.stderr)
        return 1
    seq = load_sequence(seq_dir, load_depth=False)
    stamps = [seq.stamp_ns(i) for i in range(len(seq))]
    frames = frames_of(records, stamps)
    if len(set(frames)) != len(seq):
        print(f"occtrack demo: the node published tracks for {len(set(frames))} of {len(seq)} frames "
              "(see out/demo/logs/)", file=sys.stderr)
        return 1
    (out / "tracks.json").write_text(json.dumps(records) + "\n")
    rows = mot_rows(records, frames)
    warnings = []
    if rows.shape[0] == 0:
        warnings.append("the node published no confirmed or occluded track in any frame: the detector "
                        f"({args.detector_weights or 'shipped weights'}) found nothing above score_threshold")
        print(f"occtrack demo: WARNING: {warnings[-1]}", file=sys.stderr, flush=True)
    mot_io.write_results(out / "tracks.txt", rows)

    print("[3/5] metrics of the live tracks against the ground truth", flush=True)
    live = _evaluate(seq_dir, out / "tracks.txt", out / "metrics.json")

    print("[4/5] the same bag offline: occtrack replay", flush=True)
    try:
        offline = _replay(seq_dir, out / "replay", params, sets, args.threads)
    except RuntimeError as exc:
        print(f"occtrack demo: {exc}", file=sys.stderr)
        return 1
    keys = [k for k in live if k != "sequences"]
    differ = {k: (live.get(k), offline.get(k)) for k in keys if live.get(k) != offline.get(k)}
    # Both files are written by mot_io.write_results from the same messages: they must be byte-identical.
    live_lines = (out / "tracks.txt").read_text().splitlines()
    replay_lines = (out / "replay" / "tracks.txt").read_text().splitlines()
    same_rows = live_lines == replay_lines
    both = {"live node": live, "occtrack replay": offline}
    print(format_text(both))

    print("[5/5] figures: contact sheet, state timeline, overlay video", flush=True)
    per_frame = tracks_by_frame(records, frames, len(seq))
    outcomes = episode_outcomes(gt, rows)
    chosen = longest_recovered(outcomes)
    vis = {(int(r[0]), int(r[1])): float(r[8]) for r in gt}
    sheet = None
    if chosen is not None:
        sheet = write_contact_sheet(out / "contact_sheet.png", chosen, image_of=lambda f: seq.image(f - 1),
                                    objects_of=lambda f: per_frame[f - 1],
                                    visibility_of=lambda f: vis.get((f, chosen.episode.object_id)))
    ids, timeline = state_timeline(per_frame)
    highlight = None
    if chosen is not None and chosen.pre_id is not None:
        highlight = (chosen.pre_id, chosen.episode.start, chosen.episode.end)
    plot_states(out / "states.png", ids, timeline, highlight=highlight,
                title=f"occtrack demo: track states, occlusion seed {args.seed} (live ROS 2 node)")
    _write_overlay(out / "overlay.mp4", seq, per_frame)

    episode_rows = [[o.episode.object_id, f"{o.episode.start}-{o.episode.end}", o.episode.length,
                     "-" if o.pre_id is None else o.pre_id, "-" if o.post_id is None else o.post_id,
                     "yes" if o.recovered else ("no" if o.judged else "not judged")] for o in outcomes]
    md = [f"# occtrack demo: occlusion seed {args.seed}, {len(seq)} frames", "",
          f"Live ROS 2 node (DDS, loopback) and `occtrack replay` on the same bag, scored against the generated "
          f"ground truth (fully occluded gt rows {live.get('occluded_rows', '?')}).", "",
          format_markdown({"live node": live, "occtrack replay": offline}), "",
          "## Full-occlusion episodes (ground truth) and the track ids around them", "",
          markdown_table(["gt object", "hidden frames", "length", "id before", "id after", "recovered"],
                         episode_rows, "rlrrrl"), ""]
    (out / "metrics.md").write_text("\n".join(md))
    if differ or not same_rows:
        print(f"occtrack demo: FAILED: live and offline results differ: metrics {differ or 'equal'}, "
              f"tracks.txt {'identical' if same_rows else 'differ'} ({len(live_lines)} rows live, "
              f"{len(replay_lines)} offline; first difference: {_first_difference(live_lines, replay_lines)})",
              file=sys.stderr)
        return 1

    wall = time.monotonic() - start
    summary = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": args.seed, "frames": len(seq),
        "wall_s": round(wall, 1), "weights": {"detector": args.detector_weights or "shipped",
                                              "tracker": args.tracker_weights or "shipped"},
        "extra_params": list(args.param),
        "metrics": {k: live.get(k) for k in HEADLINE}, "live_equals_replay": True,
        "track_rows": len(live_lines), "warnings": warnings,
        "episodes": len(outcomes), "episodes_judged": sum(o.judged for o in outcomes),
        "episodes_recovered": sum(o.recovered for o in outcomes),
        "contact_sheet": None if chosen is None else {
            "gt_object": chosen.episode.object_id, "hidden": [chosen.episode.start, chosen.episode.end],
            "track_id": chosen.pre_id, "recovered": chosen.recovered, "frames": sheet.frames},
        "git_revision": _git_revision(repo),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print()
    print(f"occtrack demo: done in {wall:.0f} s. Live node == occtrack replay (metrics, and tracks.txt byte for "
          f"byte: {len(live_lines)} rows).")
    m = live
    print(f"  HOTA {100 * m['HOTA']:.1f}  IDF1 {100 * m['IDF1']:.1f}  MOTA {100 * m['MOTA']:.1f}  IDSW {m['IDSW']}  "
          f"occlusion recovery {summary['episodes_recovered']}/{summary['episodes_judged']} judged episodes")
    if chosen is not None:
        kept = ("no track on it before" if chosen.pre_id is None else
                f"track id {chosen.pre_id} " + ("kept" if chosen.recovered else "NOT kept"))
        print(f"  contact sheet: gt object {chosen.episode.object_id} hidden for {chosen.episode.length} frames "
              f"({chosen.episode.start}-{chosen.episode.end}); {kept}")
    print(f"  look at: {out / 'contact_sheet.png'}, {out / 'states.png'}, {out / 'overlay.mp4'}, "
          f"{out / 'metrics.md'}")
    print("  README: scripts/update_readme.py puts this summary and the contact sheet into README.md")
    print(f"  tracks: {out / 'tracks.txt'} (MOTChallenge), {out / 'tracks.json'} (published messages); "
          f"logs: {out / 'logs'}")
    return 0


def _default_params(repo):
    """config/occtrack.yaml of this checkout, else of the installed package (colcon install)."""
    from pathlib import Path

    path = Path(repo) / "config" / "occtrack.yaml"
    if path.is_file():
        return path
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        return Path(get_package_share_directory("occtrack_ros")) / "config" / "occtrack.yaml"
    except (ImportError, PackageNotFoundError, LookupError):
        return path


def _first_difference(a: list[str], b: list[str]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"line {i + 1}: {x!r} vs {y!r}"
    return "none" if len(a) == len(b) else f"line {min(len(a), len(b)) + 1}: one file ends"


def _git_revision(repo) -> str:
    import subprocess

    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
