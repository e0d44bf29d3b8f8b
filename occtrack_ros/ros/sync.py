"""Approximate-time synchronisation of several input streams, without ROS.

:class:`ApproximateTimeSync` has the semantics of message_filters' Python
``ApproximateTimeSynchronizer`` (ROS 2 Jazzy/Kilted), so the node behaves the same whether
message_filters is installed or not, and ``occtrack replay`` can run the very same code on bag
messages:

- each input keeps a queue of at most ``queue_size`` messages keyed by stamp (a repeated stamp
  replaces the earlier message; the oldest stamp is evicted first);
- when a message arrives, the other queues are searched for stamps within ``slop`` of it,
  nearest first; the first combination whose total spread ``max - min`` is strictly below
  ``slop`` is emitted (one message per input, in input order) and removed from the queues;
- nothing is emitted while any input queue has no candidate.

The node uses message_filters itself when it is importable (``sync_backend: auto``), so users on
a robot get the reference implementation; tests pin the two to the same behaviour.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence


def header_stamp_ns(msg) -> int:
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class ApproximateTimeSync:
    """Match one message per input whose stamps lie within ``slop_s`` of each other.

    Args:
        n_inputs: number of input streams (indices ``0 .. n_inputs-1``).
        queue_size: messages kept per input while waiting for partners.
        slop_s: largest stamp spread [s] of an emitted set (exclusive).
        callback: called with one message per input, in input order.
        stamp_of: returns a message's stamp [ns]; defaults to ``msg.header.stamp``.
    """

    def __init__(self, n_inputs: int, queue_size: int, slop_s: float, callback: Callable[..., None],
                 stamp_of: Callable[[object], int] = header_stamp_ns) -> None:
        if n_inputs < 1:
            raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not slop_s > 0:
            raise ValueError(f"slop must be > 0 s, got {slop_s}")
        self.queue_size = int(queue_size)
        self.slop_ns = int(round(slop_s * 1e9))
        self.callback = callback
        self.stamp_of = stamp_of
        self.queues: list[dict[int, object]] = [{} for _ in range(n_inputs)]
        self._lock = threading.Lock()

    def add(self, index: int, msg, stamp_ns: int | None = None) -> bool:
        """Offer ``msg`` on input ``index``; returns whether a matched set was emitted."""
        stamp = self.stamp_of(msg) if stamp_ns is None else int(stamp_ns)
        with self._lock:
            matched = self._add_locked(index, msg, stamp)
        if matched is not None:
            self.callback(*matched)
            return True
        return False

    def _add_locked(self, index: int, msg, stamp: int) -> Sequence[object] | None:
        queue = self.queues[index]
        queue[stamp] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]
        candidates = []
        for i, other in enumerate(self.queues):
            if i == index:
                continue
            near = sorted(((s, abs(s - stamp)) for s in other if abs(s - stamp) <= self.slop_ns), key=lambda x: x[1])
            if not near:
                return None
            candidates.append([s for s, _ in near])
        for combo in itertools.product(*candidates):
            stamps = list(combo)
            stamps.insert(index, stamp)
            if max(stamps) - min(stamps) < self.slop_ns and all(s in q for q, s in zip(self.queues, stamps)):
                matched = [q.pop(s) for q, s in zip(self.queues, stamps)]
                return matched
        return None

    def clear(self) -> None:
        with self._lock:
            for q in self.queues:
                q.clear()


def message_filters_available() -> bool:
    try:
        import message_filters  # noqa: F401
    except ImportError:
        return False
    return True
