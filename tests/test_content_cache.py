"""The content cache (data/pipeline.py content_cache_loader): decoded contents are
kept in memory below a budget, give the same stream as decoding at every step, and
the log says the budget and whether the set fits."""
import logging

import numpy as np
import pytest

from data import pipeline
from tests.helpers import random_image, write_image
from training import defaults


@pytest.fixture
def folders(tmp_path):
    content, styles = tmp_path / "content", tmp_path / "styles"
    for index, (height, width) in enumerate([(40, 60), (50, 50), (36, 48), (64, 40)]):
        write_image(content / f"photo{index}.png", random_image(height, width, 3, index))
    write_image(styles / "one.png", random_image(40, 40, 3, seed=9))
    write_image(styles / "two.png", random_image(40, 40, 3, seed=10))
    return str(content), str(styles)


def contents(folders, count=6, **kwargs):
    dataset, _ = pipeline.make_dataset(*folders, image_size=32, global_batch_size=3,
                                       seed=5, start_index=7, **kwargs)
    return np.concatenate([batch["content"] for batch in
                           dataset.take(count).as_numpy_iterator()])


def test_cached_contents_give_the_same_stream_as_decoding(folders, caplog):
    caplog.set_level(logging.INFO)
    decoded = contents(folders)
    cached = contents(folders, content_cache_mb=1)
    # The same photos, crops and flips; the cache stores uint8 (rounding <= 1/510).
    assert np.abs(cached - decoded).max() <= 0.5 / 255 + 1e-6
    assert not np.array_equal(cached[0], cached[1])
    assert "fit in the 1 MB budget (data.cache_contents_mb): kept in memory" in caplog.text
    assert "Cached 4 content images in memory" in caplog.text


def test_contents_above_the_budget_are_decoded_at_every_step(folders, caplog,
                                                             monkeypatch):
    caplog.set_level(logging.INFO)
    # 4 photos of ~6 KB each decoded: over a budget of 0.01 MB.
    original = pipeline.cached_loader

    def styles_only(files, resize, kind="style"):
        assert kind == "style", "the contents were cached"
        return original(files, resize, kind)

    monkeypatch.setattr(pipeline, "cached_loader", styles_only)
    over = contents(folders, content_cache_mb=0.01)
    np.testing.assert_array_equal(over, contents(folders))
    assert "above the 0.01 MB budget" in caplog.text
    assert "decoded from their files at every step" in caplog.text


def test_training_caches_contents_by_default():
    assert defaults.base_config().data.cache_contents_mb == 1024
