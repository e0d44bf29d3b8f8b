"""DepthNet: a small U-Net (Monodepth2-style) predicting disparity at four scales.

Monodepth2 uses a ResNet-18 encoder at 640x192; our synthetic frames are 128x128 and training
runs on a shared CPU, so the encoder is five plain conv stages and the decoder mirrors it with
skip connections. Outputs are sigmoid disparities, converted to depth by ``disp_to_depth``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DepthNetConfig:
    enc_channels: tuple[int, ...] = (16, 24, 32, 64, 96)  # one stride-2 stage each: 1/2 ... 1/32
    dec_channels: tuple[int, ...] = (16, 16, 24, 32, 64)  # decoder width at 1/1 ... 1/16
    num_scales: int = 4          # disparity outputs at 1/1, 1/2, 1/4, 1/8 (losses use all)
    min_depth: float = 0.1       # depth of disparity 1 [scene units]; bounds the output range
    max_depth: float = 100.0     # depth of disparity 0; far background must lie below it
    mean_depth: float = 10.0     # each depth map is rescaled to this mean (0 = off), see to_depth


def disp_to_depth(disp: torch.Tensor, min_depth: float, max_depth: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Sigmoid output in [0, 1] -> (scaled disparity, depth), as Monodepth2: depth in [min, max]."""
    min_disp, max_disp = 1.0 / max_depth, 1.0 / min_depth
    scaled = min_disp + (max_disp - min_disp) * disp
    return scaled, 1.0 / scaled


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False, padding_mode="reflect"),
        nn.BatchNorm2d(cout),
        nn.ELU(inplace=True),
    )


class DepthNet(nn.Module):
    """RGB (B, 3, H, W) in [0, 1] -> list of disparities [(B, 1, H/2^s, W/2^s) for s in scales].

    H and W must be multiples of 32 (five stride-2 stages).
    """

    def __init__(self, config: DepthNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or DepthNetConfig()
        if len(cfg.enc_channels) != 5 or len(cfg.dec_channels) != 5:
            raise ValueError(f"DepthNetConfig: enc_channels and dec_channels need 5 entries, got "
                             f"{cfg.enc_channels} and {cfg.dec_channels}")
        if not 1 <= cfg.num_scales <= 4:
            raise ValueError(f"DepthNetConfig.num_scales must be in 1..4, got {cfg.num_scales}")
        enc, dec = cfg.enc_channels, cfg.dec_channels
        self.encoder = nn.ModuleList()
        cin = 3
        for c in enc:
            self.encoder.append(nn.Sequential(_conv(cin, c, 2), _conv(c, c)))
            cin = c
        # decoder level i works at 1/2^i; it fuses the upsampled coarser level with encoder level i-1
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        coarser = enc[4]
        for i in range(4, -1, -1):
            skip = enc[i - 1] if i > 0 else 0
            self.up.append(_conv(coarser, dec[i]))
            self.fuse.append(_conv(dec[i] + skip, dec[i]))
            coarser = dec[i]
        self.heads = nn.ModuleDict({str(s): nn.Conv2d(dec[s], 1, 3, 1, 1, padding_mode="reflect")
                                    for s in range(cfg.num_scales)})

    def to_depth(self, disp: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Sigmoid disparity (B, 1, h, w) -> depth (B, 1, H, W), upsampled to ``size`` if given.

        Monocular depth has no scale, and without a fixed one the photometric loss lets it drift
        until the sigmoid saturates at min_depth (measured: all depths within 0.1..0.36, where the
        gradients that shape relative depth vanish). Rescaling every map to ``mean_depth`` (Wang et al.,
        CVPR 2018) removes that direction; the pose net's translation carries the scale instead.
        """
        if size is not None and tuple(disp.shape[-2:]) != tuple(size):
            disp = F.interpolate(disp, size=size, mode="bilinear", align_corners=False)
        depth = disp_to_depth(disp, self.config.min_depth, self.config.max_depth)[1]
        if self.config.mean_depth > 0:
            depth = depth * (self.config.mean_depth / depth.mean(dim=(2, 3), keepdim=True))
        return depth

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        assert image.dim() == 4 and image.shape[1] == 3, f"image must be (B, 3, H, W), got {tuple(image.shape)}"
        assert image.shape[2] % 32 == 0 and image.shape[3] % 32 == 0, \
            f"DepthNet needs H, W multiples of 32, got {tuple(image.shape[2:])}"
        x = (image - 0.45) / 0.225
        feats = []
        for stage in self.encoder:
            x = stage(x)
            feats.append(x)  # feats[k]: (B, enc[k], H/2^(k+1), W/2^(k+1))
        x = feats[4]
        disps: dict[int, torch.Tensor] = {}
        for j, i in enumerate(range(4, -1, -1)):
            x = F.interpolate(self.up[j](x), scale_factor=2.0, mode="nearest")  # now at 1/2^i
            if i > 0:
                x = torch.cat([x, feats[i - 1]], dim=1)
            x = self.fuse[j](x)
            if str(i) in self.heads:
                disps[i] = torch.sigmoid(self.heads[str(i)](x))  # (B, 1, H/2^i, W/2^i)
        return [disps[s] for s in range(self.config.num_scales)]
