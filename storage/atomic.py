"""Outputs written atomically: a reader sees the old file or the whole new one, never
a part, and files get the permissions open() would give them (the umask)."""
import csv
import io
import json
import os
import tempfile

import cv2
import numpy as np


def umask():
    """The process's umask (reading it means setting it, so it is set back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path, data):
    """Writes bytes to `path` via a temporary file + rename: never half-written."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp_")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        # mkstemp creates 0600; give the file the permissions open() would.
        os.chmod(temporary, 0o666 & ~umask())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_json(path, value):
    write_atomically(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def write_csv(path, rows):
    """Writes a list of dicts (one per row, same keys) as CSV with a header line."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, buffer.getvalue().encode())


def to_pixels(image):
    """A float [0, 1] image -> uint8, rounded to the nearest level: the pixels every
    written image, video frame and page preview holds."""
    return np.clip(np.multiply(image, 255.0, dtype=np.float32) + 0.5, 0, 255).astype(
        np.uint8)


def write_image(path, image):
    """A float [0, 1] RGB image -> PNG or JPEG (by the extension), atomically."""
    pixels = np.empty(np.shape(image), np.uint8)
    # In blocks of rows: one float copy of a 4096x4096 image is 200 MB.
    for start in range(0, len(pixels), 256):
        pixels[start:start + 256] = to_pixels(image[start:start + 256])
    extension = os.path.splitext(path)[1].lower()
    parameters = [cv2.IMWRITE_JPEG_QUALITY, 95] if extension != ".png" else []
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR),
                               parameters)
    if not ok:
        raise ValueError(f"Could not encode an image of shape {pixels.shape} as "
                         f"{extension}.")
    write_atomically(path, encoded.tobytes())
