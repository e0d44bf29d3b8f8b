"""The run directory of `occtrack train all`: config, stage status (resume markers), curves, metrics.

Layout::

    RUN/config.json, RUN/config.yaml   full config + git revision (rewritten on every start)
    RUN/status.json                    per stage: "done" | "skipped" | "failed", reason, seconds
    RUN/<stage>/                       the stage's own output (checkpoints, its loss.png)
    RUN/curves/<stage>.png             loss curve per stage, drawn from the recorded history
    RUN/metrics.json                   held-out evaluation (see occtrack_ros/training/all.py)
    RUN/bundle/                        final weights + manifest (occtrack_ros/training/bundle.py)

A stage is marked done only after it returned successfully, so an interrupted run resumes at the
first stage without a marker; markers are written atomically (write + rename).
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from occtrack_ros.atomic_io import write_text_atomic

STATUS_FILE = "status.json"


def git_revision() -> str:
    """Full commit hash of the package checkout, '+dirty' when it has local changes; 'unknown' outside git."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (rev + ("+dirty" if dirty else "")) if rev else "unknown"


class RunDir:
    """One training run's folder; safe to reopen for ``--resume``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def stage_dir(self, stage: str) -> Path:
        d = self.path / stage
        d.mkdir(parents=True, exist_ok=True)
        return d

    # Config -------------------------------------------------------------------------------
    def write_config(self, config: dict) -> dict:
        """Write config.json and config.yaml with the git revision and start time; returns what was written."""
        import yaml

        payload = {"git_revision": git_revision(), "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   **config}
        write_text_atomic(self.path / "config.json", json.dumps(payload, indent=1, sort_keys=True, default=str))
        write_text_atomic(self.path / "config.yaml", yaml.safe_dump(json.loads(json.dumps(payload, default=str)),
                                                                sort_keys=True))
        return payload

    def read_config(self) -> dict | None:
        p = self.path / "config.json"
        return json.loads(p.read_text()) if p.is_file() else None

    # Stage status -------------------------------------------------------------------------
    def status(self) -> dict:
        """{stage: {"state": ..., ...}}; a corrupt status file is an error naming it."""
        p = self.path / STATUS_FILE
        if not p.is_file():
            return {}
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p} is corrupt ({exc}); delete it to rerun every stage") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{p}: expected a JSON object, got {type(data).__name__}")
        return data

    def mark(self, stage: str, state: str, **info) -> None:
        """Record a stage's outcome: state in {"done", "skipped", "failed"}."""
        if state not in ("done", "skipped", "failed"):
            raise ValueError(f"stage state {state!r}: expected done, skipped or failed")
        data = self.status()
        data[stage] = {"state": state, "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **info}
        write_text_atomic(self.path / STATUS_FILE, json.dumps(data, indent=1, sort_keys=True, default=str))

    def finished(self, stage: str) -> bool:
        """True when the stage completed (done or deliberately skipped) in an earlier attempt."""
        return self.status().get(stage, {}).get("state") in ("done", "skipped")

    # Outputs ------------------------------------------------------------------------------
    def write_metrics(self, metrics: dict) -> Path:
        p = self.path / "metrics.json"
        write_text_atomic(p, json.dumps(metrics, indent=1, sort_keys=True, default=str))
        return p

    def plot_curve(self, stage: str, series: dict[str, tuple[list, list]], ylabel: str = "loss",
                   log: bool = True) -> Path | None:
        """Draw ``{name: (steps, values)}`` into RUN/curves/<stage>.png; None when there is nothing to draw."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        series = {k: v for k, v in series.items() if len(v[1])}
        if not series:
            return None
        out = self.path / "curves" / f"{stage}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, (x, y) in series.items():
            ax.plot(x, y, label=name, marker="o" if len(y) < 20 else None)
        if log and all(v > 0 for _, y in series.values() for v in y):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(stage)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out, dpi=90)
        plt.close(fig)
        return out
