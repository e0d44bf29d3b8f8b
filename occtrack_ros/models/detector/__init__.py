"""Slot-attention object detector trained without labels.

``load_detector(path_or_None, device)`` -> :class:`ObjectDetector`, whose ``detect(frames)``
returns :class:`occtrack_ros.types.Detections`. Parts: backbones (small CNN or frozen DINO ViT),
slot_attention (+ SAVi predictor), decoder (spatial broadcast / DINOSAUR MLP), head (masks ->
boxes, depths, embeddings, objectness), checkpoint (config-checked IO).
"""
from occtrack_ros.models.detector.config import DetectorConfig
from occtrack_ros.models.detector.detector import ObjectDetector, load_detector
from occtrack_ros.models.detector.model import SlotVideoModel

__all__ = ["DetectorConfig", "ObjectDetector", "SlotVideoModel", "load_detector"]
