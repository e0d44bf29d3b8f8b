"""Slot Attention (Locatello et al. 2020) with learned-query init (BO-QSA) and a SAVi slot predictor."""
from __future__ import annotations

import torch
from torch import nn

from occtrack_ros.models.detector.config import DetectorConfig


class SlotAttention(nn.Module):
    """Iterative competitive attention of K slots over N input tokens (softmax over slots)."""

    def __init__(self, input_dim: int, slot_dim: int, mlp_hidden: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.scale = slot_dim ** -0.5
        self.eps = eps
        self.norm_inputs = nn.LayerNorm(input_dim)
        self.norm_slots = nn.LayerNorm(slot_dim)
        self.norm_mlp = nn.LayerNorm(slot_dim)
        self.to_q = nn.Linear(slot_dim, slot_dim, bias=False)
        self.to_k = nn.Linear(input_dim, slot_dim, bias=False)
        self.to_v = nn.Linear(input_dim, slot_dim, bias=False)
        self.gru = nn.GRUCell(slot_dim, slot_dim)
        self.mlp = nn.Sequential(nn.Linear(slot_dim, mlp_hidden), nn.ReLU(inplace=True),
                                 nn.Linear(mlp_hidden, slot_dim))

    def step(self, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One refinement: slots (B, K, D), k/v (B, N, D) -> new slots (B, K, D), attention (B, K, N)."""
        b, n_slots, d = slots.shape
        q = self.to_q(self.norm_slots(slots))                                  # (B, K, D)
        logits = torch.einsum("bkd,bnd->bkn", q, k) * self.scale              # (B, K, N)
        attn = logits.softmax(dim=1)                                           # slots compete for each token
        weights = attn + self.eps
        weights = weights / weights.sum(dim=-1, keepdim=True)                  # weighted mean over tokens
        updates = torch.einsum("bkn,bnd->bkd", weights, v)                     # (B, K, D)
        slots = self.gru(updates.reshape(b * n_slots, d), slots.reshape(b * n_slots, d)).view(b, n_slots, d)
        slots = slots + self.mlp(self.norm_mlp(slots))
        return slots, attn

    def forward(self, inputs: torch.Tensor, slots: torch.Tensor, iters: int,
                bilevel: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (B, N, Din), initial slots (B, K, D) -> slots (B, K, D), last attention (B, K, N).

        ``bilevel`` (BO-QSA, Jia et al. 2023): iterate without gradient, then take one last step from
        ``slots.detach() + init - init.detach()`` so learned queries get a straight-through gradient;
        this makes learned-query initialisation train stably and fast.
        """
        assert inputs.dim() == 3 and slots.dim() == 3 and inputs.shape[0] == slots.shape[0], (
            f"SlotAttention: inputs (B, N, D) and slots (B, K, D) expected, got {tuple(inputs.shape)}, "
            f"{tuple(slots.shape)}")
        inputs = self.norm_inputs(inputs)
        k = self.to_k(inputs)                                                  # (B, N, D)
        v = self.to_v(inputs)                                                  # (B, N, D)
        init = slots
        attn = None
        for i in range(iters):
            if bilevel and i == iters - 1:
                slots = slots.detach() + init - init.detach()
            if bilevel and i < iters - 1:
                with torch.no_grad():
                    slots, attn = self.step(slots, k, v)
            else:
                slots, attn = self.step(slots, k, v)
        return slots, attn


class SlotInit(nn.Module):
    """Initial slots of a clip: K learned queries, or samples of a learned Gaussian."""

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        self.mode = cfg.slot_init
        self.num_slots = cfg.num_slots
        if self.mode == "learned":
            self.queries = nn.Parameter(torch.randn(cfg.num_slots, cfg.slot_dim) * cfg.slot_dim ** -0.5)
        else:
            self.mu = nn.Parameter(torch.randn(1, 1, cfg.slot_dim) * cfg.slot_dim ** -0.5)
            self.log_sigma = nn.Parameter(torch.full((1, 1, cfg.slot_dim), -1.0))

    def forward(self, batch: int) -> torch.Tensor:
        """-> (B, K, D)."""
        if self.mode == "learned":
            return self.queries.unsqueeze(0).expand(batch, -1, -1)
        noise = torch.randn(batch, self.num_slots, self.mu.shape[-1], device=self.mu.device, dtype=self.mu.dtype)
        return self.mu + self.log_sigma.exp() * noise


class SlotPredictor(nn.Module):
    """SAVi predictor: slots at t-1 -> initial slots at t (self-attention lets slots account for each other)."""

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        self.mode = cfg.predictor
        if self.mode == "transformer":
            self.net = nn.TransformerEncoderLayer(cfg.slot_dim, nhead=4, dim_feedforward=cfg.slot_mlp_hidden,
                                                  dropout=0.0, batch_first=True, norm_first=True)
        elif self.mode == "mlp":
            self.net = nn.Sequential(nn.LayerNorm(cfg.slot_dim), nn.Linear(cfg.slot_dim, cfg.slot_mlp_hidden),
                                     nn.ReLU(inplace=True), nn.Linear(cfg.slot_mlp_hidden, cfg.slot_dim))

    def forward(self, slots: torch.Tensor) -> torch.Tensor:
        """(B, K, D) -> (B, K, D)."""
        if self.mode == "transformer":
            return self.net(slots)
        if self.mode == "mlp":
            return slots + self.net(slots)
        raise RuntimeError("SlotPredictor with predictor='none' must not be called")
