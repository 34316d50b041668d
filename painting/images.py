"""Images in and out of painting: content loading, padding to the generator's stride,
colour preservation, and the grids of outputs."""
import os

import cv2
import numpy as np
import tensorflow as tf

from data import images as image_files
from models import generator as generator_lib

OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg")
# Smaller images (down to 1x1) are padded to this: G's reflection padding needs at
# least 2 pixels at 1/4 scale and 5 at full scale.
MIN_SIDE = 16


def load_image(path, what):
    """float32 RGB [H, W, 3] in [0, 1], or ValueError naming the file and its role."""
    if not os.path.isfile(path):
        raise ValueError(f"{what} {path!r} does not exist or is not a file.")
    problem = image_files.image_problem(path)
    if problem:
        raise ValueError(f"{what} {path!r} is not a readable image: {problem}.")
    try:
        return image_files.decode_image(path).numpy()
    except tf.errors.InvalidArgumentError as error:  # damage the checks did not see
        raise ValueError(f"{what} {path!r} cannot be decoded: "
                         f"{error.message.strip().splitlines()[-1]}") from error


def load_content(path, max_size=0):
    """The content image float32 [H, W, 3], downscaled so its long side is at most
    max_size (0: full size)."""
    return downscale(load_image(path, "Content file"), max_size)


def downscale(image, max_size=0):
    """The image downscaled (antialiased) so its long side is at most max_size (0:
    as it is)."""
    size = downscaled_size(image.shape[:2], max_size)
    if size != tuple(image.shape[:2]):
        image = np.clip(tf.image.resize(image, size, antialias=True).numpy(), 0, 1)
    return image


def downscaled_size(size, max_size=0):
    """(height, width) after downscale(image of that size, max_size)."""
    if not max_size or max(size) <= max_size:
        return tuple(size)
    scale = max_size / max(size)
    return tuple(max(1, round(side * scale)) for side in size)


def pad_to_stride(image):
    """(image padded (reflect) to multiples of STRIDE and at least MIN_SIDE,
    (height, width) to crop the painting back to)."""
    stride = generator_lib.STRIDE
    height, width = image.shape[:2]
    if height % stride == 0 and width % stride == 0 and min(height, width) >= MIN_SIDE:
        return image, (height, width)  # no copy: large images are large
    pad = [(0, max(-height % stride, MIN_SIDE - height)),
           (0, max(-width % stride, MIN_SIDE - width)), (0, 0)]
    mode = "reflect" if min(height, width) > stride else "edge"
    return np.pad(image, pad, mode=mode), (height, width)


def prepare_content(path, max_size=0):
    """load_content, then pad_to_stride: (image, (height, width) to crop back to)."""
    return pad_to_stride(load_content(path, max_size))


def preserve_color(content, output):
    """The output's luminance with the content's chroma (BT.601 YCbCr).

    RGB = Y * (1, 1, 1) + a linear function of (Cb, Cr), so swapping luminance is
    content + (Y_output - Y_content) on every channel.
    """
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    shift = output @ luma - content @ luma
    return np.clip(content + shift[..., None], 0.0, 1.0)


def tile_grid(tiles, gap=2):
    """Tiles [R, C, S, S, 3] -> one float32 image of R x C tiles with white gaps."""
    tiles = np.asarray(tiles, np.float32)
    rows, cols, size = tiles.shape[:3]
    grid = np.ones((rows * (size + gap) - gap, cols * (size + gap) - gap, 3), np.float32)
    for row in range(rows):
        for col in range(cols):
            top, left = row * (size + gap), col * (size + gap)
            grid[top:top + size, left:left + size] = tiles[row, col]
    return grid


def sample_grid(contents, styles, outputs, gap=2, names=None):
    """Content x style grid: the first row shows the style images, the first column
    the contents, cell (i, j) the output for content i in style j; white top-left.
    With `names`, a white strip above the grid names each style column.

    Args:
      contents: [K, S, S, 3]; styles: [N, S, S, 3]; outputs: [K, N, S, S, 3];
      names: None or N style names.
    """
    contents, styles, outputs = (np.asarray(a, np.float32)
                                 for a in (contents, styles, outputs))
    header = np.concatenate([np.ones_like(styles[:1]), styles])[None]
    body = np.concatenate([contents[:, None], outputs], axis=1)
    grid = tile_grid(np.concatenate([header, body]), gap)
    if names is None:
        return grid
    if len(names) != len(styles):
        raise ValueError(f"sample_grid got {len(names)} names for {len(styles)} "
                         f"styles.")
    size = styles.shape[1]
    strip = np.full((NAME_STRIP_HEIGHT + gap, grid.shape[1], 3), 255, np.uint8)
    for column, name in enumerate(names, start=1):
        _put_name(strip, name, left=column * (size + gap), width=size)
    return np.concatenate([strip.astype(np.float32) / 255.0, grid])


# The strip above a sample grid that names its styles, and its Hershey font (ASCII).
NAME_STRIP_HEIGHT = 14
NAME_FONT, NAME_SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.35


def _text_width(text):
    return cv2.getTextSize(text, NAME_FONT, NAME_SCALE, 1)[0][0]


def _put_name(strip, name, left, width):
    """Draws `name` in black on the uint8 `strip` (cv2.putText draws on 8 bits only),
    centred over [left, left + width) and shortened with '..' to fit it."""
    text = str(name).encode("ascii", "replace").decode()
    if _text_width(text) > width - 2:
        while text and _text_width(text + "..") > width - 2:
            text = text[:-1]
        text += ".."
    text_width, text_height = cv2.getTextSize(text, NAME_FONT, NAME_SCALE, 1)[0]
    origin = (left + max(0, (width - text_width) // 2),
              (NAME_STRIP_HEIGHT + text_height) // 2)
    cv2.putText(strip, text, origin, NAME_FONT, NAME_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
