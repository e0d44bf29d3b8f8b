"""Learned models: the slot-attention object detector (``detector``) and depth/pose nets (``depth_pose``)."""
