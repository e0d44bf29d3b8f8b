"""Detector head and scoring on hand-made masks: boxes, objectness, depth, ARI, box matching."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from occtrack_ros.models.detector.config import DetectorConfig
from occtrack_ros.models.detector.head import (
    boxes_from_regions,
    hard_regions,
    masked_median_depth,
    masks_from_logits,
    objectness,
    pooled_embeddings,
    run_head,
)
from occtrack_ros.models.detector.scoring import adjusted_rand_index, fg_ari, match_boxes


def _scene(h=40, w=60):
    """Slot 0 = background, slot 1 = a 6x4 object at rows 10-13, cols 20-25, slot 2 = empty."""
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[10:14, 20:26] = 1
    masks = torch.nn.functional.one_hot(labels, 3).permute(2, 0, 1).float().unsqueeze(0)  # (1, 3, H, W)
    return masks * 0.9 + 0.1 / 3  # soft, still sums to 1


def test_boxes_from_hand_made_regions():
    regions = torch.zeros(1, 3, 8, 10, dtype=torch.bool)
    regions[0, 0, 2:5, 3:7] = True          # rows 2-4, cols 3-6
    regions[0, 1, 7, 9] = True              # one pixel in the corner
    boxes = boxes_from_regions(regions)
    assert boxes[0, 0].tolist() == [3, 2, 7, 5]
    assert boxes[0, 1].tolist() == [9, 7, 10, 8]
    assert boxes[0, 2].tolist() == [0, 0, 0, 0]  # empty


def test_hard_regions_are_argmax_and_threshold():
    masks = torch.tensor([[0.6, 0.45], [0.3, 0.45], [0.1, 0.10]]).view(1, 3, 1, 2)
    regions = hard_regions(masks, 0.5)
    assert regions[0, :, 0, 0].tolist() == [True, False, False]
    assert not regions[0, :, 0, 1].any()  # the winner is below the threshold


def test_masks_sum_to_one_with_and_without_refinement():
    torch.manual_seed(0)
    alpha = torch.randn(2, 5, 8, 8)
    masks = masks_from_logits(alpha, 32, 24)
    assert masks.shape == (2, 5, 32, 24)
    torch.testing.assert_close(masks.sum(1), torch.ones(2, 32, 24))
    rgb = torch.rand(2, 5, 3, 8, 8)
    image = torch.rand(2, 3, 32, 24)
    refined = masks_from_logits(alpha, 32, 24, rgb, image, sigma=0.1)
    torch.testing.assert_close(refined.sum(1), torch.ones(2, 32, 24))


def test_refinement_follows_image_colour():
    # Two slots with equal alpha everywhere; slot 1 paints red, slot 0 grey: red pixels go to slot 1.
    alpha = torch.zeros(1, 2, 4, 4)
    rgb = torch.stack([torch.full((3, 4, 4), 0.5), torch.tensor([1.0, 0, 0]).view(3, 1, 1).expand(3, 4, 4)])[None]
    image = torch.full((1, 3, 16, 16), 0.5)
    image[0, :, 4:8, 4:8] = torch.tensor([1.0, 0, 0]).view(3, 1, 1)
    masks = masks_from_logits(alpha, 16, 16, rgb, image, sigma=0.1)
    assert (masks[0, 1, 4:8, 4:8] > 0.99).all() and (masks[0, 0, :4] > 0.99).all()


def test_objectness_separates_background_object_and_empty():
    cfg = DetectorConfig()
    masks = _scene()
    scores = objectness(masks, hard_regions(masks, 0.5), cfg)[0]
    assert scores[0] == 0.0          # covers the whole image and border: background
    assert scores[1] > 0.8           # compact, decisive object
    assert scores[2] == 0.0          # empty


def test_objectness_rejects_full_height_pillar():
    cfg = DetectorConfig()
    labels = torch.zeros(64, 64, dtype=torch.long)
    labels[:, 20:34] = 1  # narrow full-height strip: small area and border share, but spans the height
    masks = torch.nn.functional.one_hot(labels, 2).permute(2, 0, 1).float().unsqueeze(0)
    assert objectness(masks, hard_regions(masks, 0.5), cfg)[0, 1] == 0.0


def test_median_depth_ignores_invalid_pixels():
    regions = torch.zeros(1, 2, 4, 4, dtype=torch.bool)
    regions[0, 0, :2] = True
    depth = torch.tensor([[1.0, 2.0, 3.0, float("nan")], [0.0, 2.0, 2.0, 9.0], [5.0] * 4, [5.0] * 4])[None]
    med = masked_median_depth(depth, regions)[0]
    assert med[0].item() == 2.0      # of 1, 2, 3, 2, 2, 9 (NaN and 0 dropped)
    assert torch.isnan(med[1])       # empty region


def test_embeddings_are_unit_and_mask_pooled():
    masks = torch.zeros(1, 2, 4, 4)
    masks[0, 0, :, :2] = 1
    masks[0, 1, :, 2:] = 1
    feats = torch.zeros(1, 4, 2)  # a 2x2 grid: left column [1, 0], right column [0, 1]
    feats[0, [0, 2], 0] = 1
    feats[0, [1, 3], 1] = 1
    emb = pooled_embeddings(masks, feats, grid=2)
    torch.testing.assert_close(emb[0], torch.eye(2))


def test_run_head_outputs():
    cfg = DetectorConfig()
    alpha = torch.log(_scene(40, 60))
    out = run_head(alpha, torch.randn(1, 16, 8), 4, 40, 60, cfg, depth=torch.full((1, 40, 60), 4.0))
    assert out["boxes"][0, 1].tolist() == [20, 10, 26, 14]
    assert out["areas"][0, 1].item() == 24
    torch.testing.assert_close(out["centroids"][0, 1], torch.tensor([23.0, 12.0]))
    assert out["depths"][0, 1].item() == 4.0


def test_ari_known_values():
    assert adjusted_rand_index([0, 0, 1, 1], [5, 5, 3, 3]) == 1.0      # permutation invariant
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(0.5714285714)  # sklearn docs
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert adjusted_rand_index([1, 1, 1], [2, 2, 2]) == 1.0


def test_fg_ari_uses_foreground_only():
    gt = np.zeros((4, 4), np.uint16)
    gt[0, :2], gt[3, 2:] = 1, 2
    masks = np.zeros((3, 4, 4))
    masks[0] = 1  # background slot everywhere ...
    masks[0, 0, :2], masks[1, 0, :2] = 0, 1
    masks[0, 3, 2:], masks[2, 3, 2:] = 0, 1
    assert fg_ari(gt, masks) == 1.0
    masks[1, 3, 2], masks[2, 3, 2] = 1, 0  # one pixel of object 2 goes to object 1's slot
    assert fg_ari(gt, masks) < 1.0
    assert fg_ari(np.zeros((4, 4), np.uint16), masks) is None


def test_match_boxes_counts():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], float)
    vis = np.array([1.0, 0.9, 0.2])
    det = np.array([[1, 1, 10, 10], [40, 40, 50, 50], [60, 60, 70, 70]], float)
    c = match_boxes(det, gt, vis)
    assert c == {"gt": 2, "gt_found": 1, "det": 2, "det_true": 1}  # det on the 20%-visible object ignored
    assert match_boxes(np.zeros((0, 4)), gt, vis) == {"gt": 2, "gt_found": 0, "det": 0, "det_true": 0}
    assert match_boxes(det, np.zeros((0, 4)), np.zeros(0)) == {"gt": 0, "gt_found": 0, "det": 3, "det_true": 0}


def test_median_depth_matches_nanmedian_on_random_regions():
    torch.manual_seed(0)
    for threshold in (0.0, 0.3):
        masks = torch.rand(2, 5, 17, 19).softmax(1)
        regions = hard_regions(masks, threshold)
        depth = torch.rand(2, 17, 19) * 10
        depth[0, :3] = float("nan")
        depth[1, 5:9] = 0.0
        valid = torch.isfinite(depth) & (depth > 0)
        ref = torch.where(regions, torch.where(valid, depth, torch.nan).unsqueeze(1), torch.nan).flatten(2)
        torch.testing.assert_close(masked_median_depth(depth, regions), ref.nanmedian(-1).values, equal_nan=True)


def test_split_components_separates_two_blobs_of_one_slot():
    from occtrack_ros.models.detector.head import split_components

    masks = np.zeros((2, 10, 10), np.float32)
    masks[0] = 1.0
    masks[0, 1:3, 1:3], masks[1, 1:3, 1:3] = 0.0, 0.9   # slot 1 owns two separate squares
    masks[0, 6:9, 6:9], masks[1, 6:9, 6:9] = 0.0, 0.8
    regions = (masks == masks.max(0, keepdims=True)) & (masks >= 0.5)
    comp_masks, comp_regions, labels = split_components(masks, regions)
    assert comp_regions.shape[0] == 3                    # background + two squares
    sizes = sorted(int(r.sum()) for r in comp_regions)
    assert sizes == [4, 9, 100 - 13]
    assert len(np.unique(labels[1:3, 1:3])) == 1 and labels[1, 1] != labels[7, 7]
    assert comp_masks[labels[7, 7], 7, 7] == pytest.approx(0.8)


def test_objectness_min_fill_rejects_ragged_texture_but_keeps_compact_shapes():
    labels = torch.zeros(64, 64, dtype=torch.long)
    labels[10:20, 10:20] = 1                                       # solid square: fill 1.0
    for y in range(10):                                            # triangle: fill about 0.5
        labels[40 + y, 10 + (9 - y) // 2:10 + 10 - (9 - y) // 2] = 2
    ys, xs = np.mgrid[0:12, 0:12]
    ragged = torch.from_numpy((ys + xs) % 3 == 0)                # diagonal speckle, fill 1/3
    labels[30:42, 40:52][ragged] = 3
    masks = torch.nn.functional.one_hot(labels, 4).permute(2, 0, 1).float().unsqueeze(0)
    regions = hard_regions(masks, 0.5)
    boxes = boxes_from_regions(regions)
    fill = regions.sum((2, 3)).float() / (boxes[..., 2:] - boxes[..., :2]).prod(-1)
    assert fill[0, 3] < 0.4 < 0.45 < fill[0, 2]                    # the test scene is what it claims
    plain = objectness(masks, regions, DetectorConfig())[0]
    strict = objectness(masks, regions, DetectorConfig(min_fill=0.45))[0]
    assert plain[3] > 0.5                                          # without the prior the speckle passes
    assert strict[3] == 0.0
    assert strict[1] == pytest.approx(plain[1]) and strict[2] == pytest.approx(plain[2])


def test_split_components_gives_rim_pixels_to_their_slots_nearest_component():
    from occtrack_ros.models.detector.head import split_components

    masks = np.zeros((3, 12, 12), np.float32)
    masks[0] = 1.0
    masks[0, 1:5, 1:5], masks[1, 1:5, 1:5] = 0.1, 0.9      # slot 1: two squares ...
    masks[0, 7:11, 7:11], masks[1, 7:11, 7:11] = 0.1, 0.9
    for rim in ((0, slice(1, 5)), (11, slice(7, 11))):      # ... each with a faint rim: argmax, below 0.5
        masks[(0, *rim)], masks[(1, *rim)], masks[(2, *rim)] = 0.3, 0.45, 0.25
    regions = (masks == masks.max(0, keepdims=True)) & (masks >= 0.5)
    _, comp_regions, labels = split_components(masks, regions)
    top, bottom = labels[2, 2], labels[8, 8]
    assert top != bottom
    assert (labels[0, 1:5] == top).all() and (labels[11, 7:11] == bottom).all()
    assert not comp_regions[:, 0, 1:5].any()               # the rim is labelled, not part of a box


def _split_object_scene():
    """A 6x6 magenta object with a striped pattern that slots 1 and 2 share row by row, a touching 4x4 orange
    object (slot 3), and the grey background (slot 0). Returns masks (4, 16, 16), regions and the image."""
    h = w = 16
    owner = np.zeros((h, w), np.int64)
    ys, xs = np.mgrid[0:6, 0:6]
    owner[4:10, 4:10] = np.where(ys % 2 == 0, 1, 2)             # alternate rows: six 6x1 parts
    owner[4:8, 10:14] = 3                                        # touches the checker's right edge
    masks = np.full((4, h, w), 0.02, np.float32)
    np.put_along_axis(masks, owner[None], 0.94, axis=0)
    image = np.tile(np.array([0.45, 0.45, 0.45], np.float32), (h, w, 1))
    magenta = np.array([0.95, 0.14, 0.63], np.float32)
    image[4:10, 4:10] = magenta * np.where(ys % 2 == 0, 1.0, 0.88)[..., None]   # brightness pattern
    image[4:8, 10:14] = [0.95, 0.63, 0.14]
    regions = (masks == masks.max(0, keepdims=True)) & (masks >= 0.5)
    return masks, regions, image


def test_touching_parts_of_one_colour_from_two_slots_are_one_object():
    from occtrack_ros.models.detector.head import merge_same_colour_parts, split_components

    masks, regions, image = _split_object_scene()
    comp_masks, comp_regions, labels = split_components(masks, regions, max_parts=1000)
    assert sorted(comp_regions.sum(axis=(1, 2)))[:7] == [6] * 6 + [16]   # the object is six rows
    merged_m, merged_r, merged_l = merge_same_colour_parts(comp_masks, comp_regions, labels, image, 0.05, 40)
    areas = sorted(int(a) for a in merged_r.sum(axis=(1, 2)))
    assert areas == [16, 36, 16 * 16 - 52]                      # orange, the whole object, background
    whole = merged_l[4, 4]
    assert (merged_l[4:10, 4:10] == whole).all() and merged_r[whole][4:10, 4:10].all()
    assert merged_l[5, 11] != whole                             # the touching orange object stays apart
    assert merged_m[whole][4:10, 4:10].min() == pytest.approx(0.94)
    assert set(np.unique(merged_l)) == set(range(len(merged_r)))   # labels follow the parts left
    with pytest.raises(ValueError, match="image must be"):
        merge_same_colour_parts(comp_masks, comp_regions, labels, image[:8], 0.05, 40)
    same = merge_same_colour_parts(comp_masks, comp_regions, labels, image, 0.0, 40)   # 0 = off
    assert all(a is b for a, b in zip(same, (comp_masks, comp_regions, labels)))


def test_frame_components_reports_an_object_two_slots_split_only_with_merge_chroma():
    from occtrack_ros.models.detector.detector import frame_components

    masks, _, image = _split_object_scene()
    feats = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    cfg = DetectorConfig(split_components=True, max_parts=1000, mask_threshold=0.5, score_threshold=0.4,
                         min_area_frac=0.01, max_area_frac=0.3, max_extent_frac=0.6)
    plain, _ = frame_components(masks, feats, 4, cfg, image=image)
    merged, _ = frame_components(masks, feats, 4, cfg.replace(merge_chroma=0.05), image=image)
    no_image, _ = frame_components(masks, feats, 4, cfg.replace(merge_chroma=0.05))
    whole = np.array([4, 4, 10, 10], np.float32)
    assert not any(np.allclose(b, whole) for b in plain.boxes)      # six 6x1 boxes instead
    assert any(np.allclose(b, whole) for b in merged.boxes)
    assert any(np.allclose(b, [10, 4, 14, 8]) for b in merged.boxes)   # the orange object, as before
    assert len(no_image) == len(plain)


def test_region_colours_are_the_chromaticity_of_the_regions_mean_colour():
    from occtrack_ros.models.detector.head import region_colours

    image = np.zeros((8, 8, 3), np.uint8)
    image[:, :4] = [200, 50, 50]
    image[:4, :4] = [100, 25, 25]                  # the same red in shadow
    image[:, 4:] = [30, 60, 90]
    regions = np.zeros((3, 8, 8), bool)
    regions[0, :, :4] = True
    regions[1, :, 4:] = True                       # region 2 is empty
    got = region_colours(regions, image)
    np.testing.assert_allclose(got[0], [200 / 300, 50 / 300, 50 / 300], atol=1e-6)
    np.testing.assert_allclose(got[1], [30 / 180, 60 / 180, 90 / 180], atol=1e-6)
    np.testing.assert_allclose(got[2], [1 / 3, 1 / 3, 1 / 3], atol=1e-6)
    assert region_colours(np.zeros((0, 8, 8), bool), image).shape == (0, 3)
    with pytest.raises(ValueError, match="same size"):
        region_colours(regions[:, :4], image)
