"""Fusion over time: style weights and strength set at keyframes, interpolated per frame.

Syntax (the --keyframes flag of stylize.py):

    TIME:STYLE[:WEIGHT][,STYLE[:WEIGHT]...][@STRENGTH] ; TIME:... ; ...

    0s:starry;4s:starry:0.5,wave:0.5;8s:wave
    0s:starry@0.3;2.5s:starry@1;100f:wave:3,starry:1

- TIME is seconds (`4s`, `2.5s`) or a frame number (`100f`, at the video's frame
  rate), measured from the start of the video (a --start preview keeps the timing);
  keyframe times increase strictly.
- STYLE is a style of the model or a style image path; WEIGHT (default 1) is its
  share, the weights of a keyframe are normalised to sum 1, and a style a keyframe
  does not name has weight 0 there.
- STRENGTH in [0, 1] (default 1) is painting.plan's strength.

Between two keyframes weights and strength change linearly in time; before the first
and after the last they hold. All fusion stays in code space: each frame's weights
mix the styles' codes (models.style.mix), as for images.
"""
import dataclasses
import re

import numpy as np

from painting import plan as plan_lib
from painting.errors import UsageError

_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([sf])\s*$")


@dataclasses.dataclass
class Keyframes:
    """Keyframes resolved to times: styles (names or paths, in first-mention order),
    times [N] seconds, weights [N, K] (rows sum to 1), strengths [N]."""
    styles: list
    times: np.ndarray
    weights: np.ndarray
    strengths: np.ndarray

    def at(self, time):
        """(weights [K], strength) at `time` seconds, linearly interpolated."""
        weights = np.array([np.interp(time, self.times, column)
                            for column in self.weights.T], np.float64)
        strength = float(np.interp(time, self.times, self.strengths))
        return (weights / weights.sum()).astype(np.float32), strength


def _parse_time(text, fps, keyframes):
    match = _TIME.match(text)
    if not match:
        raise UsageError(f"--keyframes {keyframes!r}: keyframe time {text!r} must be "
                         f"seconds like '4s' or a frame number like '100f'.")
    value, unit = float(match.group(1)), match.group(2)
    return value if unit == "s" else value / fps


def _parse_number(text, what, keyframes):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise UsageError(f"--keyframes {keyframes!r}: {what} {text!r} is not a number.")
    return value


def _parse_styles(text, keyframes):
    """'a:0.5,b:0.5@0.7' -> ([(a, 0.5), (b, 0.5)], 0.7)."""
    styles_text, _, strength_text = text.partition("@")
    strength = (1.0 if not strength_text
                else _parse_number(strength_text, "strength", keyframes))
    if not 0.0 <= strength <= 1.0:
        raise UsageError(f"--keyframes {keyframes!r}: strength {strength_text!r} must "
                         f"be in [0, 1].")
    styles = []
    for spec in styles_text.split(","):
        if not spec.strip():
            raise UsageError(f"--keyframes {keyframes!r}: a keyframe names an empty "
                             f"style; expected TIME:STYLE[:WEIGHT][,...][@STRENGTH].")
        name, weight = plan_lib.parse_style_spec(spec.strip())
        if weight < 0 or not np.isfinite(weight):
            raise UsageError(f"--keyframes {keyframes!r}: weight {weight} of {name!r} "
                             f"must be a number >= 0.")
        styles.append((name, weight))
    if sum(weight for _, weight in styles) <= 0:
        raise UsageError(f"--keyframes {keyframes!r}: the keyframe {text!r} has no "
                         f"positive weight.")
    return styles, strength


def parse_keyframes(keyframes, fps):
    """The Keyframes of a --keyframes string for a video at `fps` frames per second.

    Raises:
      UsageError: one sentence quoting the string and saying what is wrong.
    """
    entries = [entry for entry in str(keyframes).split(";") if entry.strip()]
    if not entries:
        raise UsageError(f"--keyframes {keyframes!r} has no keyframe; expected e.g. "
                         f"'0s:starry;4s:starry:0.5,wave:0.5;8s:wave'.")
    parsed = []
    for entry in entries:
        time_text, separator, styles_text = entry.partition(":")
        if not separator:
            raise UsageError(f"--keyframes {keyframes!r}: keyframe {entry.strip()!r} "
                             f"needs TIME:STYLE, e.g. '4s:starry'.")
        parsed.append((_parse_time(time_text, fps, keyframes),
                       *_parse_styles(styles_text, keyframes)))
    times = [time for time, _, _ in parsed]
    if any(later <= earlier for earlier, later in zip(times, times[1:])):
        raise UsageError(f"--keyframes {keyframes!r}: keyframe times must increase "
                         f"strictly (got {', '.join(f'{t:g}s' for t in times)}).")
    names = list(dict.fromkeys(name for _, styles, _ in parsed for name, _ in styles))
    weights = np.zeros((len(parsed), len(names)), np.float64)
    for row, (_, styles, _) in enumerate(parsed):
        for name, weight in styles:
            weights[row, names.index(name)] += weight
    weights /= weights.sum(axis=1, keepdims=True)
    return Keyframes(names, np.array(times, np.float64), weights,
                     np.array([strength for _, _, strength in parsed], np.float64))
