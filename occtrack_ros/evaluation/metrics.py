"""HOTA / CLEAR / Identity (TrackEval) and the occlusion metrics, per sequence and combined.

TrackEval's metric classes are used directly on data from ``preprocess.preprocess_sequence``;
sequences are combined with each metric's own ``combine_sequences`` (HOTA: TP-weighted, CLEAR and
Identity: summed counts), exactly as ``trackeval.Evaluator`` does for a benchmark. The occlusion
metrics pool their episodes over sequences.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

from occtrack_ros.evaluation.occlusion import OcclusionStats, occlusion_stats
from occtrack_ros.evaluation.preprocess import preprocess_sequence

# The keys every report has, in table order (README and JSON contract).
HEADLINE = ("HOTA", "DetA", "AssA", "IDF1", "MOTA", "IDSW", "occlusion_recovery", "coasting_error_px")


@dataclass
class SequenceInput:
    """One sequence to evaluate: gt ``(N, 9)``, results ``(M, >=6)``, its length in frames."""

    name: str
    gt: np.ndarray
    res: np.ndarray
    num_frames: int


def _metric_objects():
    from trackeval.metrics import CLEAR, HOTA, Identity

    # TrackEval prints its config on construction; keep our output to the table.
    with contextlib.redirect_stdout(io.StringIO()):
        cfg = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
        return HOTA(), CLEAR(dict(cfg)), Identity(dict(cfg))


def _summarise(hota: dict, clear: dict, ident: dict, occ: OcclusionStats) -> dict:
    out = {
        "HOTA": float(np.mean(hota["HOTA"])),
        "DetA": float(np.mean(hota["DetA"])),
        "AssA": float(np.mean(hota["AssA"])),
        "IDF1": float(ident["IDF1"]),
        "MOTA": float(clear["MOTA"]),
        "IDSW": int(clear["IDSW"]),
    }
    occ_summary = occ.summary()
    out["occlusion_recovery"] = occ_summary.pop("occlusion_recovery")
    out["coasting_error_px"] = occ_summary.pop("coasting_error_px")
    out.update({
        "LocA": float(np.mean(hota["LocA"])),
        "DetRe": float(np.mean(hota["DetRe"])),
        "DetPr": float(np.mean(hota["DetPr"])),
        "AssRe": float(np.mean(hota["AssRe"])),
        "AssPr": float(np.mean(hota["AssPr"])),
        "MOTP": float(clear["MOTP"]),
        "IDP": float(ident["IDP"]),
        "IDR": float(ident["IDR"]),
        "FP": int(clear["CLR_FP"]),
        "FN": int(clear["CLR_FN"]),
        "TP": int(clear["CLR_TP"]),
        "Frag": int(clear["Frag"]),
        "MT": int(clear["MT"]),
        "ML": int(clear["ML"]),
    })
    out.update(occ_summary)
    return out


def evaluate_sequences(seqs: list[SequenceInput], ignore_fully_occluded: bool = True) -> dict:
    """Evaluate one tracker on several sequences.

    Returns ``{"combined": metrics, "sequences": {name: metrics}}`` where metrics holds the
    ``HEADLINE`` keys (fractions; IDSW a count; coasting in px; None where undefined) and extras.
    """
    if not seqs:
        raise ValueError("evaluate_sequences: no sequences given")
    names = [s.name for s in seqs]
    if len(set(names)) != len(names):
        raise ValueError(f"evaluate_sequences: duplicate sequence names {names}")
    hota_m, clear_m, id_m = _metric_objects()
    per_h, per_c, per_i, per_o, removed = {}, {}, {}, {}, {}
    for s in seqs:
        data = preprocess_sequence(s.gt, s.res, s.num_frames, s.name, ignore_fully_occluded)
        removed[s.name] = data["removed_tracker_dets"]
        per_h[s.name] = hota_m.eval_sequence(data)
        per_c[s.name] = clear_m.eval_sequence(data)
        per_i[s.name] = id_m.eval_sequence(data)
        per_o[s.name] = occlusion_stats(s.gt, s.res)
    out = {"sequences": {}}
    for n in names:
        out["sequences"][n] = _summarise(per_h[n], per_c[n], per_i[n], per_o[n])
        out["sequences"][n]["distractor_removed_rows"] = removed[n]
    occ_all = OcclusionStats()
    for n in names:
        occ_all = occ_all + per_o[n]
    out["combined"] = _summarise(
        hota_m.combine_sequences(per_h), clear_m.combine_sequences(per_c), id_m.combine_sequences(per_i), occ_all)
    out["combined"]["distractor_removed_rows"] = int(sum(removed.values()))
    return out
