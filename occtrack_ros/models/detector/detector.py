"""ObjectDetector: the stateful, batched inference wrapper that turns Frames into Detections."""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from occtrack_ros.models.detector.checkpoint import DEFAULT_WEIGHTS, load_model
from occtrack_ros.models.detector.config import DetectorConfig
from occtrack_ros.models.detector.head import (
    describe_regions,
    masks_from_logits,
    merge_same_colour_parts,
    region_colours,
    run_head,
    split_components,
)
from occtrack_ros.models.detector.model import SlotVideoModel
from occtrack_ros.types import Detections, Frame


class ObjectDetector:
    """Slot-attention detector over a video stream.

    ``detect(frames)`` takes consecutive frames of ONE stream (a batch of 1..T frames); slots are
    carried from each frame to the next, also across calls, until ``reset()`` (with
    ``cfg.carry_slots``; otherwise every frame starts from the learned queries). The backbone,
    decoder and head run batched over the T frames; only carried slot binding is sequential. Results are
    copied to the host once per call (no per-frame synchronisation), so the same code serves CPU
    and CUDA (with autocast in ``cfg.amp`` precision on CUDA).
    """

    def __init__(self, model: SlotVideoModel, cfg: DetectorConfig | None = None, return_masks: bool = True) -> None:
        self.cfg = cfg or model.cfg
        self.device = torch.device(self.cfg.device)
        self.model = model.to(self.device).eval()
        self.return_masks = return_masks
        self._slots: torch.Tensor | None = None
        self.timings: dict[str, float] = {}

    def reset(self) -> None:
        """Forget the slots of the previous frame (call between sequences)."""
        self._slots = None

    def _autocast(self):
        if self.device.type != "cuda" or self.cfg.amp == "none":
            return nullcontext()
        dtype = torch.bfloat16 if self.cfg.amp == "bf16" else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """(T, H, W, 3) uint8 on the device -> (T, 3, S, S) float in [0, 1] at the model's input size."""
        s = self.cfg.image_size
        x = images.permute(0, 3, 1, 2).float() / 255.0                      # (T, 3, H, W)
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
        return x

    @torch.inference_mode()
    def forward_tensors(self, images: torch.Tensor, depth: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """(T, H, W, 3) uint8 (+ (T, H, W) depth) on the device -> per-slot tensors (T, K, ...) on the device."""
        assert images.dim() == 4 and images.shape[-1] == 3, f"images must be (T, H, W, 3), got {tuple(images.shape)}"
        x = self.preprocess(images)
        with self._autocast():
            feats = self.model.encode(x)                                     # (T, N, D)
        out = head_from_tokens(self.model, self.cfg, feats, images.permute(0, 3, 1, 2).float() / 255.0, depth,
                               self._slots, self._autocast)
        if self.cfg.carry_slots:
            self._slots = out["slots"][-1:].to(feats.dtype)
        return out

    def detect(self, frames: list[Frame]) -> list[Detections]:
        """Consecutive frames of one stream -> one Detections per frame (score >= cfg.score_threshold)."""
        return self.detect_all(frames)[0] if frames else []

    def detect_all(self, frames: list[Frame]) -> tuple[list[Detections], np.ndarray]:
        """As :meth:`detect`, plus the instance segmentation (T, H, W) int32 (every pixel labelled).

        Labels are slots, or with ``cfg.split_components`` connected components of slot regions
        (pixels outside every region keep their argmax slot as label).
        """
        shapes = {f.image.shape for f in frames}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3 or next(iter(shapes))[2] != 3:
            raise ValueError(f"detect: frames must share one (H, W, 3) image shape, got {sorted(shapes)}")
        if any(f.image.dtype != np.uint8 for f in frames):
            raise ValueError(f"detect: images must be uint8 RGB, got {sorted({str(f.image.dtype) for f in frames})}")
        images = torch.from_numpy(np.stack([f.image for f in frames])).to(self.device, non_blocking=True)
        depth = None
        if all(f.depth is not None for f in frames):
            depth = torch.from_numpy(np.stack([np.asarray(f.depth, np.float32) for f in frames])).to(self.device)
        out = self.forward_tensors(images, depth)
        keys = ["boxes", "scores", "areas", "centroids", "embeddings", "masks"]
        keys += ["depths"] if depth is not None else []
        if self.cfg.split_components:
            keys += ["feats"]
        host = {k: out[k].cpu().numpy() for k in keys}                      # the one device->host copy
        if self.cfg.split_components:
            return self._components(host, frames, depth is not None)
        result = []
        masks = host["masks"]                                               # (T, K, H, W)
        seg = masks.argmax(axis=1)                                          # (T, H, W): the label image below
        regions = (np.arange(masks.shape[1])[None, :, None, None] == seg[:, None]) & (masks >= self.cfg.mask_threshold)
        for i in range(len(frames)):
            keep = host["scores"][i] >= self.cfg.score_threshold
            result.append(Detections(
                boxes=host["boxes"][i][keep], scores=host["scores"][i][keep],
                embeddings=host["embeddings"][i][keep].astype(np.float32),
                centroids=host["centroids"][i][keep].astype(np.float32),
                areas=host["areas"][i][keep].astype(np.float32),
                depths=host["depths"][i][keep].astype(np.float32) if depth is not None else None,
                masks=host["masks"][i][keep].astype(np.float32) if self.return_masks else None,
                colours=(region_colours(regions[i][keep], frames[i].image)
                         if regions.shape[2:] == frames[i].image.shape[:2] else None),
            ))
        return result, seg.astype(np.int32)

    def _components(self, host: dict, frames: list[Frame], with_depth: bool) -> tuple[list[Detections], np.ndarray]:
        """Host-side split of slot regions into connected components, one Detections per frame."""
        result, segs = [], []
        for i, frame in enumerate(frames):
            det, labels = frame_components(host["masks"][i], host["feats"][i], self.model.feature_grid, self.cfg,
                                           frame.depth if with_depth else None, self.return_masks, frame.image)
            result.append(det)
            segs.append(labels)
        return result, np.stack(segs)


def head_from_tokens(model: SlotVideoModel, cfg: DetectorConfig, feats: torch.Tensor, images: torch.Tensor,
                     depth: torch.Tensor | None = None, slots: torch.Tensor | None = None,
                     autocast=nullcontext) -> dict[str, torch.Tensor]:
    """Encoder tokens (T, N, D) of consecutive frames -> the head's per-slot tensors, as at inference.

    Slots are bound fresh for every frame, or carried from ``slots`` (1, K, Ds) frame to frame with
    ``cfg.carry_slots``. ``images`` (T, 3, H, W) in [0, 1] set the masks' size and sharpen them
    (``cfg.refine_sigma``). The joint fine-tuning stage calls this too, so it detects what the
    detector detects.
    """
    h, w = images.shape[-2], images.shape[-1]
    all_slots, alpha, per_slot = bind_and_decode(model, cfg, feats, slots, autocast)
    out = run_head(alpha.float(), feats.float(), model.feature_grid, h, w, cfg, depth,
                   *_sharpening_inputs(cfg, per_slot, images))
    out["slots"] = all_slots.float()
    out["feats"] = feats.float()
    return out


def bind_and_decode(model: SlotVideoModel, cfg: DetectorConfig, feats: torch.Tensor,
                    slots: torch.Tensor | None = None, autocast=nullcontext,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens (T, N, D) -> slots (T, K, Ds), alpha logits (T, K, h, w), per-slot decoder output, as at inference.

    Slots are bound fresh for every frame, or carried from ``slots`` (1, K, Ds) with ``cfg.carry_slots``.
    Differentiable: the joint fine-tuning stage distils these masks.
    """
    with autocast():
        if cfg.carry_slots:
            slots_t, attn_t = [], []
            for i in range(feats.shape[0]):
                slots, attn = model.bind(feats[i:i + 1], slots)              # (1, K, Ds), (1, K, N)
                slots_t.append(slots)
                attn_t.append(attn)
            all_slots, all_attn = torch.cat(slots_t, dim=0), torch.cat(attn_t, dim=0)  # (T, K, Ds), (T, K, N)
        else:                                                                # fresh slots: all frames at once
            all_slots, all_attn = model.bind(feats, None)
        _, alpha, per_slot = model.decode(all_slots, all_attn)               # (T, K, h, w), (T, K, ...)
    return all_slots, alpha, per_slot


def inference_masks(model: SlotVideoModel, cfg: DetectorConfig, feats: torch.Tensor,
                    images: torch.Tensor) -> torch.Tensor:
    """Tokens (T, N, D) and frames (T, 3, H, W) in [0, 1] -> the soft masks (T, K, H, W) the head reads.

    The masks :func:`head_from_tokens` scores and boxes (sharpened by ``cfg.refine_sigma``), with
    gradients: everything the detector reports (boxes, scores, FG-ARI) is a function of them.
    """
    _, alpha, per_slot = bind_and_decode(model, cfg, feats)
    return masks_from_logits(alpha.float(), images.shape[-2], images.shape[-1],
                             *_sharpening_inputs(cfg, per_slot, images), cfg.refine_sigma)


def _sharpening_inputs(cfg: DetectorConfig, per_slot: torch.Tensor, images: torch.Tensor):
    """The per-slot RGB and the frames that sharpen the masks (``cfg.refine_sigma``), or (None, None)."""
    if cfg.refine_sigma > 0 and cfg.decoder == "broadcast":
        return per_slot, images.float()
    return None, None


def frame_components(masks: np.ndarray, feats: np.ndarray, grid: int, cfg: DetectorConfig,
                     depth: np.ndarray | None = None, return_masks: bool = True,
                     image: np.ndarray | None = None) -> tuple[Detections, np.ndarray]:
    """One frame's slot masks (K, H, W) and tokens (N, C) -> its Detections and label image (H, W).

    A detection is a connected part of a slot region with objectness >= ``cfg.score_threshold``
    (see ``split_components`` for the label image). With the frame's ``image`` (H, W, 3) and
    ``cfg.merge_chroma`` > 0, touching parts of one colour are one part first (``merge_same_colour_parts``).
    """
    winner = np.arange(len(masks))[:, None, None] == masks.argmax(axis=0)[None]        # (K, H, W), no ties
    regions = winner & (masks >= cfg.mask_threshold)
    min_pixels = max(1, int(cfg.min_area_frac * masks.shape[1] * masks.shape[2]))
    comp_masks, comp_regions, labels = split_components(masks, regions, min_pixels, cfg.max_parts)
    if cfg.merge_chroma > 0 and image is not None:
        comp_masks, comp_regions, labels = merge_same_colour_parts(
            comp_masks, comp_regions, labels, image, cfg.merge_chroma,
            cfg.max_area_frac * masks.shape[1] * masks.shape[2])
    d = describe_regions(torch.from_numpy(comp_masks)[None], torch.from_numpy(comp_regions)[None],
                         torch.from_numpy(feats)[None], grid, cfg,
                         None if depth is None else torch.from_numpy(np.asarray(depth, np.float32))[None])
    d = {k: v[0].numpy() for k, v in d.items()}
    keep = d["scores"] >= cfg.score_threshold
    return Detections(
        boxes=d["boxes"][keep], scores=d["scores"][keep], embeddings=d["embeddings"][keep],
        centroids=d["centroids"][keep], areas=d["areas"][keep],
        depths=d["depths"][keep] if depth is not None else None,
        masks=d["masks"][keep] if return_masks else None,
        colours=region_colours(comp_regions[keep], image) if image is not None else None,
    ), labels


def load_detector(path: str | Path | None = None, device: str = "cpu", **overrides) -> ObjectDetector:
    """The detector stored at ``path``; None = the shipped weights for the ``occlusion`` preset.

    ``overrides`` change runtime fields of the stored config (score_threshold, amp, backbone_path...).
    """
    if path is None:
        path = DEFAULT_WEIGHTS["occlusion"]
    return_masks = overrides.pop("return_masks", True)
    model, _ = load_model(path, overrides={"device": device, **overrides})
    return ObjectDetector(model, return_masks=return_masks)
