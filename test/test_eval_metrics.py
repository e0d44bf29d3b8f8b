"""TrackEval wrapper: perfect scores, ID switches, distractors, the class != 1 and motmetrics/NumPy-2 traps."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from occtrack_ros.evaluation.metrics import HEADLINE, SequenceInput, evaluate_sequences
from occtrack_ros.evaluation.mot_io import read_gt, read_results, write_results
from occtrack_ros.evaluation.preprocess import preprocess_sequence

T = 30


def synthetic_gt(num_objects: int = 4, num_frames: int = T, hidden: dict | None = None) -> np.ndarray:
    """Objects moving on straight lines; ``hidden = {id: (first, last)}`` frames with visibility 0."""
    rows = []
    for k in range(1, num_objects + 1):
        for f in range(1, num_frames + 1):
            x, y = 20.0 + 40 * k + 1.5 * f * (-1) ** k, 30.0 + 25 * k + 0.5 * f
            vis = 1.0
            if hidden and k in hidden and hidden[k][0] <= f <= hidden[k][1]:
                vis = 0.0
            rows.append([f, k, x, y, 20.0, 40.0, 1, 1, vis])
    return np.array(rows)


def as_results(gt: np.ndarray) -> np.ndarray:
    return np.column_stack([gt[:, :6], np.ones(len(gt))])


def evaluate(gt, res, ignore=True, num_frames=T):
    return evaluate_sequences([SequenceInput("s", gt, res, num_frames)], ignore_fully_occluded=ignore)["combined"]


def test_gt_against_itself_is_perfect():
    gt = synthetic_gt(hidden={2: (10, 16)})
    m = evaluate(gt, as_results(gt))
    assert m["HOTA"] == pytest.approx(1.0) and m["IDF1"] == pytest.approx(1.0) and m["MOTA"] == pytest.approx(1.0)
    assert m["DetA"] == pytest.approx(1.0) and m["AssA"] == pytest.approx(1.0)
    assert m["IDSW"] == 0
    assert m["occlusion_recovery"] == pytest.approx(1.0) and m["coasting_error_px"] == pytest.approx(0.0)


def test_one_planted_id_switch_counts_once():
    gt = synthetic_gt()
    res = as_results(gt)
    res[(res[:, 1] == 3) & (res[:, 0] >= 15), 1] = 99  # object 3 changes track id at frame 15
    m = evaluate(gt, res)
    assert m["IDSW"] == 1
    assert m["MOTA"] == pytest.approx(1.0 - 1.0 / len(gt))
    assert m["IDF1"] < 1.0 and m["AssA"] < 1.0 and m["DetA"] == pytest.approx(1.0)


def test_coasting_row_on_hidden_object_changes_nothing():
    gt = synthetic_gt(hidden={2: (10, 16)})
    visible_only = as_results(gt[gt[:, 8] > 0])
    with_coasting = as_results(gt)  # also reports object 2 while fully hidden, at its true box
    a, b = evaluate(gt, visible_only), evaluate(gt, with_coasting)
    for k in ("HOTA", "DetA", "AssA", "IDF1", "MOTA", "IDSW", "FP", "FN"):
        assert a[k] == pytest.approx(b[k]), k
    assert b["distractor_removed_rows"] == 7 and a["distractor_removed_rows"] == 0
    # Under the official protocol hidden objects are gt to be tracked: the coasting rows now earn TPs.
    a, b = evaluate(gt, visible_only, ignore=False), evaluate(gt, with_coasting, ignore=False)
    assert a["FN"] == 7 and b["FN"] == 0 and b["MOTA"] > a["MOTA"]


def test_coasting_row_far_from_hidden_object_is_a_false_positive():
    gt = synthetic_gt(hidden={2: (10, 16)})
    res = as_results(gt)
    res[(res[:, 1] == 2) & (gt[:, 8] == 0), 2] += 200.0  # coasting boxes that drifted away
    m = evaluate(gt, res)
    assert m["FP"] == 7 and m["distractor_removed_rows"] == 0


def test_class_and_flag_filtering_and_devkit_distractors():
    """Only flag == 1 & class == 1 is evaluated; rows on classes 2/7/8/12 are removed, other classes are FPs."""
    ped = synthetic_gt(num_objects=2)
    static = np.array([[f, 50, 300.0, 20.0, 20.0, 40.0, 0, 7, 1.0] for f in range(1, T + 1)])   # static person
    car = np.array([[f, 51, 300.0, 120.0, 40.0, 30.0, 0, 3, 1.0] for f in range(1, T + 1)])     # vehicle
    zero = np.array([[f, 52, 400.0, 200.0, 20.0, 40.0, 0, 1, 1.0] for f in range(1, T + 1)])    # flag 0 pedestrian
    gt = np.concatenate([ped, static, car, zero])
    data = preprocess_sequence(gt, as_results(ped), T, ignore_fully_occluded=False)
    assert data["num_gt_dets"] == len(ped) and data["num_gt_ids"] == 2  # class 1 kept: not dropped
    base = evaluate(gt, as_results(ped), ignore=False)
    assert base["MOTA"] == pytest.approx(1.0)
    on_static = evaluate(gt, as_results(np.concatenate([ped, static])), ignore=False)
    assert on_static["FP"] == 0 and on_static["distractor_removed_rows"] == T
    on_car = evaluate(gt, as_results(np.concatenate([ped, car])), ignore=False)
    assert on_car["FP"] == T
    on_zero = evaluate(gt, as_results(np.concatenate([ped, zero])), ignore=False)
    assert on_zero["FP"] == T  # as in the devkit: flag-0 pedestrians are not distractors


def _noisy_results(gt: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    res = as_results(gt[rng.random(len(gt)) > 0.1])
    res[:, 2:4] += rng.normal(0, 3.0, (len(res), 2))
    res[(res[:, 1] == 2) & (res[:, 0] > 12), 1] = 7
    swap = (res[:, 0] > 20) & np.isin(res[:, 1], [3, 4])
    res[swap, 1] = 7 - res[swap, 1]
    fp = np.array([[f, 100 + f % 3, 500.0 + f, 300.0, 20.0, 40.0, 0.5] for f in range(1, T + 1, 2)])
    return np.concatenate([res, fp])


def test_official_trackeval_dataset_agrees(tmp_path):
    """Our array preprocessing == TrackEval's MotChallenge2DBox on the same files (official protocol)."""
    import trackeval

    gt = np.concatenate([synthetic_gt(hidden={1: (5, 11)}),
                         np.array([[f, 50, 95.0, 60.0, 20.0, 40.0, 0, 7, 1.0] for f in range(1, T + 1)])])
    res = _noisy_results(gt[gt[:, 7] == 1], seed=3)
    res = np.concatenate([res, [[f, 200, 95.0, 61.0, 20.0, 40.0, 1.0] for f in range(1, 10)]])  # on the static person
    seq = "SYN-01"
    (tmp_path / "gt" / seq / "gt").mkdir(parents=True)
    np.savetxt(tmp_path / "gt" / seq / "gt" / "gt.txt", gt, fmt="%.6g", delimiter=",")
    write_results(tmp_path / "trk" / "mine" / "data" / f"{seq}.txt", res)
    dataset = trackeval.datasets.MotChallenge2DBox({
        "GT_FOLDER": str(tmp_path / "gt"), "TRACKERS_FOLDER": str(tmp_path / "trk"), "SKIP_SPLIT_FOL": True,
        "SEQ_INFO": {seq: T}, "BENCHMARK": "MOT17", "PRINT_CONFIG": False, "TRACKERS_TO_EVAL": ["mine"],
    })
    evaluator = trackeval.Evaluator({
        "USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "OUTPUT_SUMMARY": False,
        "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "TIME_PROGRESS": False, "DISPLAY_LESS_PROGRESS": True,
    })
    metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
               trackeval.metrics.Identity({"PRINT_CONFIG": False})]
    with contextlib.redirect_stdout(io.StringIO()):
        out, _ = evaluator.evaluate([dataset], metrics)
    ref = out["MotChallenge2DBox"]["mine"][seq]["pedestrian"]
    mine = evaluate(gt, read_results(tmp_path / "trk" / "mine" / "data" / f"{seq}.txt"), ignore=False)
    assert mine["HOTA"] == pytest.approx(float(np.mean(ref["HOTA"]["HOTA"])))
    assert mine["AssA"] == pytest.approx(float(np.mean(ref["HOTA"]["AssA"])))
    assert mine["MOTA"] == pytest.approx(ref["CLEAR"]["MOTA"])
    assert mine["IDSW"] == ref["CLEAR"]["IDSW"] and mine["IDF1"] == pytest.approx(ref["Identity"]["IDF1"])
    assert mine["distractor_removed_rows"] == 9


def test_motmetrics_numpy2_trap(monkeypatch):
    import motmetrics as mm

    from occtrack_ros.evaluation.motmetrics_compat import iou_distance_matrix

    rng = np.random.default_rng(0)
    a = np.column_stack([rng.uniform(0, 50, (6, 2)), rng.uniform(5, 30, (6, 2))])
    b = a[[0, 2, 4, 5]] + rng.normal(0, 1.0, (4, 4))
    if not hasattr(np, "asfarray"):
        with pytest.raises(AttributeError):
            mm.distances.iou_matrix(a, b, max_iou=0.5)
        monkeypatch.setattr(np, "asfarray", lambda x, dtype=np.float64: np.asarray(x, dtype=dtype), raising=False)
    ref = mm.distances.iou_matrix(a, b, max_iou=0.5)
    ours = iou_distance_matrix(a, b, max_iou=0.5)
    assert ours.shape == (6, 4)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours[~np.isnan(ours)], ref[~np.isnan(ref)])
    assert np.isfinite(ours).sum() >= 3  # the case has real matches, not only nan


@pytest.mark.parametrize("seed", [1, 2])
def test_clear_and_identity_match_py_motmetrics(seed):
    from occtrack_ros.evaluation.motmetrics_compat import motmetrics_summary

    gt = synthetic_gt(num_objects=5, hidden={2: (8, 14)})
    res = _noisy_results(gt, seed)
    data = preprocess_sequence(gt, res, T)
    ref = motmetrics_summary(data)
    m = evaluate(gt, res)
    assert m["IDSW"] > 0 and m["MOTA"] < 1.0
    assert m["MOTA"] == pytest.approx(ref["MOTA"]) and m["IDF1"] == pytest.approx(ref["IDF1"])
    assert m["IDSW"] == ref["IDSW"]


def test_eval_cli_json_contract(tmp_path):
    from occtrack_ros.cli import main

    seq = tmp_path / "seq"
    (seq / "gt").mkdir(parents=True)
    gt = synthetic_gt(hidden={3: (4, 12)})
    np.savetxt(seq / "gt" / "gt.txt", gt, fmt="%.6g", delimiter=",")
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname=seq\nseqLength={T}\nimWidth=400\nimHeight=300\nframeRate=10\n")
    write_results(tmp_path / "res.txt", as_results(gt))
    assert main(["eval", "--gt", str(seq), "--res", str(tmp_path / "res.txt"), "--json", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert set(HEADLINE) <= set(m)
    assert m["HOTA"] == pytest.approx(1.0) and m["IDSW"] == 0 and isinstance(m["IDSW"], int)
    bad = tmp_path / "bad.txt"
    write_results(bad, np.array([[T + 5, 1, 0, 0, 10, 10, 1.0]]))
    assert main(["eval", "--gt", str(seq), "--res", str(bad)]) == 2  # frame beyond seqLength: a clear error


def test_gt_file_without_visibility_columns(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("1,1,10,10,20,20\n2,1,11,10,20,20\n")
    gt = read_gt(p)
    assert gt.shape == (2, 9) and (gt[:, 6:] == 1).all()


def test_gt_without_seqinfo_stretches_to_results(tmp_path):
    from occtrack_ros.cli import main

    gt = synthetic_gt(num_frames=10)
    np.savetxt(tmp_path / "gt.txt", gt, fmt="%.6g", delimiter=",")
    res = np.concatenate([as_results(gt), [[12, 9, 0.0, 0.0, 10.0, 10.0, 1.0]]])  # a track past the last gt frame
    write_results(tmp_path / "res.txt", res)
    assert main(["eval", "--gt", str(tmp_path / "gt.txt"), "--res", str(tmp_path / "res.txt"),
                 "--json", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["FP"] == 1 and m["IDSW"] == 0
