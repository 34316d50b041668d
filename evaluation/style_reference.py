"""What a style is measured against: image loading, crops and tiles, per-style Gram
targets and the style classifier, over any VGG feature model.

Shared by the evaluation during training (evaluation/during_training.py) and meant
for evaluate.py's evaluator, so both measure styles the same way.
"""
import numpy as np
import tensorflow as tf

from data import images as images_lib
from evaluation import classifier as classifier_lib, metrics
from losses import perceptual


class Features:
    """A VGG feature model ({layer: features}) with the content and style layer lists
    the metrics read."""

    def __init__(self, model, content_layers, style_layers):
        self.model = model
        self.content_layers = list(content_layers)
        self.style_layers = list(style_layers)

    def __call__(self, images):
        features = self.model(tf.convert_to_tensor(images, tf.float32))
        # float32 whatever the model's compute precision (mixed-precision runs).
        return {name: tf.cast(value, tf.float32) for name, value in features.items()}

    def style_features(self, features):
        return [features[name] for name in self.style_layers]

    def content_features(self, features):
        return [features[name] for name in self.content_layers]

    def grams(self, images):
        """perceptual.gram_matrices of the style layers of `images`."""
        return perceptual.gram_matrices(self.style_features(self(images)))

    def statistics_vectors(self, images, batch_size=64):
        """metrics.statistics_vectors over the style layers, in batches."""
        return np.concatenate([
            metrics.statistics_vectors(self.style_features(self(images[i:i + batch_size])))
            for i in range(0, len(images), batch_size)])


def random_crops(image, crop_size, count, random_state):
    """`count` random crop_size squares of an [H, W, 3] image, half of them flipped."""
    height, width = image.shape[:2]
    crops = []
    for _ in range(count):
        top = random_state.randint(0, height - crop_size + 1)
        left = random_state.randint(0, width - crop_size + 1)
        crop = image[top:top + crop_size, left:left + crop_size]
        crops.append(crop[:, ::-1] if random_state.rand() < 0.5 else crop)
    return crops


def crops_of_files(files, count, resize, crop_size, random_state):
    """`count` random crops spread evenly over `files` (round robin)."""
    crops = []
    per_file = [count // len(files) + (i < count % len(files)) for i in range(len(files))]
    for path, number in zip(files, per_file):
        if number:
            image = np.asarray(images_lib.resize_short_side(images_lib.decode_image(path),
                                                            resize))
            crops.extend(random_crops(image, crop_size, number, random_state))
    return crops


def tiles(images, crop_size):
    """Non-overlapping crop_size tiles of images [B, S, S, 3] -> ([B * n * n, ...], n * n),
    n = S // crop_size, tiles of one image consecutive."""
    images = np.asarray(images)
    count = images.shape[1] // crop_size
    cropped = images[:, :count * crop_size, :count * crop_size]
    grid = cropped.reshape(len(images), count, crop_size, count, crop_size, 3)
    return grid.transpose(0, 1, 3, 2, 4, 5).reshape(-1, crop_size, crop_size, 3), \
        count * count


def mean_grams(features, files_per_style, resize, size):
    """Per style layer, [num_styles, C, C]: each style's Gram matrices averaged over
    its images, each resized to `resize` and centre-cropped to `size`."""
    per_style = []
    for files in files_per_style:
        images = images_lib.center_squares(files, resize, size)
        per_style.append([tf.reduce_mean(gram, axis=0) for gram in features.grams(images)])
    return [tf.stack(layer) for layer in zip(*per_style)]


def fit_style_classifier(features, files_per_style, crops_per_style, resize, crop_size,
                         random_state):
    """The style classifier trained on `crops_per_style` random crops of each style."""
    crops, labels = [], []
    for style_id, files in enumerate(files_per_style):
        new = crops_of_files(files, crops_per_style, resize, crop_size, random_state)
        crops.extend(new)
        labels.extend([style_id] * len(new))
    vectors = features.statistics_vectors(np.stack(crops))
    return classifier_lib.fit(vectors, labels, len(files_per_style))


def tile_posteriors(classifier, features, outputs, crop_size):
    """Classifier posteriors [B, K] of outputs [B, S, S, 3]: the mean over each
    output's crop_size tiles, so outputs are judged at the crops' scale."""
    tile_images, tiles_per_image = tiles(outputs, crop_size)
    return classifier.probabilities(features.statistics_vectors(tile_images)).reshape(
        len(outputs), tiles_per_image, -1).mean(axis=1)


def mean_ignoring_nan(values):
    """Mean ignoring NaN (a constant curve has no Spearman); NaN if all are NaN."""
    values = np.asarray(list(values), np.float64)
    return float(np.nanmean(values)) if np.any(np.isfinite(values)) else float("nan")
