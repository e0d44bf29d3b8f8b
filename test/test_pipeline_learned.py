"""The pipeline with the real detector loading code, on a tiny untrained checkpoint saved here."""
from __future__ import annotations

import numpy as np
import pytest

from occtrack_ros.pipeline import ComponentUnavailable, Pipeline, PipelineConfig
from occtrack_ros.types import Frame

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory):
    from occtrack_ros.models.detector import DetectorConfig, SlotVideoModel
    from occtrack_ros.models.detector.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = DetectorConfig(image_size=32, cnn_channels=8, cnn_layers=2, num_slots=3, slot_dim=16,
                         slot_mlp_hidden=16, decoder_channels=8, decoder_init_size=8, decoder_upsamples=2,
                         score_threshold=0.0, min_area_frac=0.0, max_area_frac=1.0, border_frac=1.0,
                         max_extent_frac=1.0)
    path = tmp_path_factory.mktemp("weights") / "tiny_detector.pt"
    save_checkpoint(path, SlotVideoModel(cfg))
    return path


def frames(n):
    rng = np.random.default_rng(0)
    for i in range(n):
        image = rng.integers(0, 40, (48, 64, 3), dtype=np.uint8)
        image[10:26, 8 + 3 * i:24 + 3 * i] = (220, 40, 40)
        yield Frame(image=image, stamp_ns=10**9 + i * 10**8, index=i,
                    depth=np.full((48, 64), 4.0, np.float32))


def test_real_detector_checkpoint_runs_through_the_pipeline(tiny_detector):
    pipe = Pipeline(PipelineConfig(detector_weights=str(tiny_detector), depth_source="topic", score_threshold=0.0))
    for frame in frames(4):
        result = pipe.process(frame)
        det = result.detections
        assert det.boxes.shape == (len(det), 4) and det.scores.shape == (len(det),)
        if len(det):
            assert np.all(det.boxes[:, [0, 2]] >= -1) and np.all(det.boxes[:, [0, 2]] <= 65)
            assert det.masks is None or det.masks.shape[1:] == (48, 64)
        assert result.timings["detector"] > 0
    pipe.reset()


def test_corrupt_detector_checkpoint_is_named(tmp_path):
    bad = tmp_path / "detector.pt"
    bad.write_bytes(b"\x80\x04not a torch file" * 8)
    with pytest.raises(ComponentUnavailable, match=str(bad)):
        Pipeline(PipelineConfig(detector_weights=str(bad), depth_source="none"))
