"""Temporal consistency at inference: per-frame steps that make a painted video
flicker less, each switchable (ConsistencyOptions) and all run by ConsistentPainter.

- Stabilised normalisation statistics (statistics_decay > 0). Instance norm
  recomputes each frame's per-channel mean and variance, and their jitter from frame
  to frame is a large part of the flicker. Every conditional norm instead normalises
  by an exponential moving average over time of its own statistics,
      s_t = d s_{t-1} + (1 - d) s(frame t),
  through the per-layer statistics input exact tiling uses
  (ConditionalInstanceNorm's `statistics`). Norm k's statistics are measured on
  features that already went through the smoothed norms 0..k-1, in one pass of G.
- Flow-guided blending (flow_blend = a > 0). The previous output, warped onto the
  current frame by DIS flow computed on the input frames, is blended in where the
  flow passes the forward-backward consistency check (Ruder et al. 2016; ReCoNet):
      O_t = (1 - a M_t) G(x_t) + a M_t W(O_{t-1}).
- Both restart at a shot cut, detected from the change of the frame's luma histogram
  (half the L1 distance of the normalised histograms, in [0, 1]): across a cut, the
  previous frame's statistics and pixels belong to another shot.
The third mechanism, the temporal loss, is trained into G (losses/temporal.py).
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from models import generator as generator_lib
from painting import images
from video import flow as flow_lib
from video import io as video_io
from video.paint_video import PerFrame, paint_frame

HISTOGRAM_BINS = 32


@dataclasses.dataclass
class ConsistencyOptions:
    statistics_decay: float = 0.0  # d: weight of the past statistics; 0 = per frame
    flow_blend: float = 0.0        # a: weight of the warped previous output; 0 = off
    cut_threshold: float = 0.5     # histogram change above which a shot cut is seen
    flow_preset: str = flow_lib.BLEND_PRESET

    def check(self):
        """ValueError naming the first option out of range."""
        for name in ("statistics_decay", "flow_blend"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value} must be in [0, 1) (0 turns it off).")
        if not 0.0 < self.cut_threshold <= 1.0:
            raise ValueError(f"cut_threshold={self.cut_threshold} must be in (0, 1] "
                             f"(1 never sees a cut).")
        if self.flow_preset not in flow_lib.PRESETS:
            raise ValueError(f"flow_preset={self.flow_preset!r} must be one of "
                             f"{sorted(flow_lib.PRESETS)}.")


# --------------------------------------------------------------------------- shot cuts


def luma_histogram(frame):
    """Normalised luma histogram [HISTOGRAM_BINS] of an RGB frame."""
    counts = np.bincount(flow_lib.gray(frame).ravel() // (256 // HISTOGRAM_BINS),
                         minlength=HISTOGRAM_BINS)
    return counts / counts.sum()


class CutDetector:
    """is_cut(frame): whether the frame starts a new shot (histogram change above the
    threshold); the first frame is one."""

    def __init__(self, threshold):
        self.threshold = threshold
        self._previous = None
        self.last_change = None

    def is_cut(self, frame):
        histogram = luma_histogram(frame)
        previous, self._previous = self._previous, histogram
        if previous is None:
            self.last_change = None
            return True
        self.last_change = 0.5 * float(np.abs(histogram - previous).sum())
        return self.last_change > self.threshold


# --------------------------------------------------------------------------- statistics


@dataclasses.dataclass
class SmoothedStatisticsModel:
    """G with smoothed norm statistics, one pass:
    [image, code, fine_code, decay [B, 1, 1, 1], mean_0, variance_0, ...] ->
    [image, mean_0, variance_0, ...]: norm k normalises by
    decay * (given statistics k) + (1 - decay) * (its input's own), and returns them.
    Decay 0 is G itself (the given statistics are ignored)."""
    model: keras.Model
    channels: list  # channels of each norm, in order


def build_smoothed_statistics_model(generator):
    """SmoothedStatisticsModel sharing G's layers (and weights)."""
    code_dim = generator.inputs[1].shape[-1]
    inputs = [keras.Input((None, None, 3), name="image"),
              keras.Input((None, None, code_dim), name="code"),
              keras.Input((None, None, code_dim), name="fine_code"),
              keras.Input((1, 1, 1), name="decay")]
    decay = inputs[3]
    given, used, channels = [], [], []

    def call(layer, *args, **kwargs):
        if not isinstance(layer, generator_lib.ConditionalInstanceNorm):
            return layer(*args, **kwargs)
        x = args[0][0]
        channels.append(x.shape[-1])
        previous = (keras.Input((1, 1, x.shape[-1]), name=f"{layer.name}_mean"),
                    keras.Input((1, 1, x.shape[-1]), name=f"{layer.name}_variance"))
        own = ops.moments(x, axes=[1, 2], keepdims=True)
        smoothed = tuple(decay * old + (1.0 - decay) * new
                         for old, new in zip(previous, own))
        given.extend(previous)
        used.extend(smoothed)
        return layer(*args, statistics=smoothed, **kwargs)

    # Private Keras API, as in models.generator.build_statistics_models.
    output = generator._run_through_graph(inputs[:3], operation_fn=lambda layer: layer,
                                          call_fn=call)
    model = keras.Model(inputs + given, [output] + used,
                        name=f"{generator.name}_smoothed_statistics")
    return SmoothedStatisticsModel(model, channels)


class StatisticsSmoother:
    """Paints frames with statistics smoothed over time (decay d)."""

    def __init__(self, generator, decay):
        self.generator, self.decay = generator, decay
        smoothed = build_smoothed_statistics_model(generator)
        self.channels = smoothed.channels
        self._paint = tf.function(lambda inputs: smoothed.model(inputs, training=False),
                                  reduce_retracing=True)
        self.statistics = None

    def paint(self, image, coarse, fine, restart):
        """The painted image [H, W, 3] (H, W multiples of STRIDE) for code fields."""
        height, width = image.shape[:2]
        code = coarse.code_map(0, 0, height, width)
        fine_code = code if fine is None else fine.code_map(0, 0, height, width)
        if restart or self.statistics is None:
            decay = 0.0
            self.statistics = [tf.zeros((1, 1, 1, c)) for c in self.channels
                               for _ in range(2)]
        else:
            decay = self.decay
        outputs = self._paint([tf.constant(image[None]), code, fine_code,
                               tf.fill((1, 1, 1, 1), decay), *self.statistics])
        self.statistics = list(outputs[1:])
        return np.asarray(outputs[0])[0]


class StabilisedStatistics:
    """A frame painter (video.paint_video.FramePainter): (painter, frame, plan) ->
    the frame painted whole with smoothed norm statistics, restarted at shot cuts.
    Every frame is painted whole, in one pass of G (a 1280x720 frame of the base G
    needs ~1 GB)."""

    def __init__(self, decay, cut_threshold=0.5):
        self.decay = decay
        self.cuts = CutDetector(cut_threshold)
        self._smoother = None
        self.cut_frames = []
        self._index = 0

    def reset(self):
        self.cuts = CutDetector(self.cuts.threshold)
        self.cut_frames, self._index = [], 0
        if self._smoother is not None:
            self._smoother.statistics = None

    def __call__(self, painter, frame, plan):
        if self._smoother is None or self._smoother.generator is not painter.generator:
            self._smoother = StatisticsSmoother(painter.generator, self.decay)
        restart = self.cuts.is_cut(frame.image)
        if restart:
            self.cut_frames.append(self._index)
        self._index += 1
        padded, (height, width) = images.pad_to_stride(frame.image)
        coarse, fine = painter.fields(frame.image, plan)
        return self._smoother.paint(padded, coarse, fine, restart)[:height, :width]


# --------------------------------------------------------------------------- flow


class FlowBlend:
    """A frame filter (video.paint_video.FrameFilter): (frame, painted) ->
    (1 - a M) painted + a M W(previous output), with the flow W and its reliability
    M from the input frames; restarted at shot cuts."""

    def __init__(self, strength, cut_threshold=0.5, preset=flow_lib.BLEND_PRESET):
        self.strength = strength
        self.flow = flow_lib.FlowEstimator(preset)
        self.cuts = CutDetector(cut_threshold)
        self.reset()

    def reset(self):
        self.cuts = CutDetector(self.cuts.threshold)
        self._previous_input = self._previous_output = None
        self.reliable = []  # the fraction of reliable pixels of each blended frame

    def __call__(self, frame, painted):
        restart = self.cuts.is_cut(frame.image)
        if not restart and self._previous_input is not None:
            backward, mask = self.flow.backward_and_mask(self._previous_input,
                                                         frame.image)
            weight = (self.strength * mask.astype(np.float32))[..., None]
            warped = flow_lib.warp(self._previous_output, backward)
            painted = (1.0 - weight) * painted + weight * warped
            self.reliable.append(float(mask.mean()))
        self._previous_input, self._previous_output = frame.image, painted
        return painted


# --------------------------------------------------------------------------- together


def make_hooks(options):
    """(frame painter or None for per-frame painting, [frame filters]) of options:
    what video.paint_video takes as frame_painter and filters."""
    options.check()
    frame_painter = (StabilisedStatistics(options.statistics_decay,
                                          options.cut_threshold)
                     if options.statistics_decay > 0 else None)
    filters = ([FlowBlend(options.flow_blend, options.cut_threshold,
                          options.flow_preset)] if options.flow_blend > 0 else [])
    return frame_painter, filters


class ConsistentPainter:
    """Paints consecutive frames of one video with the options' mechanisms, as
    video.paint_video's loop does (frame painter, colour, filters):

        consistent = ConsistentPainter(painter, ConsistencyOptions(0.9, 0.5))
        for image in frames: out = consistent.paint(image, plan)

    With every option off, paint() is painter.paint().
    """

    def __init__(self, painter, options):
        self.painter, self.options = painter, options
        self.frame_painter, self.filters = make_hooks(options)
        self._index = 0

    @property
    def cut_frames(self):
        """The frames where smoothed statistics restarted."""
        return [] if self.frame_painter is None else self.frame_painter.cut_frames

    def paint(self, image, plan, preserve_color=False):
        """The painting [H, W, 3] of the next frame [H, W, 3] in [0, 1]."""
        frame = video_io.Frame(self._index, None, image)
        self._index += 1
        painted = paint_frame(self.painter, frame, plan, self.frame_painter or PerFrame(),
                              self.filters, preserve_color)
        return np.clip(painted, 0.0, 1.0).astype(np.float32)
