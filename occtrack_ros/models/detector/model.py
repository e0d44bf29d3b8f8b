"""SlotVideoModel: backbone -> slot attention (carried across frames by a predictor) -> per-slot decoder.

This is the trainable part of the detector; :mod:`.head` turns its masks into detections.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from occtrack_ros.models.detector.backbones import build_backbone
from occtrack_ros.models.detector.config import DetectorConfig
from occtrack_ros.models.detector.decoder import BroadcastDecoder, MLPDecoder
from occtrack_ros.models.detector.slot_attention import SlotAttention, SlotInit, SlotPredictor


class SlotVideoModel(nn.Module):
    """Object-centric autoencoder over frames or clips; the only learned part of the detector."""

    def __init__(self, cfg: DetectorConfig, random_init_backbone: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = build_backbone(cfg, random_init=random_init_backbone)
        self.slot_init = SlotInit(cfg)
        self.slot_attention = SlotAttention(self.backbone.dim, cfg.slot_dim, cfg.slot_mlp_hidden)
        self.predictor = SlotPredictor(cfg) if cfg.predictor != "none" else None
        if cfg.decoder == "broadcast":
            self.decoder: nn.Module = BroadcastDecoder(cfg, self.backbone.grid)
        else:
            self.decoder = MLPDecoder(cfg, self.backbone.dim, self.backbone.grid)

    @property
    def feature_grid(self) -> int:
        return self.backbone.grid

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1] -> backbone tokens (B, N, D)."""
        return self.backbone(images)

    def bind(self, feats: torch.Tensor, prev_slots: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, N, D) and the previous frame's slots (B, K, Ds) or None -> slots (B, K, Ds), attn (B, K, N)."""
        bilevel = self.cfg.slot_init == "learned"
        if prev_slots is None or self.predictor is None:
            init = self.slot_init(feats.shape[0])
            return self.slot_attention(feats, init, self.cfg.slot_iters, bilevel=bilevel)
        init = self.predictor(prev_slots)
        return self.slot_attention(feats, init, self.cfg.slot_iters_video)

    def decode(self, slots: torch.Tensor, attn: torch.Tensor | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Slots (B, K, Ds) [+ attention (B, K, N)] -> recon (B, 3, s, s) or (B, N, F), alpha (B, K, h, w), per slot."""
        return self.decoder(slots, attn)

    def target(self, images: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """What the decoder reconstructs: RGB at the decoder's size (CNN) or the frozen tokens (ViT)."""
        if self.cfg.decoder == "mlp":
            return feats.detach()
        size = self.cfg.decoder_size
        if images.shape[-1] == size:
            return images
        return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)

    def forward(self, clip: torch.Tensor, prev_slots: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Clip (B, T, 3, S, S) in [0, 1] -> recon/target (B, T, ...), alpha (B, T, K, h, w), slots (B, T, K, Ds).

        Frames are encoded and decoded as one batch; only slot binding runs frame by frame.
        """
        assert clip.dim() == 5, f"SlotVideoModel expects a clip (B, T, 3, S, S), got {tuple(clip.shape)}"
        b, t = clip.shape[:2]
        flat = clip.flatten(0, 1)                                            # (B*T, 3, S, S)
        feats = self.encode(flat)                                            # (B*T, N, D)
        feats_bt = feats.view(b, t, *feats.shape[1:])                        # (B, T, N, D)
        slots_t, attn_t = [], []
        slots = prev_slots
        for i in range(t):
            slots, attn = self.bind(feats_bt[:, i], slots)
            slots_t.append(slots)
            attn_t.append(attn)
        slots_all = torch.stack(slots_t, dim=1)                              # (B, T, K, Ds)
        attn_all = torch.stack(attn_t, dim=1)                                # (B, T, K, N)
        recon, alpha, per_slot = self.decode(slots_all.flatten(0, 1), attn_all.flatten(0, 1))
        target = self.target(flat, feats)
        return {
            "recon": recon.view(b, t, *recon.shape[1:]),
            "target": target.view(b, t, *target.shape[1:]),
            "alpha": alpha.view(b, t, *alpha.shape[1:]),
            "per_slot": per_slot.view(b, t, *per_slot.shape[1:]),
            "slots": slots_all,
            "attn": attn_all,
            "feats": feats_bt,
        }

    def loss(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Reconstruction error (pixels for the CNN, features for the ViT); no labels anywhere.

        With ``cfg.loss_focus`` = g > 0 each pixel's squared error is weighted by (error / mean error)^g
        (weights detached, clipped at 100): small objects that differ strongly from their surroundings
        outweigh the texture of large background surfaces, which would otherwise attract the slots.
        """
        diff = out["recon"].float() - out["target"].float()
        if self.cfg.decoder == "broadcast":
            # |d|^2 = 3 dY^2 + |d - dY|^2 with Y the channel mean: brightness and chroma parts, the first
            # weighted by loss_luma_weight (1 = plain RGB squared error)
            luma = diff.mean(dim=-3, keepdim=True)
            err = ((diff - luma).pow(2).sum(dim=-3) + 3.0 * self.cfg.loss_luma_weight * luma.squeeze(-3).pow(2)) / 3.0
        else:
            err = diff.pow(2).mean(dim=-1)                                   # per token
        if self.cfg.loss_focus <= 0:
            return err.mean()
        weight = (err / err.mean().clamp(min=1e-12)).detach().pow(self.cfg.loss_focus).clamp(max=100.0)
        return (weight * err).mean()
