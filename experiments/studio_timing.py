r"""The studio's speed on this machine: the 256-pixel preview and the full-size render
of a 2048x2048 photo, through the page's own callbacks (studio.Studio).

    python -m experiments.studio_timing --model=runs/quickstart

Prints the median preview latency over --repeats previews (after one untimed warm-up
that traces the generator) and the time of one full render (whole when the memory
allows, else tiled, as the page paints it). Report the load
average beside them: on a shared machine the numbers move with it.
"""
import os
import time

import environment  # noqa: F401  (first: TensorFlow's logging set-up)

import numpy as np
import tensorflow as tf
from absl import app, flags

import painting
import studio

_MODEL = flags.DEFINE_string("model", None, "A run's workdir or its export folder.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed previews.")
_RENDER_SIDE = flags.DEFINE_integer("render_side", 2048, "Side of the rendered photo.")


def timings(studio_model, photo, repeats, render_side):
    """{"preview_ms": median, "preview_size", "render_seconds", "render_size"}."""
    names = list(studio_model.painter.names[:2]) + [None] * (studio.MAX_STYLES - 2)
    settings = studio.Settings(names=names, uploads=[None] * studio.MAX_STYLES,
                               weights=[40, 60, 50, 50])
    painted, _ = studio_model.preview(photo, settings)  # warm-up: traces G
    seconds = [studio_model.preview(photo, settings)[1] for _ in range(repeats)]
    large = np.clip(tf.image.resize(photo, (render_side, render_side),
                                    antialias=True).numpy(), 0.0, 1.0)
    started = time.perf_counter()
    os.remove(studio_model.render(large, settings))
    return {"preview_ms": 1000 * float(np.median(seconds)),
            "preview_size": painted.shape[:2],
            "render_seconds": time.perf_counter() - started,
            "render_size": (render_side, render_side)}


def main(argv):
    del argv
    studio_model = studio.Studio(painting.load(_MODEL.value), _MODEL.value)
    photo = painting.load_content(studio_model.photos[0])
    result = timings(studio_model, photo, _REPEATS.value, _RENDER_SIDE.value)
    print(f"model {_MODEL.value}; photo {os.path.basename(studio_model.photos[0])}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"preview {result['preview_size'][1]}x{result['preview_size'][0]}: median "
          f"{result['preview_ms']:.0f} ms over {_REPEATS.value}")
    print(f"render {_RENDER_SIDE.value}x{_RENDER_SIDE.value}: "
          f"{result['render_seconds']:.1f} s")


if __name__ == "__main__":
    flags.mark_flag_as_required("model")
    app.run(main)
