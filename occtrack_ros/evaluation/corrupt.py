"""Ground-truth boxes -> a noisy, seeded det.txt (a stand-in detector for tracker benchmarks).

For every evaluated gt row (``flag == 1``, ``class == 1``) of every frame:

1. objects with ``visibility < min_visibility`` (default 0.3) get no detection: the detector
   cannot see them (fully occluded objects never produce one);
2. each remaining object is dropped with probability ``drop_prob`` (default 0.05);
3. the kept box is perturbed: centre += N(0, ``center_noise`` * (w, h)) (default 0.05), and
   w, h *= exp(N(0, ``size_noise``)) (default 0.05, i.e. about 5 % size noise); boxes stay amodal
   (the gt box) and are not clipped to the image, which is kinder than a real detector on partly
   hidden objects;
4. its score is ``clip(0.4 + 0.6 * visibility + N(0, 0.05), 0.01, 1)``: partly hidden objects
   score lower, the regime ByteTrack's second association is built for;
5. false positives: Poisson(``fp_rate``) per frame (default 0.5), each with the size of a random
   gt box of the sequence, placed uniformly inside the image, score U(0.2, 0.8).

Everything is drawn from ``numpy.random.default_rng(seed)``, so the same gt, config and seed give
the same file. Output rows: ``frame, -1, x, y, w, h, score`` (``(K, 7)``), sorted by frame.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from occtrack_ros.evaluation.episodes import evaluated_rows
from occtrack_ros.evaluation.mot_io import FRAME, VIS, W, X


@dataclass
class CorruptionConfig:
    """Corruption parameters; the defaults are the ones every reported benchmark uses."""

    center_noise: float = 0.05    # std of the centre shift, as a fraction of box width / height
    size_noise: float = 0.05      # std of the log-scale change of width and height
    drop_prob: float = 0.05       # chance that a detectable object is missed in a frame
    fp_rate: float = 0.5          # mean number of false positives per frame (Poisson)
    min_visibility: float = 0.3   # objects less visible than this are never detected
    score_noise: float = 0.05     # std of the score noise

    def __post_init__(self) -> None:
        for name, v in asdict(self).items():
            if v < 0:
                raise ValueError(f"CorruptionConfig.{name} must be >= 0, got {v}")
        if self.drop_prob > 1 or self.min_visibility > 1:
            raise ValueError(f"CorruptionConfig: drop_prob and min_visibility must be <= 1, got "
                             f"{self.drop_prob}, {self.min_visibility}")


def corrupt_gt(
    gt: np.ndarray, seed: int, config: CorruptionConfig | None = None,
    image_size: tuple[int, int] | None = None, num_frames: int | None = None,
) -> np.ndarray:
    """Noisy detections from gt ``(N, 9)`` -> ``(K, 7)`` rows ``frame, -1, x, y, w, h, score``.

    Args:
        gt: frame, id, x, y, w, h, flag, class, visibility.
        seed: seed of the random generator (the whole output is a function of gt, config, seed).
        config: corruption parameters (defaults: ``CorruptionConfig()``).
        image_size: ``(width, height)`` for false positives; default: the extent of the gt boxes.
        num_frames: frames that get false positives (default: the last gt frame).
    """
    cfg = config or CorruptionConfig()
    gt = np.asarray(gt, np.float64)
    if gt.ndim != 2 or gt.shape[1] < 9:
        raise ValueError(f"gt must be (N, 9), got shape {gt.shape}")
    rng = np.random.default_rng(seed)
    g = gt[evaluated_rows(gt)]
    g = g[np.lexsort((g[:, 1], g[:, FRAME]))]

    visible = g[:, VIS] >= cfg.min_visibility
    kept = visible & (rng.random(len(g)) >= cfg.drop_prob)
    g = g[kept]
    n = len(g)
    wh = g[:, W:W + 2]                                         # (n, 2)
    centre = g[:, X:X + 2] + 0.5 * wh + rng.normal(0.0, cfg.center_noise, (n, 2)) * wh
    wh = wh * np.exp(rng.normal(0.0, cfg.size_noise, (n, 2)))
    score = np.clip(0.4 + 0.6 * g[:, VIS] + rng.normal(0.0, cfg.score_noise, n), 0.01, 1.0)
    dets = np.column_stack([g[:, FRAME], -np.ones(n), centre - 0.5 * wh, wh, score])  # (n, 7)

    if num_frames is None:
        num_frames = int(gt[:, FRAME].max()) if len(gt) else 0
    if image_size is None:
        image_size = (float((gt[:, X] + gt[:, W]).max()), float((gt[:, X + 1] + gt[:, W + 1]).max())) if len(gt) \
            else (1.0, 1.0)
    width, height = image_size
    n_fp = rng.poisson(cfg.fp_rate, num_frames) if len(gt) else np.zeros(num_frames, int)
    total = int(n_fp.sum())
    if total:
        frames = np.repeat(np.arange(1, num_frames + 1), n_fp)
        sizes = gt[rng.integers(0, len(gt), total), W:W + 2]   # (total, 2)
        sizes = np.minimum(sizes, [width, height])
        xy = rng.random((total, 2)) * np.maximum([width, height] - sizes, 0.0)
        fp = np.column_stack([frames, -np.ones(total), xy, sizes, rng.uniform(0.2, 0.8, total)])
        dets = np.concatenate([dets, fp])
    return dets[np.argsort(dets[:, FRAME], kind="stable")]
