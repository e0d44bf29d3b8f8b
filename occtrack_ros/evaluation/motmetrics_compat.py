"""py-motmetrics on NumPy 2, used as an independent cross-check of TrackEval's CLEAR / Identity.

py-motmetrics 1.4.0's ``distances.iou_matrix`` calls ``np.asfarray``, which NumPy 2.0 removed
(AttributeError). ``iou_distance_matrix`` reproduces it (same formula via motmetrics' own
``boxiou``, same ``nan`` = do-not-pair rule) without the removed call.
"""
from __future__ import annotations

import numpy as np


def iou_distance_matrix(objs: np.ndarray, hyps: np.ndarray, max_iou: float = 0.5) -> np.ndarray:
    """motmetrics-style distances ``1 - IoU`` between ``(N, 4)`` and ``(M, 4)`` ``xywh`` boxes; ``nan`` > max_iou."""
    from motmetrics.distances import boxiou

    objs = np.asarray(objs, dtype=np.float64)
    hyps = np.asarray(hyps, dtype=np.float64)
    if objs.size == 0 or hyps.size == 0:
        return np.empty((0, 0))
    assert objs.shape[1] == 4 and hyps.shape[1] == 4, f"boxes must be (N, 4), got {objs.shape}, {hyps.shape}"
    dist = 1.0 - boxiou(objs[:, None], hyps[None, :])  # (N, M)
    return np.where(dist > max_iou, np.nan, dist)


def motmetrics_summary(data: dict) -> dict:
    """MOTA, IDF1, IDSW from py-motmetrics on TrackEval-format data (``preprocess.preprocess_sequence``)."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    for g_ids, t_ids, g_dets, t_dets in zip(data["gt_ids"], data["tracker_ids"], data["gt_dets"], data["tracker_dets"]):
        acc.update(list(g_ids), list(t_ids), iou_distance_matrix(g_dets, t_dets, 0.5))
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=["mota", "idf1", "num_switches"], name="seq")
    return {"MOTA": float(s["mota"].iloc[0]), "IDF1": float(s["idf1"].iloc[0]), "IDSW": int(s["num_switches"].iloc[0])}
