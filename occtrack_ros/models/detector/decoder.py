"""Per-slot decoders whose alpha logits, softmaxed over slots, are the segmentation masks.

- :class:`BroadcastDecoder` (spatial broadcast, Watters et al. 2019) reconstructs RGB: the CNN path.
- :class:`MLPDecoder` (DINOSAUR, Seitzer et al. 2023) reconstructs frozen ViT patch features.

Both return ``recon``, ``alpha_logits (B, K, h, w)`` (masks are ``alpha_logits.softmax(1)``) and the
per-slot reconstructions (RGB (B, K, 3, h, w) or features (B, K, N, F)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from occtrack_ros.models.detector.config import DetectorConfig
from occtrack_ros.models.detector.position import SoftPositionEmbed


class BroadcastDecoder(nn.Module):
    """Slot -> (RGB, alpha) image at ``decoder_size`` via a broadcast grid and transposed convolutions.

    With ``cfg.decoder_attn`` the slot's attention map over the tokens (the grouping slot attention
    already found) is concatenated as one more channel at the stage whose resolution matches the token
    grid, so the decoder refines that grouping instead of having to learn to place every shape from
    the slot vector alone. On our CPU budgets (about 10^3 steps) this is what makes objects separate;
    without it the plain decoder is the original Locatello et al. design.
    """

    def __init__(self, cfg: DetectorConfig, token_grid: int | None = None) -> None:
        super().__init__()
        c = cfg.decoder_channels
        self.init_size = cfg.decoder_init_size
        self.size = cfg.decoder_size
        self.pos = SoftPositionEmbed(cfg.slot_dim, self.init_size, self.init_size)
        self.token_grid = token_grid if cfg.decoder_attn else None
        self.inject_at = None   # stage index whose input gets the attention channel
        if self.token_grid is not None:
            sizes = [self.init_size * 2 ** i for i in range(cfg.decoder_upsamples + 1)]
            self.inject_at = sizes.index(self.token_grid) if self.token_grid in sizes else 0
        stages: list[nn.Module] = []
        in_ch = cfg.slot_dim
        for i in range(cfg.decoder_upsamples):
            # Width halves with each doubling of resolution (min 16): the full-resolution layers dominate
            # the cost, K times per frame, and only need to paint colour and alpha.
            out_ch = max(c >> i, min(c, 16))
            extra = int(self.inject_at == i)
            stages.append(nn.Sequential(nn.ConvTranspose2d(in_ch + extra, out_ch, 4, stride=2, padding=1),
                                        nn.ReLU(inplace=True)))
            in_ch = out_ch
        stages.append(nn.Conv2d(in_ch + int(self.inject_at == cfg.decoder_upsamples), 4, 3, padding=1))
        self.stages = nn.ModuleList(stages)
        self.detail = cfg.decoder_rgb_detail
        if self.detail > 0:
            self.colour = nn.Linear(cfg.slot_dim, 3)

    def _attn_map(self, attn: torch.Tensor, size: int) -> torch.Tensor:
        """(B, K, N) attention -> (B*K, 1, size, size)."""
        g = self.token_grid
        assert attn.shape[-1] == g * g, f"attention must cover {g}x{g} tokens, got {tuple(attn.shape)}"
        a = attn.reshape(-1, 1, g, g)                                                        # (B*K, 1, g, g)
        if g != size:
            a = F.interpolate(a, size=(size, size), mode="bilinear", align_corners=False)
        return a

    def forward(self, slots: torch.Tensor, attn: torch.Tensor | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Slots (B, K, D) [+ attention (B, K, N)] -> recon (B, 3, S, S), alpha (B, K, S, S), RGB (B, K, 3, S, S)."""
        b, k, d = slots.shape
        if self.token_grid is not None and attn is None:
            raise ValueError("this decoder was built with decoder_attn=True and needs the slot attention maps")
        x = slots.reshape(b * k, 1, 1, d).expand(-1, self.init_size, self.init_size, -1)  # (B*K, s, s, D)
        x = self.pos(x).permute(0, 3, 1, 2)                                                  # (B*K, D, s, s)
        for i, stage in enumerate(self.stages):
            if i == self.inject_at:
                x = torch.cat([x, self._attn_map(attn, x.shape[-1]).to(x.dtype)], dim=1)   # (B*K, C+1, r, r)
            x = stage(x)
        out = x.view(b, k, 4, self.size, self.size)                                          # (B, K, 4, S, S)
        rgb, alpha = out[:, :, :3], out[:, :, 3]                                             # (B,K,3,S,S), (B,K,S,S)
        if self.detail > 0:
            # appearance bottleneck: one colour per slot plus a bounded spatial variation, so a slot cannot
            # paint two differently coloured things and grouping by colour/shape is what lowers the loss
            base = torch.sigmoid(self.colour(slots)).view(b, k, 3, 1, 1)                     # (B, K, 3, 1, 1)
            rgb = base + self.detail * torch.tanh(rgb)
        if self.token_grid is not None:
            # residual on the log-attention: at initialisation the masks are the attention maps, and the
            # reconstruction loss trains the grouping directly from the first step
            prior = self._attn_map(attn, self.size).view(b, k, self.size, self.size)
            alpha = alpha + prior.clamp(min=1e-4).log().to(alpha.dtype)
        masks = alpha.softmax(dim=1)
        recon = (masks.unsqueeze(2) * rgb).sum(dim=1)                                        # (B, 3, S, S)
        return recon, alpha, rgb


class MLPDecoder(nn.Module):
    """Slot + learned token position -> (feature, alpha) per token; tokens form a (grid, grid) map."""

    def __init__(self, cfg: DetectorConfig, feature_dim: int, grid: int) -> None:
        super().__init__()
        h = cfg.decoder_hidden
        self.grid = grid
        self.feature_dim = feature_dim
        self.pos = nn.Parameter(torch.randn(1, 1, grid * grid, cfg.slot_dim) * 0.02)
        self.net = nn.Sequential(
            nn.Linear(cfg.slot_dim, h), nn.ReLU(inplace=True), nn.Linear(h, h), nn.ReLU(inplace=True),
            nn.Linear(h, h), nn.ReLU(inplace=True), nn.Linear(h, feature_dim + 1))

    def forward(self, slots: torch.Tensor, attn: torch.Tensor | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Slots (B, K, D) -> recon (B, G*G, F), alpha logits (B, K, G, G), features (B, K, G*G, F)."""
        b, k, _ = slots.shape
        out = self.net(slots.unsqueeze(2) + self.pos)                      # (B, K, N, F+1)
        feats, alpha = out[..., :-1], out[..., -1]                         # (B, K, N, F), (B, K, N)
        masks = alpha.softmax(dim=1)
        recon = (masks.unsqueeze(-1) * feats).sum(dim=1)                   # (B, N, F)
        return recon, alpha.view(b, k, self.grid, self.grid), feats
