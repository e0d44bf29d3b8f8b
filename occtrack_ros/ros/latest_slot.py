"""A one-item buffer between the executor and the processing thread: newest wins, drops counted.

Subscription callbacks must return at once; processing takes as long as the models need. The
callback overwrites the slot, the worker takes whatever is newest, and a frame that was never
taken counts as dropped. So a slow pipeline lags by at most one frame instead of a backlog.
"""
from __future__ import annotations

import threading


class LatestSlot:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item = None
        self._full = False
        self._closed = False
        self.dropped = 0   # items overwritten before the worker took them

    def put(self, item) -> bool:
        """Store ``item``; returns True when it replaced an item that was never taken (a drop)."""
        with self._cond:
            replaced = self._full
            if replaced:
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None):
        """The newest item, waiting up to ``timeout`` s; None on timeout or after :meth:`close`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout=timeout):
                return None
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
