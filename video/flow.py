"""Optical flow between input frames, the warp it defines, and where it is reliable.

Flow is DIS (Kroeger et al. 2016, cv2.DISOpticalFlow) on the frames' luma: fast on a
CPU, and with a fixed preset the same numbers on every machine. A flow f from frame a
to frame b says a(p) ~ b(p + f(p)); warping b by it (warp(b, f)) brings b onto a's
pixel grid.
"""
import cv2
import numpy as np

from storage import atomic

# The metric's preset. Blending (video/consistency.py) uses the faster preset, so
# the metric does not score the blend against the very flow it was made with.
METRIC_PRESET = "medium"
BLEND_PRESET = "fast"
PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
           "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}

# Forward-backward consistency (Ruder et al. 2016, eq. 5): a pixel is reliable when
# |b(p) + f(p + b(p))|^2 < RELATIVE (|b(p)|^2 + |f(p + b(p))|^2) + ABSOLUTE.
CONSISTENCY_RELATIVE = 0.01
CONSISTENCY_ABSOLUTE = 0.5


def gray(frame):
    """uint8 luma [H, W] of an RGB frame in [0, 1] (or uint8)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = atomic.to_pixels(frame)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """DIS flow with a fixed preset (a key of PRESETS)."""

    def __init__(self, preset=METRIC_PRESET):
        if preset not in PRESETS:
            raise ValueError(f"Unknown DIS preset {preset!r}; expected one of "
                             f"{sorted(PRESETS)}.")
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])

    def __call__(self, frame_a, frame_b):
        """Flow [H, W, 2] (x, y) from frame_a to frame_b: a(p) ~ b(p + flow(p))."""
        return self._dis.calc(gray(frame_a), gray(frame_b), None)

    def backward_and_mask(self, previous, current):
        """(flow from current to previous, its reliability mask [H, W] bool): the warp
        that brings the previous frame (or its painting) onto the current one."""
        backward = self(current, previous)
        forward = self(previous, current)
        return backward, consistency_mask(backward, forward)


def _sample_points(flow):
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32),
                                 np.arange(height, dtype=np.float32))
    return grid_x + flow[..., 0], grid_y + flow[..., 1]


def warp(image, flow):
    """image sampled at p + flow(p) (bilinear, edges replicated): image [H, W, C]
    brought onto the grid of the frame the flow starts from."""
    map_x, map_y = _sample_points(flow)
    warped = cv2.remap(np.asarray(image, np.float32), map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return warped.reshape(np.shape(image))


def inside_mask(flow):
    """[H, W] bool: p + flow(p) lands inside the frame."""
    map_x, map_y = _sample_points(flow)
    height, width = flow.shape[:2]
    return (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)


def consistency_mask(backward, forward):
    """[H, W] bool: where the backward flow (current -> previous) is reliable by
    forward-backward consistency and lands inside the previous frame; occluded and
    disoccluded pixels fail it."""
    forward_there = warp(forward, backward)
    loop = backward + forward_there
    bound = (CONSISTENCY_RELATIVE * (np.sum(backward ** 2, axis=-1)
                                     + np.sum(forward_there ** 2, axis=-1))
             + CONSISTENCY_ABSOLUTE)
    return (np.sum(loop ** 2, axis=-1) < bound) & inside_mask(backward)
