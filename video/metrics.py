"""Temporal consistency metrics of a painted video, against its input video.

Warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency", eq. 8):

    E_warp = mean over t >= 1 of
             sum_p M_t(p) ||O_t(p) - W(O_{t-1})(p)||^2 / sum_p M_t(p)

O are the output frames (RGB in [0, 1]); W warps by the backward flow computed on
the INPUT frames I_t -> I_{t-1} with DIS (video.flow.METRIC_PRESET); M_t is 1 where
that flow passes the forward-backward consistency check and lands inside the frame.
||.||^2 sums the squares over the colour channels, as in the paper.
Flow error gives the input video itself a floor: only the excess of an output over
the input's E_warp is flicker.

Frames arrive one at a time (a stream); nothing keeps more than the previous frame.
"""
import numpy as np

from video import flow as flow_lib


def frame_warping_error(current, previous, backward_flow, mask):
    """sum_p M(p) ||current(p) - W(previous)(p)||^2 / sum_p M(p); 0 when no pixel is
    reliable."""
    mask = np.asarray(mask, np.float64)
    if mask.sum() == 0:
        return 0.0
    difference = (np.asarray(current, np.float64)
                  - flow_lib.warp(previous, backward_flow).astype(np.float64))
    squared = np.sum(difference ** 2, axis=-1)
    return float(np.sum(mask * squared) / mask.sum())


class WarpingError:
    """E_warp of several output streams of one input video, frame by frame.

        metric = WarpingError(["input", "per_frame"])
        for frame, outputs in ...: metric.add(frame, {"input": frame, ...})
        metric.values()  # {"input": E_warp, "per_frame": E_warp}

    The flow and mask of each frame pair are computed once for every stream.
    """

    def __init__(self, names, preset=flow_lib.METRIC_PRESET):
        self.flow = flow_lib.FlowEstimator(preset)
        self.names = list(names)
        self.errors = {name: [] for name in self.names}
        self._previous_input = None
        self._previous_outputs = None

    def add(self, input_frame, outputs):
        """Adds frame t: the input [H, W, 3] and {name: output [H, W, 3]}."""
        if self._previous_input is not None:
            backward, mask = self.flow.backward_and_mask(self._previous_input,
                                                         input_frame)
            for name in self.names:
                self.errors[name].append(frame_warping_error(
                    outputs[name], self._previous_outputs[name], backward, mask))
        self._previous_input = input_frame
        self._previous_outputs = {name: outputs[name] for name in self.names}

    def values(self):
        """{name: E_warp} (NaN before two frames)."""
        return {name: float(np.mean(errors)) if errors else float("nan")
                for name, errors in self.errors.items()}


def mean_absolute_change(frames):
    """Mean absolute frame-to-frame difference, one value per t >= 1: the flicker a
    viewer sees, without any flow."""
    return [float(np.mean(np.abs(np.asarray(b, np.float64) - np.asarray(a, np.float64))))
            for a, b in zip(frames[:-1], frames[1:])]
