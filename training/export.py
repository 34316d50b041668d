"""Exported models: the generator plus its style codes, loadable without the
training code's config.

An export is a folder holding `generator.keras` (the Keras model, loaded in safe
mode: no pickled code runs) and `styles.json` (style names and their codes). A run's
workdir holds its export in `<workdir>/export`.
"""
import json
import os
import tempfile

import keras
import numpy as np

from models import generator as generator_lib  # noqa: F401  (registers layers)
from training import summaries

GENERATOR_FILE = "generator.keras"
STYLES_FILE = "styles.json"


def export_generator(export_dir, generator, bank, style_names):
    """Writes the generator and style codes atomically into `export_dir`."""
    os.makedirs(export_dir, exist_ok=True)
    codes = np.asarray(bank.codes)
    styles = {"names": list(style_names), "codes": codes.tolist(),
              "code_dim": int(codes.shape[1]), "image_range": [0.0, 1.0]}
    # Keras picks the format from the suffix, so save to a .keras temporary name.
    handle, temporary = tempfile.mkstemp(dir=export_dir, prefix=".tmp_",
                                         suffix=".keras")
    os.close(handle)
    try:
        generator.save(temporary)
        os.replace(temporary, os.path.join(export_dir, GENERATOR_FILE))
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    summaries.write_json(os.path.join(export_dir, STYLES_FILE), styles)


def resolve_export_dir(path):
    """Accepts a run's workdir or an export folder; returns the export folder."""
    for candidate in (path, os.path.join(path, "export")):
        if os.path.isfile(os.path.join(candidate, GENERATOR_FILE)):
            return candidate
    raise ValueError(
        f"No exported model at {path!r}: expected {GENERATOR_FILE} and {STYLES_FILE} "
        f"in it or in its 'export' sub-folder (a run writes them when it finishes).")


def load_export(path):
    """Returns (generator, style_names, codes [num_styles, code_dim] float32)."""
    export_dir = resolve_export_dir(path)
    generator = keras.models.load_model(
        os.path.join(export_dir, GENERATOR_FILE), safe_mode=True, compile=False)
    with open(os.path.join(export_dir, STYLES_FILE)) as f:
        styles = json.load(f)
    return generator, styles["names"], np.asarray(styles["codes"], np.float32)
