"""Whole or tiled: the memory a whole painting needs, against the memory available.

Tiling is exact (painting.tiling) but costs about (number of norms / 2 + 1) untiled
paintings, so an image is painted whole whenever that fits. The need is estimated per
pixel from the generator's first-layer width: traced fp32 paintings measured 29 bytes
per pixel per unit of width (small, width 16: 442-466 B/pixel at 640x360 and
1280x720; base, width 32: 889-890), and a spatial (masked) code field adds its code
maps at every layer's resolution (a 512x512 blend peaked 0.9 GB above a uniform one).
"""
import os

import keras

BYTES_PER_PIXEL_PER_WIDTH = 29
SPATIAL_BYTES_PER_PIXEL = 3600
# The estimate is doubled, and a whole painting may take half of what is available:
# other programs (and the encoder of a video) need memory too.
SAFETY = 2.0
BUDGET_SHARE = 0.5


def first_layer_width(generator):
    """Channels of the generator's first convolution (its full-resolution width)."""
    for layer in generator.layers:
        if isinstance(layer, keras.layers.Conv2D):
            return layer.filters
    raise ValueError(f"{generator.name} has no convolution.")


def whole_painting_bytes(generator, height, width, spatial=False):
    """Estimated peak bytes of painting a height x width image whole."""
    per_pixel = BYTES_PER_PIXEL_PER_WIDTH * first_layer_width(generator)
    if spatial:
        per_pixel += SPATIAL_BYTES_PER_PIXEL
    return SAFETY * per_pixel * height * width


def _read_int(path):
    try:
        with open(path) as f:
            text = f.read().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None


def available_bytes():
    """Memory this process may still use: the system's MemAvailable, lowered by a
    cgroup (v2 or v1) limit when one is set."""
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    if available is None:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    for limit_file, usage_file in (
            ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
             "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:
            available = min(available, max(limit - usage, 0))
    return available


def fits_whole(generator, height, width, spatial=False, available=None):
    """True when painting the image whole fits the memory budget."""
    available = available_bytes() if available is None else available
    return whole_painting_bytes(generator, height, width, spatial) <= (
        BUDGET_SHARE * available)
