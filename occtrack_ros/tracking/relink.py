"""Offline tracklet re-linking across occlusion gaps, from both sides of the gap.

The live tracker decides who a reappearing object is at the frame it reappears, from the hidden
track's forward prediction alone. Offline, the reappearing track's next frames are known too, so
the decision can use its velocity after the gap as well. Each track is cut into tracklets where it
went unobserved for ``split_gap`` frames or more, and where an observation jumps off the track's
path (the live tracker took a false positive or another object); then every tracklet end i is
paired with at most one later tracklet start j (``scipy.optimize.linear_sum_assignment`` on the
cost below, with "no link" options), and the chains of pairs become the new tracks.

Cost of linking end i (frame e, fitted centre p_i, velocity v_i) to start j (frame s = e + T,
p_j, v_j): the object left along p_i + v_i t and came back along p_j - v_j u. If it moved at
constant velocity, changed velocity once (a turn, a speed change) or stopped for a while, the two
paths meet at some t, u >= 0 with t + u <= T (``time_slack`` x T); another object's path
generally does not. The meeting distance

    d = min over t, u >= 0, t + u <= time_slack T of |p_i + v_i t - p_j + v_j u|

is taken in units of the object's size times a spread that grows with the gap, and size change
terms are added: of scale, tolerated more the longer the gap (the object may have come nearer or gone
away while hidden or out of view), and of aspect (width / height), which depth changes little. A
tracklet too short for a velocity moves as the other side does. With ``appearance_sigma`` > 0,
pieces that carry detector embeddings (their unit mean) also pay 0.5 ((1 - cosine) /
appearance_sigma)^2, and none below ``appearance_veto`` is linked. Pieces that carry the detections'
mean chromaticity (``Detections.colours``: shading cancels in it, so an object keeps it through light and
shadow) pay 0.5 (|difference| / ``colour_sigma``)^2, none beyond ``colour_veto`` is linked, and a track
is also cut where two successive observations differ by more than ``colour_jump`` (the live tracker
went on with another object). Links the live tracker made (the
same id on both sides of the gap) get ``online_bonus`` off their cost, except across a cut at a jump
and where two of them cross: the live tracker gave two objects hidden together the ids the other
fits as well (``contest_gate``), and the motion after the gap decides alone. A piece too short to
be linked (fewer than ``min_observations``) stays where the live tracker put it, between its live
neighbours, rather than becoming an id of its own. A live link with another piece inside its gap that
fits both of its ends (``nested_gate``) gets no bonus either: two live tracks took turns on one object.
Where what leaves the view never comes back (Sprites-MOT; ``border_links=False``), a piece that ends
(starts) at the image border is linked only as the live tracker linked it: otherwise objects that
leave and others that come in would be joined.

Nothing installable does this (StrongSORT's AFLink, the nearest, is a network trained with
identity labels); the assignment is scipy's, the rest is a few lines of numpy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class RelinkConfig:
    """Knobs of the re-linking (chosen on tuning seeds; weights/tracker.md)."""

    split_gap: int = 2            # a track is cut where it went unobserved for at least this many frames
    max_gap: int = 150            # [frames] longest gap a link may bridge (objects that roam out of view come
    #                               back after more than the live tracker's 90 frames; weights/tracker.md, session 23)
    fit_frames: int = 6           # observations at each end used to fit position and velocity
    min_observations: int = 2     # tracklets with fewer observations are not linked (false positives)
    sigma: float = 0.5            # [box sizes] spread of the meeting distance for a gap of one frame ...
    sigma_growth: float = 0.03    # ... growing by this per frame of gap (velocity error) along the axis of motion
    across_growth: float = 0.1    # ... and across it, by this fraction of that (objects change speed and stop
    #                               more often than they turn: a long link off to the side is less likely)
    size_sigma: float = 0.25      # log size change tolerated across a gap (its scale part, for a gap of 0 frames)
    scale_growth: float = 0.01    # ... growing by this fraction per frame of gap (the object came nearer or went away)
    aspect_sigma: float = 0.2     # log aspect (width / height) change tolerated across a gap
    gate: float = 3.0             # links beyond this many sigmas (combined) are never made
    online_bonus: float = 0.5     # cost taken off the links the live tracker made ...
    contest_gate: float = 2.0     # ... except two live links that cross: i -> j and k -> l where i -> l and k -> j
    #                               are both within this many sigmas (0: off)
    velocity_observations: int = 4  # a tracklet end with fewer observations has no velocity of its own
    jump: float = 0.5             # > 0: also cut where an observation jumps this many box sizes off the path
    absorb_short: bool = False    # pieces with fewer than min_observations stay with their neighbour
    border_links: bool = True     # link a piece that left the view to one that came into it (objects that roam
    #                               out and come back); False where what leaves never returns (Sprites-MOT)
    appearance_sigma: float = 0.0  # > 0: pieces with embeddings also pay 0.5 ((1 - cosine) / this)^2
    appearance_veto: float = -1.0  # ... and are never linked (except as the live tracker did) below this cosine
    colour_sigma: float = 0.0     # > 0: pieces with colours also pay 0.5 (|chromaticity difference| / this)^2
    colour_veto: float = 0.0      # > 0: ... and never linked (except as the live tracker did) beyond this difference
    colour_jump: float = 0.0      # > 0: also cut where two successive observations differ this much in colour
    nested_gate: float = 0.0      # > 0: a live link loses its bonus where another piece fits inside its gap (its cost
    #                               from the link's end and to the link's start both within this many sigmas):
    #                               two live tracks took turns on one object
    time_slack: float = 1.0       # > 0: the two paths may meet at any times t, u with t + u <= this x the gap
    #                               (the object may have stopped); 0: at t + u = gap exactly

    def validate(self) -> None:
        colour = {"colour_sigma": self.colour_sigma, "colour_veto": self.colour_veto, "colour_jump": self.colour_jump,
                  "nested_gate": self.nested_gate}
        bad = {k: v for k, v in colour.items() if not v >= 0}
        if bad:
            raise ValueError(f"RelinkConfig: {sorted(bad)} must be >= 0 (0 = off), got {bad}")
        if self.split_gap < 2 or self.max_gap < 1 or self.fit_frames < 2 or self.min_observations < 1:
            raise ValueError(f"RelinkConfig: split_gap >= 2, max_gap >= 1, fit_frames >= 2, min_observations >= 1; "
                             f"got {self.split_gap}, {self.max_gap}, {self.fit_frames}, {self.min_observations}")
        if not (self.sigma > 0 and self.sigma_growth >= 0 and self.size_sigma > 0 and self.aspect_sigma > 0
                and self.scale_growth >= 0 and 0 <= self.across_growth <= 1 and self.gate > 0
                and self.online_bonus >= 0 and self.time_slack >= 0 and self.contest_gate >= 0):
            raise ValueError(f"RelinkConfig: sigma, size_sigma, aspect_sigma, gate > 0, across_growth in [0, 1] and "
                             f"sigma_growth, scale_growth, online_bonus, time_slack, contest_gate >= 0; got "
                             f"{self.sigma}, {self.size_sigma}, {self.aspect_sigma}, {self.gate}, "
                             f"{self.across_growth}, {self.sigma_growth}, {self.scale_growth}, {self.online_bonus}, "
                             f"{self.time_slack}, {self.contest_gate}")


@dataclass
class Tracklet:
    """The observed frames of one piece of a track: frames (n,) ascending, boxes (n, 4) xyxy."""

    frames: np.ndarray
    boxes: np.ndarray
    source: int                   # the live track id it was cut from
    piece: int = 0                # its place among that track's tracklets (0 = first)
    border_start: bool = False    # its first box touches the image border (it came into view)
    border_end: bool = False      # its last box touches the image border (it left the view)
    embedding: np.ndarray | None = None  # (D,) unit mean appearance embedding of its detections, if any
    colour: np.ndarray | None = None     # (3,) median chromaticity of its detections, if known

    @property
    def start(self) -> int:
        return int(self.frames[0])

    @property
    def end(self) -> int:
        return int(self.frames[-1])


def split_frames(frames: np.ndarray, split_gap: int, min_run: int = 1, boxes: np.ndarray | None = None,
                 jump: float = 0.0, colours: np.ndarray | None = None, colour_jump: float = 0.0) -> list[np.ndarray]:
    """Ascending observed frames -> runs, cut where ``split_gap`` or more frames in a row are missing.

    With ``boxes`` ((n, 4) xyxy) and ``jump`` > 0, also cut where an observation lies more than
    ``jump`` box sizes from where the two before it put it (the live tracker took another object or
    a false positive); a point after such a jump that lies near the jumped one starts a new run with it
    (the run before ended in a false positive or another object). A run of fewer than ``min_run``
    frames is not cut off: it stays with the run before it (the first run, with the one after it), as
    the live tracker associated it. With ``colours`` ((n, 3) chromaticities, NaN where unknown) and
    ``colour_jump`` > 0, also cut where two successive observations with colours differ by more than
    that (the live tracker went on with another object of the same motion).
    """
    frames = np.asarray(frames)
    if len(frames) == 0:
        return []
    cut = np.zeros(len(frames), bool)
    cut[1:] = np.diff(frames) - 1 >= split_gap
    if boxes is not None and jump > 0 and len(frames) >= 3:
        c = 0.5 * (boxes[:, :2] + boxes[:, 2:])
        size = np.sqrt(np.prod(np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-3), axis=1))
        f = frames.astype(np.float64)
        anchor = None if cut[1] else [0, 1]   # the last two observations of the latest run that has two
        run_start, jumped = (1 if cut[1] else 0), False
        for k in range(2, len(frames)):
            if cut[k]:                                      # a gap: a new run, checked from its third frame
                run_start, jumped, anchor = k, False, None
            elif anchor is not None:
                a, b = anchor
                v = (c[b] - c[a]) / (f[b] - f[a])
                thr = jump * size[b]
                on_path = np.linalg.norm(c[k] - c[b] - v * (f[k] - f[b])) <= thr
                if jumped and k - run_start == 1:           # the run so far is one point off the path
                    # It goes on from the point off the path, at the anchor's velocity or, where that velocity
                    # is the false one (a false positive began the run before), close to it.
                    step = c[k] - c[k - 1]
                    with_it = min(np.linalg.norm(step - v * (f[k] - f[k - 1])), np.linalg.norm(step)) <= thr
                    if on_path or not with_it:              # it was a lone outlier (or this is another)
                        cut[k], run_start, jumped = True, k, not on_path
                    else:                                   # the track went on from it: another object
                        jumped = False
                elif not on_path:
                    cut[k], run_start, jumped = True, k, True
            if k - run_start >= 1:
                anchor = [k - 1, k]
    if colours is not None and colour_jump > 0 and len(frames) >= 2:
        known = np.flatnonzero(~np.isnan(colours).any(axis=1))
        steps = np.linalg.norm(np.diff(colours[known], axis=0), axis=1)
        cut[known[1:][steps > colour_jump]] = True
    runs = np.split(frames, np.flatnonzero(cut))
    merged: list[np.ndarray] = []
    for r in runs:
        if merged and (len(r) < min_run or len(merged[-1]) < min_run):
            merged[-1] = np.concatenate([merged[-1], r])
        else:
            merged.append(r)
    return merged


def touches_border(box: np.ndarray, view_size: tuple[int, int] | None, margin: float = 1.0) -> bool:
    """Whether an xyxy box lies within ``margin`` px of the edge of a ``(width, height)`` view (None: never)."""
    if view_size is None:
        return False
    w, h = view_size
    return bool(box[0] <= margin or box[1] <= margin or box[2] >= w - margin or box[3] >= h - margin)


def _fit(t: np.ndarray, boxes: np.ndarray, at: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Least-squares line through the centres of the ``n`` boxes nearest ``at``.

    Returns the centre at ``at`` (2,), the velocity (2,) per frame, the geometric-mean size (2,) and
    the number of observations used.
    """
    c = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    wh = boxes[:, 2:] - boxes[:, :2]
    sel = slice(-n, None) if at >= t[-1] else slice(0, n)
    t, c, wh = t[sel].astype(np.float64), c[sel], wh[sel]
    size = np.exp(np.log(np.maximum(wh, 1e-3)).mean(0))
    if len(t) < 2 or np.ptp(t) == 0:
        return c.mean(0), np.zeros(2), size, len(t)
    A = np.column_stack([np.ones_like(t), t - at])
    coef, *_ = np.linalg.lstsq(A, c, rcond=None)          # (2, 2): centre at `at`, velocity
    return coef[0], coef[1], size, len(t)


def _min_on_triangle(a: np.ndarray, b: np.ndarray, c: np.ndarray, limit: float) -> float:
    """The minimum of |a + t b + u c| over t, u >= 0, t + u <= limit (least squares on a triangle)."""
    def seg(p, q):                     # min over s in [0, 1] of |p + s q|
        qq = float(q @ q)
        s_ = 0.0 if qq == 0 else float(np.clip(-(p @ q) / qq, 0.0, 1.0))
        return float(np.linalg.norm(p + s_ * q))
    best = min(seg(a, limit * b), seg(a, limit * c), seg(a + limit * b, limit * (c - b)))
    M = np.column_stack([b, c])
    if abs(np.linalg.det(M)) > 1e-12:
        t, u = np.linalg.solve(M, -a)
        if t >= 0 and u >= 0 and t + u <= limit:
            best = 0.0
    return best


def _anisotropy(v_i: np.ndarray, v_j: np.ndarray, along: float, across: float) -> np.ndarray:
    """(2, 2) map that scales offsets across the axis of motion by ``along / across`` (identity if no motion).

    The axis is the principal direction of v_i and v_j, unsigned, so an object that came back the way
    it left (a turn-around) keeps it.
    """
    M = np.outer(v_i, v_i) + np.outer(v_j, v_j)
    if along == across or np.trace(M) < 1e-9:
        return np.eye(2)
    _, V = np.linalg.eigh(M)
    ax, cross = V[:, 1], V[:, 0]
    return np.outer(ax, ax) + (along / across) * np.outer(cross, cross)


def link_cost(end: tuple, start: tuple, gap: int, cfg: RelinkConfig) -> float:
    """Cost (0.5 x squared sigmas) of a link; ``end``/``start`` are ``_fit`` outputs, ``gap`` = s - e frames."""
    p_i, v_i, size_i, n_i = end
    p_j, v_j, size_j, n_j = start
    # A tracklet too short for a velocity moves as the other side of the gap does (constant velocity).
    if n_i < cfg.velocity_observations:
        v_i = v_j if n_j >= cfg.velocity_observations else np.zeros(2)
    if n_j < cfg.velocity_observations:
        v_j = v_i
    scale = float(np.sqrt(np.prod(0.5 * (size_i + size_j))))
    sigma = scale * (cfg.sigma + cfg.sigma_growth * gap)
    # Distances are measured in units of sigma along the axis of motion and of a spread that grows more
    # slowly across it (across_growth < 1): W maps both onto sigma, so the meeting distance below is
    # |W (offset)| in units of sigma. A linear map keeps the set of meeting times, so the minimum is exact.
    W = _anisotropy(v_i, v_j, sigma, scale * (cfg.sigma + cfg.across_growth * cfg.sigma_growth * gap))
    if cfg.time_slack > 0:
        # The paths meet in space within the time budget: it may also have stopped for a while.
        dist = _min_on_triangle(W @ (p_i - p_j), W @ v_i, W @ v_j, cfg.time_slack * gap)
    else:
        a = W @ (p_i - p_j + v_j * gap)
        b = W @ (v_i - v_j)
        bb = float(b @ b)
        t = 0.0 if bb == 0 else float(np.clip(-(a @ b) / bb, 0.0, gap))
        dist = float(np.linalg.norm(a + t * b))
    dsize = np.log(size_j / size_i)
    # Size in two parts: scale (mean log size) and aspect (log width / height). |dsize|^2 = 2 dscale^2 +
    # daspect^2 / 2, so with scale_growth 0 and aspect_sigma = size_sigma this is 0.5 |dsize|^2 / size_sigma^2.
    dscale, daspect = float(dsize.mean()), float(dsize[0] - dsize[1])
    scale_sigma = cfg.size_sigma * (1.0 + cfg.scale_growth * gap)
    return (0.5 * (dist / sigma) ** 2 + dscale ** 2 / scale_sigma ** 2
            + 0.25 * daspect ** 2 / cfg.aspect_sigma ** 2)


def relink(tracklets: list[Tracklet], cfg: RelinkConfig | None = None) -> list[list[int]]:
    """Chains of tracklet indices (each chain = one track, in time order); every index in exactly one chain."""
    cfg = cfg or RelinkConfig()
    cfg.validate()
    n = len(tracklets)
    ok = [len(tl.frames) >= cfg.min_observations for tl in tracklets]
    ends = [_fit(tl.frames, tl.boxes, tl.end, cfg.fit_frames) for tl in tracklets]
    starts = [_fit(tl.frames, tl.boxes, tl.start, cfg.fit_frames) for tl in tracklets]
    # Standard augmentation: rows n.. / columns n.. are "no successor" / "no predecessor" at cost 0,
    # so a link is made only when its cost is below the gate (online links: below gate + bonus).
    big = 1e9
    cost = np.full((2 * n, 2 * n), big)
    cost[n:, n:] = 0.0
    cost[np.arange(n), n + np.arange(n)] = 0.0
    cost[n + np.arange(n), np.arange(n)] = 0.0
    gate = 0.5 * cfg.gate ** 2
    raw: dict[tuple[int, int], float] = {}
    bonus: dict[tuple[int, int], float] = {}
    for i, ti in enumerate(tracklets):
        if not ok[i]:
            continue
        for j, tj in enumerate(tracklets):
            gap = tj.start - ti.end
            if i == j or not ok[j] or gap < 1 or gap > cfg.max_gap:
                continue
            online = ti.source == tj.source and tj.piece == ti.piece + 1
            if not cfg.border_links and (ti.border_end or tj.border_start) and not online:
                continue           # left or came into view: not an occlusion; only the live link stands
            c = link_cost(ends[i], starts[j], gap, cfg)
            if cfg.appearance_sigma > 0 and ti.embedding is not None and tj.embedding is not None:
                sim = float(ti.embedding @ tj.embedding)
                if sim < cfg.appearance_veto and not online:
                    continue
                c += 0.5 * ((1.0 - sim) / cfg.appearance_sigma) ** 2
            if cfg.colour_sigma > 0 and ti.colour is not None and tj.colour is not None:
                dist = float(np.linalg.norm(ti.colour - tj.colour))
                if cfg.colour_veto > 0 and dist > cfg.colour_veto and not online:
                    continue
                c += 0.5 * (dist / cfg.colour_sigma) ** 2
            raw[i, j] = c
            # The live tracker's links count extra, except across a cut at a jump (not at a gap): there its
            # association is the one in doubt.
            jump_cut = gap - 1 < cfg.split_gap
            if online and not jump_cut:
                bonus[i, j] = cfg.online_bonus
    if cfg.contest_gate > 0:
        # Two live links that cross over a shared occlusion (i -> j and k -> l, where i -> l and k -> j
        # fit too): the live tracker chose between two hidden tracks at a reappearance, a choice the
        # motion after the gap can judge better, so neither gets the bonus.
        contest = 0.5 * cfg.contest_gate ** 2
        live = list(bonus)
        for i, j in live:
            if any(k != i and raw.get((i, m), np.inf) < contest and raw.get((k, j), np.inf) < contest
                   for k, m in live):
                bonus[i, j] = 0.0
    if cfg.nested_gate > 0:
        # A live link i -> j with a piece k inside its gap that fits both ends: the live tracker's tracks took
        # turns on one object (i -> k -> j is one object, and k's own live links skip over i's and j's pieces).
        nested = 0.5 * cfg.nested_gate ** 2
        for i, j in list(bonus):
            if any(tracklets[i].end < tk.start and tk.end < tracklets[j].start
                   and raw.get((i, k), np.inf) < nested and raw.get((k, j), np.inf) < nested
                   for k, tk in enumerate(tracklets)):
                bonus[i, j] = 0.0
    for (i, j), c in raw.items():
        c = c - gate - bonus.get((i, j), 0.0)
        if c < 0:
            cost[i, j] = c
    rows, cols = linear_sum_assignment(cost)
    nxt = {int(i): int(j) for i, j in zip(rows, cols) if i < n and j < n}
    has_prev = set(nxt.values())
    chains = []
    for i in sorted(range(n), key=lambda k: tracklets[k].start):
        if i in has_prev:
            continue
        chain = [i]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        chains.append(chain)
    return _with_short_pieces(chains, tracklets, ok)


def _with_short_pieces(chains: list[list[int]], tracklets: list[Tracklet], ok: list[bool]) -> list[list[int]]:
    """Pieces too short to be linked (``ok`` False) keep the live tracker's association.

    Such a piece (typically one observation as an object comes out) is never assigned, so alone it
    would become a new id. It joins the chain of its live predecessor (the same source's previous
    piece), else of its live successor, where that chain has no piece over its frames.
    """
    chain_of = {k: c for c, chain in enumerate(chains) for k in chain}
    piece_of = {(t.source, t.piece): k for k, t in enumerate(tracklets)}
    for k, t in enumerate(tracklets):
        if ok[k] or len(chains[chain_of[k]]) > 1:
            continue
        for neighbour, after in ((piece_of.get((t.source, t.piece - 1)), True),
                                 (piece_of.get((t.source, t.piece + 1)), False)):
            if neighbour is None:
                continue
            chain = chains[chain_of[neighbour]]
            at = chain.index(neighbour) + (1 if after else 0)
            before_ok = at == 0 or tracklets[chain[at - 1]].end < t.start
            after_ok = at == len(chain) or tracklets[chain[at]].start > t.end
            if before_ok and after_ok:
                chain.insert(at, k)
                chains[chain_of[k]] = []
                chain_of[k] = chain_of[neighbour]
                break
    return [chain for chain in chains if chain]
