"""config.eval in a run: evaluation/during_training.py's numbers as eval/... scalars
every eval.every steps and at the last step, on the chief only.

The reference (held-out photos, style targets, style classifier) is prepared once when
the run starts; it depends only on the data and the seed, so a resumed run measures
against the same one.
"""
import os
import time

import numpy as np
from absl import logging

from data import images, pipeline
from evaluation import during_training, style_reference
import painting
from storage import workdir as workdir_lib
from training import summaries


def content_dir(eval_config, data_config, data_root):
    """eval.content_dir, or the demo data's held-out photos under `data_root`."""
    if eval_config.content_dir:
        return eval_config.content_dir
    if data_config.demo:
        return workdir_lib.demo_eval_content_dir(data_root)
    raise ValueError("eval.content_dir is empty; expected a folder of held-out photos "
                     "(none of them in data.content_dir) when eval.every > 0.")


def held_out_photos(eval_config, data_config, data_root):
    """The first eval.num_contents readable photos of the eval folder, refused if any
    of them is also a training photo."""
    folder = content_dir(eval_config, data_config, data_root)
    files = images.keep_readable_images(images.list_images(folder), folder)
    files = files[:eval_config.num_contents]
    if not data_config.tfrecords:
        training = {os.path.realpath(path)
                    for path in images.list_images(data_config.content_dir)}
        shared = [path for path in files if os.path.realpath(path) in training]
        if shared:
            raise ValueError(f"eval.content_dir={folder!r} holds training photos of "
                             f"data.content_dir ({shared[0]}, ...); expected held-out "
                             f"photos the run does not train on.")
    return files


class InTrainingEvaluation:
    """Prepared once; run(models, step) evaluates and writes the eval/... scalars."""

    def __init__(self, config, data_config, data_root, feature_extractor):
        started = time.perf_counter()
        self.every, self.num_steps = config.eval.every, config.train.num_steps
        self.features = style_reference.Features(
            feature_extractor, config.vgg.content_layers, config.vgg.style_layers)
        photos = held_out_photos(config.eval, data_config, data_root)
        self.reference = during_training.prepare(
            self.features, photos, pipeline.style_files_from_config(data_config), data_config.image_size,
            data_config.style_resize or data_config.image_size,
            config.eval.crops_per_style, config.eval.fusion_contents, config.seed)
        logging.info("Evaluation during training: %d held-out photos x %d styles, "
                     "prepared in %.1f s.", len(photos),
                     len(self.reference.grams[0]), time.perf_counter() - started)

    def due(self, step):
        return step % self.every == 0 or step == self.num_steps

    def run(self, models, step):
        """Evaluates `models` (G and the style bank) and logs eval/<name>; returns the
        values, with eval/seconds the wall time of this evaluation."""
        started = time.perf_counter()

        def paint(contents, codes):
            return painting.paint_batch(models.generator, contents, codes)

        num_styles = len(self.reference.grams[0])
        codes = np.asarray(models.bank(np.arange(num_styles, dtype=np.int32)))
        values = during_training.evaluate(paint, codes, self.reference, self.features)
        values["seconds"] = time.perf_counter() - started
        scalars = {f"eval/{name}": value for name, value in values.items()}
        summaries.write_scalars(scalars, step)
        logging.info("eval at step %d: %s", step, ", ".join(
            f"{name} {value:.4g}" for name, value in values.items()))
        return scalars


def from_config(config, data_config, data_root, feature_extractor):
    """An InTrainingEvaluation when eval.every > 0, else None."""
    if config.eval.every == 0:
        return None
    return InTrainingEvaluation(config, data_config, data_root, feature_extractor)
