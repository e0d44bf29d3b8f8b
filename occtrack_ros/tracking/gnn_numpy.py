"""A numpy copy of ``SceneGraphGNN`` inference: the per-frame fast path of the tracker.

At 5-50 nodes every torch call costs more in dispatch than in arithmetic; the same weights
evaluated with numpy matrix products keep a step well under the 2 ms budget. ``test_tracker_learned``
checks that both paths agree.
"""
from __future__ import annotations

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), computed in one buffer (the same arithmetic, fewer temporaries)."""
    y = np.negative(x)
    np.exp(y, out=y)
    y += 1.0
    return np.reciprocal(y, out=y)


class NumpySceneGraphGNN:
    """Same forward / memory_from_history / soft_adjacency as ``SceneGraphGNN``, in numpy float32."""

    def __init__(self, model):
        self.config = model.config
        self.obs_dim = model.obs_dim
        sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
        self._mlp = {}
        names = {k.rsplit(".", 2)[0] for k in sd if k.endswith(".0.weight")}
        names = {n for n in names if f"{n}.2.weight" in sd}   # two-layer MLPs only (not attention.r)
        for n in names:
            self._mlp[n] = (sd[f"{n}.0.weight"].T.copy(), sd[f"{n}.0.bias"], sd[f"{n}.2.weight"].T.copy(),
                            sd[f"{n}.2.bias"])
        self._att = [(sd[f"attention.{r}.weight"].T.copy(), sd[f"attention.{r}.bias"])
                     for r in range(self.config.rounds)]
        self._gru = (sd["memory.weight_ih"].T.copy(), sd["memory.bias_ih"], sd["memory.weight_hh"].T.copy(),
                     sd["memory.bias_hh"])

    def mlp(self, name: str, x: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2 = self._mlp[name]
        h = x @ w1
        h += b1
        np.maximum(h, 0.0, out=h)
        y = h @ w2
        y += b2
        return y

    def gru(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        wi, bi, wh, bh = self._gru
        H = h.shape[1]
        gi = x @ wi + bi                                              # (M, 3H): r, z, n
        gh = h @ wh + bh
        r = _sigmoid(gi[:, :H] + gh[:, :H])
        z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1.0 - z) * n + z * h

    def memory_from_history(self, history: np.ndarray) -> np.ndarray:
        """(T, L, obs_dim) -> (T, H)."""
        T, L, D = history.shape
        assert D == self.obs_dim, f"history must be (T, L, {self.obs_dim}), got {history.shape}"
        h = np.zeros((T, self.config.hidden), np.float32)
        valid = np.abs(history).sum(-1) > 0                           # (T, L)
        for k in range(L):
            if valid[:, k].any():
                h = np.where(valid[:, k:k + 1], self.gru(history[:, k], h), h)
        return h

    def soft_adjacency(self, spatial: np.ndarray) -> np.ndarray:
        """(N, N, S) -> (N, N) in [0, 1], zero diagonal."""
        N = spatial.shape[0]
        a = _sigmoid(self.mlp("adjacency", spatial.reshape(N * N, -1)).reshape(N, N))
        np.fill_diagonal(a, 0.0)
        return a

    def forward(self, track_feat, memory, det_obs, edge_feat, spatial) -> np.ndarray:
        """Association logits (T, N); shapes as ``SceneGraphGNN.forward``."""
        T, N = edge_feat.shape[:2]
        H = self.config.hidden
        assert memory.shape == (T, H), f"memory must be ({T}, {H}), got {memory.shape}"
        trk = self.mlp("track_enc", np.concatenate([track_feat, memory], axis=1))      # (T, H)
        det = self.mlp("det_enc", det_obs)                                              # (N, H)
        e = self.mlp("edge_enc", edge_feat.reshape(T * N, -1)).reshape(T, N, H)        # (T, N, H)
        adj = self.soft_adjacency(spatial)
        adj = adj / (1.0 + adj.sum(axis=1, keepdims=True))
        for r in range(self.config.rounds):
            # First layer on [e, trk_i, det_j] split by blocks: the node terms are computed once per
            # node instead of once per edge.
            w1, b1, w2, b2 = self._mlp[f"edge_update.{r}"]
            pre = (e.reshape(T * N, H) @ w1[:H]).reshape(T, N, -1) + (trk @ w1[H:2 * H] + b1)[:, None, :] \
                + (det @ w1[2 * H:])[None, :, :]                                        # (T, N, H)
            np.maximum(pre, 0.0, out=pre)
            upd = pre.reshape(T * N, -1) @ w2
            upd += b2
            e = e + upd.reshape(T, N, H)
            wa, ba = self._att[r]
            att = _sigmoid(e.reshape(T * N, H) @ wa + ba).reshape(T, N, 1)
            msg = att * e
            to_trk = msg.sum(axis=1) / (1.0 + att.sum(axis=1))                         # (T, H)
            to_det = msg.sum(axis=0) / (1.0 + att.sum(axis=0))                         # (N, H)
            trk = trk + self.mlp(f"track_update.{r}", np.concatenate([trk, to_trk], axis=1))
            det = det + self.mlp(f"det_update.{r}", np.concatenate([det, to_det, adj @ det], axis=1))
        return self.mlp("classifier", e.reshape(T * N, H)).reshape(T, N)
