"""Detector head: slot masks (+ features, depth) -> per-slot boxes, areas, depths, embeddings, objectness.

Everything runs batched on the model's device; the caller transfers the result to the host once.

Objectness without labels (documented heuristic, no learned parameters). A slot is
- *empty* when its hard region (pixels where it is the argmax slot and its soft mask >= mask_threshold)
  covers less than ``min_area_frac`` of the image;
- *background* when it covers more than ``max_area_frac`` of the image, more than ``border_frac``
  of the image border, or its box spans more than ``max_extent_frac`` of the image width or height
  (surfaces such as far walls, pillars and floors run out of view; objects are compact and at most
  clipped by one edge);
- *texture* (with ``min_fill`` > 0) when it fills less than ``min_fill`` of its own box (fragments of
  a textured surface are ragged; objects are compact: triangles and diamonds fill about half);
- otherwise an object, scored by how decisively it owns its region (mean soft mask there).
Each test is a linear ramp rather than a step (to 1.5x the limit) so scores are graded:
``score = confidence * ramp_up(area; min, 2 min) * ramp_down(area; max, 1.5 max) * ramp_down(border; b, 1.5 b)
* ramp_down(extent; e, 1.5 e) * ramp_up(fill; min_fill - 0.05, min_fill + 0.05)``
with ``confidence = clamp(2 * (mean_soft_mask_in_region - 0.5), 0, 1)``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from occtrack_ros.models.detector.config import DetectorConfig


def masks_from_logits(alpha: torch.Tensor, height: int, width: int, rgb: torch.Tensor | None = None,
                      image: torch.Tensor | None = None, sigma: float = 0.0) -> torch.Tensor:
    """Alpha logits (B, K, h, w) -> soft masks (B, K, H, W) that sum to 1 over K at every pixel.

    With per-slot RGB (B, K, 3, h, w), the full-resolution image (B, 3, H, W) in [0, 1] and ``sigma`` > 0
    the masks are the posterior of the decoder's spatial mixture model given each observed pixel,
    ``m_k * N(image | rgb_k, sigma^2)`` normalised over k: the decoder's low-resolution masks are
    sharpened to the image's edges without any extra learning.
    """
    assert alpha.dim() == 4, f"alpha logits must be (B, K, h, w), got {tuple(alpha.shape)}"
    b, k = alpha.shape[:2]
    if alpha.shape[-2:] != (height, width):
        alpha = F.interpolate(alpha.float(), size=(height, width), mode="bilinear", align_corners=False)
    logits = alpha.float().log_softmax(dim=1)                                       # (B, K, H, W)
    if sigma > 0 and rgb is not None and image is not None:
        assert rgb.shape[:3] == (b, k, 3), f"rgb must be (B, K, 3, h, w), got {tuple(rgb.shape)}"
        assert image.shape == (b, 3, height, width), f"image must be (B, 3, {height}, {width}), got {image.shape}"
        rgb = F.interpolate(rgb.float().flatten(0, 1), size=(height, width), mode="bilinear", align_corners=False)
        rgb = rgb.view(b, k, 3, height, width)                                      # (B, K, 3, H, W)
        err = (rgb - image.float().unsqueeze(1)).pow(2).sum(dim=2)                  # (B, K, H, W)
        logits = logits - err / (2.0 * sigma * sigma)
    return logits.softmax(dim=1)


def hard_regions(masks: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, K, H, W) soft masks -> (B, K, H, W) bool: pixel is the slot's argmax and its mask >= threshold."""
    winner = torch.zeros_like(masks, dtype=torch.bool).scatter_(1, masks.argmax(dim=1, keepdim=True), True)
    return winner & (masks >= threshold)


def boxes_from_regions(regions: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) bool -> (B, K, 4) float xyxy in pixels; an empty region gives (0, 0, 0, 0).

    Coordinates are pixel edges: a single pixel at column x, row y gives (x, y, x+1, y+1).
    """
    assert regions.dim() == 4 and regions.dtype == torch.bool, f"regions must be bool (B, K, H, W), got {regions.shape}"
    h, w = regions.shape[-2:]
    rows = regions.any(dim=3)                                   # (B, K, H)
    cols = regions.any(dim=2)                                   # (B, K, W)
    ys = torch.arange(h, device=regions.device)
    xs = torch.arange(w, device=regions.device)
    y0 = torch.where(rows, ys, h).amin(dim=-1)
    y1 = torch.where(rows, ys, -1).amax(dim=-1) + 1
    x0 = torch.where(cols, xs, w).amin(dim=-1)
    x1 = torch.where(cols, xs, -1).amax(dim=-1) + 1
    boxes = torch.stack([x0, y0, x1, y1], dim=-1).float()       # (B, K, 4)
    empty = ~rows.any(dim=-1)                                   # (B, K)
    return torch.where(empty.unsqueeze(-1), torch.zeros_like(boxes), boxes)


def _ramp_up(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return ((x - lo) / max(hi - lo, 1e-12)).clamp(0.0, 1.0)


def _ramp_down(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return ((hi - x) / max(hi - lo, 1e-12)).clamp(0.0, 1.0)


def border_coverage(regions: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) bool -> (B, K) fraction of the image's border pixels inside each region."""
    top, bottom = regions[..., 0, :], regions[..., -1, :]        # (B, K, W)
    left, right = regions[..., 1:-1, 0], regions[..., 1:-1, -1]  # (B, K, H-2)
    n = 2 * regions.shape[-1] + 2 * (regions.shape[-2] - 2)
    return (top.sum(-1) + bottom.sum(-1) + left.sum(-1) + right.sum(-1)).float() / n


def objectness(masks: torch.Tensor, regions: torch.Tensor, cfg: DetectorConfig,
               boxes: torch.Tensor | None = None) -> torch.Tensor:
    """Label-free objectness (see module docstring): (B, K, H, W) masks and regions -> (B, K) in [0, 1]."""
    h, w = masks.shape[-2:]
    area = regions.sum(dim=(2, 3)).float()                                          # (B, K)
    area_frac = area / (h * w)
    conf = (masks * regions).sum(dim=(2, 3)) / area.clamp(min=1.0)                  # (B, K)
    score = (2.0 * (conf - 0.5)).clamp(0.0, 1.0)
    score = score * _ramp_up(area_frac, cfg.min_area_frac, 2.0 * cfg.min_area_frac)
    score = score * _ramp_down(area_frac, cfg.max_area_frac, 1.5 * cfg.max_area_frac)
    score = score * _ramp_down(border_coverage(regions), cfg.border_frac, 1.5 * cfg.border_frac)
    boxes = boxes_from_regions(regions) if boxes is None else boxes                 # (B, K, 4)
    extent = torch.maximum((boxes[..., 2] - boxes[..., 0]) / w, (boxes[..., 3] - boxes[..., 1]) / h)
    score = score * _ramp_down(extent, cfg.max_extent_frac, 1.5 * cfg.max_extent_frac)
    if cfg.min_fill > 0:
        box_area = ((boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])).clamp(min=1.0)
        score = score * _ramp_up(area / box_area, cfg.min_fill - 0.05, cfg.min_fill + 0.05)
    return score


def masked_median_depth(depth: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Depth (B, H, W) [m, NaN or <= 0 invalid], regions (B, K, H, W) -> (B, K) median valid depth, NaN if none."""
    b, k = regions.shape[:2]
    valid = (torch.isfinite(depth) & (depth > 0)).flatten(1)                        # (B, H*W)
    owned = regions.flatten(2)                                                      # (B, K, H*W)
    # regions are disjoint: one label per pixel (k, or K for none/invalid), then ONE sort for all slots
    ids = torch.arange(k, device=depth.device).view(1, k, 1)
    label = torch.where(owned.any(dim=1), (owned * ids).sum(dim=1), k)              # (B, H*W)
    label = torch.where(valid, label, k) + torch.arange(b, device=depth.device).unsqueeze(1) * (k + 1)
    values = torch.where(valid, depth.flatten(1), 0.0).flatten()                    # (B*H*W,)
    order = torch.sort(values, stable=True).indices
    order = order[torch.sort(label.flatten()[order], stable=True).indices]          # by label, then depth
    counts = torch.bincount(label.flatten(), minlength=b * (k + 1))                 # (B*(K+1),)
    starts = torch.cumsum(counts, 0) - counts
    pick = (starts + (counts - 1).clamp(min=0) // 2).clamp(max=values.numel() - 1)  # lower median, as nanmedian
    med = torch.where(counts > 0, values[order[pick]], torch.nan)
    return med.view(b, k + 1)[:, :k]


def pooled_embeddings(masks: torch.Tensor, feats: torch.Tensor, grid: int) -> torch.Tensor:
    """Soft masks (B, K, H, W) and tokens (B, grid*grid, C) -> L2-normalised mask-pooled features (B, K, C)."""
    b, k = masks.shape[:2]
    assert feats.shape[:2] == (b, grid * grid), f"feats must be (B, {grid * grid}, C), got {tuple(feats.shape)}"
    m = F.adaptive_avg_pool2d(masks, (grid, grid)).flatten(2)                       # (B, K, N)
    pooled = torch.einsum("bkn,bnc->bkc", m, feats.float()) / m.sum(-1, keepdim=True).clamp(min=1e-6)
    return F.normalize(pooled, dim=-1)                                              # (B, K, C)


def describe_regions(masks: torch.Tensor, regions: torch.Tensor, feats: torch.Tensor, grid: int,
                     cfg: DetectorConfig, depth: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-region quantities of B frames (regions are slots, or components of them).

    masks (B, R, H, W) soft, regions (B, R, H, W) bool, feats (B, N, C) -> boxes (B, R, 4),
    scores/areas (B, R), centroids (B, R, 2), embeddings (B, R, C), depths (B, R).
    """
    height, width = masks.shape[-2:]
    area = regions.sum(dim=(2, 3)).float()                                          # (B, R)
    ys = torch.arange(height, device=masks.device, dtype=torch.float32) + 0.5
    xs = torch.arange(width, device=masks.device, dtype=torch.float32) + 0.5
    cx = (regions.sum(dim=2).float() * xs).sum(-1) / area.clamp(min=1.0)            # (B, R)
    cy = (regions.sum(dim=3).float() * ys).sum(-1) / area.clamp(min=1.0)
    boxes = boxes_from_regions(regions)
    out = {
        "masks": masks,
        "boxes": boxes,
        "scores": objectness(masks, regions, cfg, boxes),
        "areas": area,
        "centroids": torch.stack([cx, cy], dim=-1),
        "embeddings": pooled_embeddings(masks, feats, grid),
    }
    if depth is not None:
        assert depth.shape == (masks.shape[0], height, width), (
            f"depth must be (B, {height}, {width}), got {tuple(depth.shape)}")
        out["depths"] = masked_median_depth(depth.float(), regions)
    return out


def run_head(alpha: torch.Tensor, feats: torch.Tensor, grid: int, height: int, width: int,
             cfg: DetectorConfig, depth: torch.Tensor | None = None, rgb: torch.Tensor | None = None,
             image: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """All per-slot quantities for B frames, on the device.

    alpha (B, K, h, w) logits, feats (B, N, C), depth (B, H, W) or None, per-slot rgb (B, K, 3, h, w) and
    image (B, 3, H, W) for mask refinement (used when cfg.refine_sigma > 0) ->
    masks (B, K, H, W), boxes (B, K, 4), scores/areas (B, K), centroids (B, K, 2),
    embeddings (B, K, C), depths (B, K) [absent without depth].
    """
    masks = masks_from_logits(alpha, height, width, rgb, image, cfg.refine_sigma)
    return describe_regions(masks, hard_regions(masks, cfg.mask_threshold), feats, grid, cfg, depth)


def split_components(masks: np.ndarray, regions: np.ndarray, min_pixels: int = 1,
                     max_parts: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split each slot's region into 8-connected components (a slot may hold two separate objects).

    A slot with more than ``max_parts`` components of at least ``min_pixels`` is a fragmented surface
    (background texture): it stays one region, whose extent then marks it as background.

    masks (K, H, W) soft, regions (K, H, W) bool -> component masks (R, H, W) (the slot's soft mask inside
    the component), component regions (R, H, W) bool, and a label image (H, W) int32: component index on
    region pixels and on the pixels its slot wins below the mask threshold (the nearest component of that
    slot), R + slot index elsewhere (the instance segmentation the detector reports).
    """
    from scipy import ndimage

    k, h, w = masks.shape
    comps, labels = [], np.zeros((h, w), np.int32)
    winner = masks.argmax(axis=0)
    structure = np.ones((3, 3), bool)
    for slot in range(k):
        lab, n = ndimage.label(regions[slot], structure=structure)
        sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        if n <= 1 or (sizes >= min_pixels).sum() > max_parts:
            if n:
                comps.append((slot, regions[slot]))
            continue
        for i in range(1, n + 1):
            comps.append((slot, lab == i))
    r = len(comps)
    comp_regions = np.zeros((r, h, w), bool)
    comp_masks = np.zeros((r, h, w), np.float32)
    labels[:] = r + winner
    by_slot: dict[int, list[int]] = {}
    for j, (slot, region) in enumerate(comps):
        comp_regions[j] = region
        comp_masks[j] = np.where(region, masks[slot], 0.0)
        labels[region] = j
        by_slot.setdefault(slot, []).append(j)
    # A pixel the slot wins with a soft mask below the threshold (an object's anti-aliased rim) belongs
    # to the nearest component of that slot, not to a label of its own.
    for slot, parts in by_slot.items():
        rim = (winner == slot) & ~comp_regions[parts].any(axis=0)
        if not rim.any():
            continue
        if len(parts) == 1:
            labels[rim] = parts[0]
            continue
        part_of = np.full((h, w), -1, np.int64)
        for j in parts:
            part_of[comp_regions[j]] = j
        _, (iy, ix) = ndimage.distance_transform_edt(part_of < 0, return_indices=True)
        labels[rim] = part_of[iy[rim], ix[rim]]
    return comp_masks, comp_regions, labels


def merge_same_colour_parts(comp_masks: np.ndarray, comp_regions: np.ndarray, labels: np.ndarray,
                            image: np.ndarray, max_distance: float, max_area_px: float,
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join touching parts of different slots that have one colour: one object that two slots split.

    Slots with learned queries specialise in colours; an object whose colour lies between two slots'
    colours is shared by both, and the mixture posterior (``refine_sigma``) hands each pixel to the slot
    whose colour is nearer, so a patterned object falls apart into interleaved fragments, each too small
    to be a detection. Two parts touch only if they come from different slots (``split_components``
    separates a slot's parts), and distinct objects differ in colour, so touching parts whose mean
    chromaticity (``rgb / (r + g + b)``: brightness patterns and shading cancel) lies within
    ``max_distance`` are one object. Parts larger than ``max_area_px`` (surfaces) are never joined.

    comp_masks (R, H, W), comp_regions (R, H, W) bool and labels (H, W) as ``split_components`` returns
    them, image (H, W, 3) RGB (any scale) -> the same arrays with each merged group as one part (R' <= R
    parts, in the order of their first part), labels following.
    """
    r = len(comp_regions)
    if r < 2 or max_distance <= 0:
        return comp_masks, comp_regions, labels
    if np.shape(image)[:2] != comp_regions.shape[1:] or np.shape(image)[2:] != (3,):
        raise ValueError(f"merge_same_colour_parts: image must be (H, W, 3) with the masks' (H, W) = "
                         f"{comp_regions.shape[1:]}, got {np.shape(image)}")
    area = comp_regions.sum(axis=(1, 2))
    small = (area > 0) & (area <= max_area_px)
    index = np.full(comp_regions.shape[1:], -1, np.int64)
    for j in np.flatnonzero(small):
        index[comp_regions[j]] = j
    # touching pairs: 8-neighbour pixel pairs whose parts differ (both small parts)
    pairs = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = index[max(0, -dy):index.shape[0] - max(0, dy), max(0, -dx):index.shape[1] - max(0, dx)]
        b = index[max(0, dy):, max(0, dx):index.shape[1] + min(0, dx)][:a.shape[0], :a.shape[1]]
        touch = (a >= 0) & (b >= 0) & (a != b)
        pairs.append(np.stack([a[touch], b[touch]], axis=1))
    pairs = np.unique(np.sort(np.concatenate(pairs), axis=1), axis=0)              # (P, 2)
    if len(pairs) == 0:
        return comp_masks, comp_regions, labels
    rgb = np.asarray(image, np.float64).reshape(-1, 3)
    chroma = rgb / np.maximum(rgb.sum(axis=1, keepdims=True), 1e-9)                 # (H*W, 3)
    flat = index.ravel()
    owned = flat >= 0
    counts = np.bincount(flat[owned], minlength=r).astype(np.float64)
    mean = np.stack([np.bincount(flat[owned], chroma[owned, c], minlength=r) for c in range(3)], axis=1)
    mean /= np.maximum(counts, 1.0)[:, None]                                        # (R, 3)
    # rounded, so that one frame as uint8 or as float in [0, 1] (the joint stage) merges alike
    close = np.round(np.linalg.norm(mean[pairs[:, 0]] - mean[pairs[:, 1]], axis=1), 6) <= max_distance
    if not close.any():
        return comp_masks, comp_regions, labels
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    joined = pairs[close]
    _, group = connected_components(coo_matrix((np.ones(len(joined)), (joined[:, 0], joined[:, 1])), shape=(r, r)),
                                    directed=False)
    first = np.full(group.max() + 1, r)
    np.minimum.at(first, group, np.arange(r))
    roots = first[group]                                                            # (R,) each group's first part
    comp_masks, comp_regions = comp_masks.copy(), comp_regions.copy()
    for j in np.flatnonzero(roots != np.arange(r)):
        comp_regions[roots[j]] |= comp_regions[j]
        comp_masks[roots[j]] = np.maximum(comp_masks[roots[j]], comp_masks[j])
    keep = roots == np.arange(r)
    new_index = np.cumsum(keep) - 1                                                 # old root -> new index
    n = int(keep.sum())
    # labels: part j -> its group's new index; R + slot (pixels of no part) -> n + slot
    labels = np.where(labels < r, new_index[roots[np.minimum(labels, r - 1)]], labels - r + n).astype(labels.dtype)
    return comp_masks[keep], comp_regions[keep], labels


def region_colours(regions: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Boolean regions (R, H, W) of an (H, W, 3) image -> (R, 3) float32 chromaticity of their mean colour.

    ``rgb / (r + g + b)`` of the region's mean RGB: shading and brightness patterns cancel, so it is a
    cheap appearance cue that stays put while an object turns or moves through light and shadow (the
    offline re-linking compares it across gaps). An empty region gives (1/3, 1/3, 1/3).
    """
    regions = np.asarray(regions)
    image = np.asarray(image)
    if regions.ndim != 3 or image.shape[:2] != regions.shape[1:] or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"region_colours: regions (R, H, W) and an (H, W, 3) image of the same size, got "
                         f"{regions.shape} and {image.shape}")
    w = regions.reshape(len(regions), regions.shape[1] * regions.shape[2]).astype(np.float32)
    mean = w @ image.reshape(-1, 3).astype(np.float32) / np.maximum(w.sum(axis=1, keepdims=True), 1.0)
    total = mean.sum(axis=1, keepdims=True)
    return np.where(total > 0, mean / np.maximum(total, 1e-9), np.float32(1 / 3)).astype(np.float32)
