"""Painting with a trained model: one library for every front end (stylize.py, the
figures, the evaluator, the export's checks).

    import painting
    painter = painting.load("runs/quickstart")      # a workdir or an export folder
    plan = painter.plan(styles=["swirls", "mosaic"], masks=["left", "right"])
    painted = painter.paint(painting.load_content("photo.jpg"), plan)
    painting.write_image("out.png", painted)

Modules: loading (export or checkpoint -> model), plan (styles -> code fields),
masks (spatial fusion), painter (code fields -> pixels, whole or tiled), tiling (exact
tiles), images (content in, PNG/JPEG out), files (files and folders in one run),
errors (UsageError: an option that cannot work; scripts exit 2 for it).
"""
from painting.errors import UsageError
from painting.files import BatchError, check_outputs, list_contents, paint_files
from painting.calibration import Calibration
from painting.images import (downscale_short_side, load_content, pad_to_stride, prepare_content,
                             preserve_color, sample_grid, tile_grid)
from painting.loading import StyleSource, find_run_config, load_export
from painting.painter import Painter, load, paint_batch
from painting.masks import painted_masks
from painting.plan import CodeField, FusionPlan, make_plan
from storage.atomic import write_image

__all__ = ["BatchError", "Calibration", "CodeField", "FusionPlan", "Painter", "StyleSource",
           "UsageError", "check_outputs", "downscale_short_side", "find_run_config", "list_contents", "load",
           "load_content", "load_export", "make_plan", "pad_to_stride", "paint_batch", "painted_masks",
           "paint_files", "prepare_content", "preserve_color", "sample_grid",
           "tile_grid", "write_image"]
