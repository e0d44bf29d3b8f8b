"""Training samples for self-supervised depth/pose: a target frame and two temporal neighbours."""
from __future__ import annotations

import numpy as np
import torch

from occtrack_ros.geometry.camera import intrinsics_matrix


class TripletSampler:
    """Holds sequences in memory as uint8 and draws (target, [t-k, t+k], K) batches.

    ``k`` is drawn per sample in 1..max_stride: small strides keep occlusion changes small, large
    ones give enough parallax for far surfaces. ``size = (h, w)`` resizes frames (and K) on loading.
    Frames flip horizontally with probability 0.5 (all three together, K mirrored).
    """

    def __init__(self, sequences, max_stride: int = 6, flip: bool = True, size: tuple[int, int] | None = None):
        self.images: list[torch.Tensor] = []
        self.K: list[torch.Tensor] = []
        if max_stride < 1:
            raise ValueError(f"max_stride must be >= 1, got {max_stride}")
        for seq in sequences:
            if len(seq) < 2 * max_stride + 1:
                raise ValueError(f"sequence {seq.name} has {len(seq)} frames, fewer than 2*max_stride+1 = "
                                 f"{2 * max_stride + 1}")
            imgs = np.stack([self._resize(seq.image(i), size) for i in range(len(seq))])  # (N, H, W, 3) uint8
            self.images.append(torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous())  # (N, 3, H, W)
            h, w = imgs.shape[1:3]
            self.K.append(torch.tensor(intrinsics_matrix(seq.intrinsics, h, w), dtype=torch.float32))
        if not self.images:
            raise ValueError("TripletSampler needs at least one sequence")
        sizes = {tuple(x.shape[-2:]) for x in self.images}
        if len(sizes) != 1:
            raise ValueError(f"all training sequences must share one image size, got {sorted(sizes)}")
        self.height, self.width = sizes.pop()
        self.max_stride = max_stride
        self.flip = flip

    @staticmethod
    def _resize(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        if size is None or image.shape[:2] == tuple(size):
            return image
        import cv2

        return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)

    def sample(self, batch_size: int, rng: np.random.Generator, device: str = "cpu"):
        """-> target (B, 3, H, W), sources [(B, 3, H, W)] * 2 in [0, 1], K (B, 3, 3)."""
        tgt, prev, nxt, Ks = [], [], [], []
        for _ in range(batch_size):
            s = int(rng.integers(len(self.images)))
            frames = self.images[s]
            k = int(rng.integers(1, self.max_stride + 1))
            t = int(rng.integers(k, len(frames) - k))
            trip = frames[[t, t - k, t + k]].float() / 255.0  # (3, 3, H, W)
            K = self.K[s].clone()
            if self.flip and rng.random() < 0.5:
                trip = trip.flip(-1)
                K[0, 2] = self.width - K[0, 2]
            tgt.append(trip[0])
            prev.append(trip[1])
            nxt.append(trip[2])
            Ks.append(K)
        return (torch.stack(tgt).to(device), [torch.stack(prev).to(device), torch.stack(nxt).to(device)],
                torch.stack(Ks).to(device))
