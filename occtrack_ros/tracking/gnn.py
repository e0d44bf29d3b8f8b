"""The learned part of the tracker: evolving scene graph + message passing + edge classifier.

Nodes are the live tracks (state = GRU memory of their past detections plus kinematic
features) and the detections of the current frame. Temporal edges join every track to every
detection; spatial edges join detections of one frame (and tracks among themselves for the
reported scene graph) through a learned soft adjacency. After ``rounds`` of message passing an
edge classifier scores each track-detection pair; the Hungarian step lives in the tracker.
"""
from __future__ import annotations

import torch
from torch import nn

from occtrack_ros.tracking import features as F_
from occtrack_ros.tracking.config import GNNConfig


def mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


class SceneGraphGNN(nn.Module):
    """Scores track-detection associations on the evolving scene graph."""

    def __init__(self, config: GNNConfig):
        super().__init__()
        c = config
        for name, expected in (("edge_features", F_.EDGE_FEATURES), ("det_features", F_.DET_FEATURES),
                               ("track_features", F_.TRACK_FEATURES),
                               ("spatial_features", F_.SPATIAL_FEATURES)):
            if getattr(c, name) != expected:
                raise ValueError(f"GNNConfig.{name}={getattr(c, name)} but the feature code produces {expected}")
        self.config = c
        H = c.hidden
        self.obs_dim = c.det_features + c.embed_dim   # what the GRU integrates per observation
        self.det_enc = mlp(self.obs_dim, H, H)
        self.track_enc = mlp(c.track_features + H, H, H)
        self.edge_enc = mlp(c.edge_features, H, H)
        self.adjacency = mlp(c.spatial_features, H, 1)  # learned soft adjacency between nodes of one frame
        self.memory = nn.GRUCell(self.obs_dim, H)
        self.edge_update = nn.ModuleList([mlp(3 * H, H, H) for _ in range(c.rounds)])
        self.track_update = nn.ModuleList([mlp(2 * H, H, H) for _ in range(c.rounds)])
        self.det_update = nn.ModuleList([mlp(3 * H, H, H) for _ in range(c.rounds)])
        self.attention = nn.ModuleList([nn.Linear(H, 1) for _ in range(c.rounds)])
        self.classifier = mlp(H, H, 1)

    def soft_adjacency(self, spatial: torch.Tensor) -> torch.Tensor:
        """(N, N, S) pairwise relations -> (N, N) soft adjacency in [0, 1], zero diagonal."""
        N = spatial.shape[0]
        assert spatial.shape == (N, N, self.config.spatial_features), f"spatial must be (N, N, S), got {spatial.shape}"
        a = torch.sigmoid(self.adjacency(spatial).squeeze(-1))    # (N, N)
        return a * (1.0 - torch.eye(N, dtype=a.dtype, device=a.device))

    def update_memory(self, obs: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """(M, obs_dim) observations, (M, H) memories -> (M, H) new memories."""
        assert obs.shape[1] == self.obs_dim, f"obs must be (M, {self.obs_dim}), got {tuple(obs.shape)}"
        return self.memory(obs, memory)

    def memory_from_history(self, history: torch.Tensor) -> torch.Tensor:
        """(T, L, obs_dim) observation windows, zero-padded at the front -> (T, H) memories.

        Training and inference both summarise a track by its last ``config.history``
        observations, so the memory a track carries at run time is the one the GNN was trained on.
        """
        T, L, D = history.shape
        assert D == self.obs_dim, f"history must be (T, L, {self.obs_dim}), got {tuple(history.shape)}"
        h = history.new_zeros(T, self.config.hidden)
        valid = history.abs().sum(-1) > 0                               # (T, L)
        for k in range(L):
            h = torch.where(valid[:, k:k + 1], self.memory(history[:, k], h), h)
        return h

    def forward(self, track_feat: torch.Tensor, memory: torch.Tensor, det_obs: torch.Tensor,
                edge_feat: torch.Tensor, spatial: torch.Tensor) -> torch.Tensor:
        """Association logits.

        track_feat (T, TRACK_FEATURES), memory (T, H), det_obs (N, obs_dim),
        edge_feat (T, N, EDGE_FEATURES), spatial (N, N, SPATIAL_FEATURES) -> logits (T, N).
        """
        T, N = edge_feat.shape[:2]
        H = self.config.hidden
        assert track_feat.shape == (T, self.config.track_features), f"track_feat {tuple(track_feat.shape)}"
        assert memory.shape == (T, H), f"memory must be ({T}, {H}), got {tuple(memory.shape)}"
        assert det_obs.shape == (N, self.obs_dim), f"det_obs must be ({N}, {self.obs_dim}), got {tuple(det_obs.shape)}"
        trk = self.track_enc(torch.cat([track_feat, memory], dim=1))   # (T, H)
        det = self.det_enc(det_obs)                                    # (N, H)
        e = self.edge_enc(edge_feat)                                   # (T, N, H)
        adj = self.soft_adjacency(spatial)                             # (N, N)
        adj = adj / (1.0 + adj.sum(dim=1, keepdim=True))
        for r in range(self.config.rounds):
            x = torch.cat([e, trk[:, None, :].expand(T, N, H), det[None, :, :].expand(T, N, H)], dim=2)
            e = e + self.edge_update[r](x)                             # (T, N, H)
            att = torch.sigmoid(self.attention[r](e))                  # (T, N, 1)
            msg = att * e
            to_trk = msg.sum(dim=1) / (1.0 + att.sum(dim=1))           # (T, H)
            to_det = msg.sum(dim=0) / (1.0 + att.sum(dim=0))           # (N, H)
            trk = trk + self.track_update[r](torch.cat([trk, to_trk], dim=1))
            det = det + self.det_update[r](torch.cat([det, to_det, adj @ det], dim=1))
        return self.classifier(e).squeeze(-1)                          # (T, N)
