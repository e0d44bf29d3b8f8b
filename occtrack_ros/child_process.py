"""A child process whose merged output goes to a log file that can be waited on.

Used by `occtrack demo` to run the ROS 2 node, the bag player and the track recorder, and by the
ROS tests to start the same processes.
"""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default action.

    A shell starts background jobs (``make demo &``, a CI step run with ``&``) with SIGINT ignored,
    and an ignored signal stays ignored across exec; Python then installs no KeyboardInterrupt
    handler and ROS nodes would miss the clean-shutdown signal that ``stop`` sends first.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class ChildProcess:
    """A child process with its output in a log file; stopped with SIGINT, then SIGTERM, then SIGKILL."""

    def __init__(self, name: str, args: list[str], env: dict, log: Path, cwd: Path | None = None) -> None:
        self.name, self.log = name, Path(log)
        self._fh = open(self.log, "w")
        self.p = subprocess.Popen(args, env=env, cwd=cwd, stdout=self._fh, stderr=subprocess.STDOUT,
                                  preexec_fn=_default_sigint)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float) -> bool:
        """Whether ``needle`` appears in the log within ``timeout`` seconds (False at once if the process ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return True
            if self.p.poll() is not None:
                return needle in self.text()
            time.sleep(0.1)
        return False

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self, timeout: float = 5.0) -> int:
        """SIGINT (a ROS node shuts down cleanly), then SIGTERM, then SIGKILL, ``timeout`` s apart; the exit status."""
        for action in (lambda: self.p.send_signal(signal.SIGINT), self.p.terminate, self.p.kill):
            if self.p.poll() is not None:
                break
            action()
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                continue
        self._fh.close()
        return self.p.returncode

    def failure(self, what: str) -> RuntimeError:
        """An error for ``what`` that quotes the last lines of the log."""
        tail = "\n".join(self.text().splitlines()[-25:])
        return RuntimeError(f"{what}; last lines of {self.log}:\n{tail}")
