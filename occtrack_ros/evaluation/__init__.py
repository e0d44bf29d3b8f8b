"""Evaluation: TrackEval metrics with distractor handling, occlusion metrics, detection corruption, baselines.

Modules:
    mot_io        MOTChallenge gt / result / detection files and sequence directories.
    boxes         IoU between ``xywh`` boxes and per-frame Hungarian matching.
    episodes      ground-truth full-occlusion episodes.
    preprocess    MOTChallenge-style preprocessing into TrackEval's per-sequence data.
    metrics       HOTA / CLEAR / Identity via TrackEval plus the occlusion metrics, per sequence and combined.
    occlusion     occlusion recovery rate and coasting error.
    motmetrics_compat  py-motmetrics on NumPy 2 (its ``iou_matrix`` uses the removed ``np.asfarray``).
    corrupt       ground-truth boxes -> noisy det.txt, seeded.
    baselines     SORT / ByteTrack / OC-SORT from the ``trackers`` package (and ours) on a det.txt.
    report        tables (text, markdown) and JSON.
"""
