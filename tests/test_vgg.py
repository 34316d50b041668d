"""VGG19 feature extractor: cut, shapes, frozen, deterministic random weights, loading."""
import logging
import socket
import time

import h5py
import keras
import numpy as np
import pytest

from models import vgg

FEATURE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1"]


@pytest.fixture(scope="module")
def random_extractor():
    return vgg.build_feature_extractor(FEATURE_LAYERS, weights="random", seed=0)


@pytest.fixture(scope="module")
def reference_vgg19():
    """A full no-top VGG19 with known (Keras-initialised) weights to save to files."""
    keras.utils.set_random_seed(123)
    return keras.applications.VGG19(include_top=False, weights=None,
                                    input_shape=(None, None, 3))


def closed_port_url():
    """A local URL nobody listens on: the download fails at once on any machine."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{vgg.IMAGENET_NOTOP_FILENAME}"


@pytest.fixture
def empty_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return tmp_path


def conv_weights(model):
    return {layer.name: layer.get_weights() for layer in model.layers
            if isinstance(layer, keras.layers.Conv2D)}


def assert_same_weights(model, reference):
    weights = conv_weights(model)
    assert weights
    for name, (kernel, bias) in weights.items():
        reference_kernel, reference_bias = reference.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, reference_kernel)
        np.testing.assert_array_equal(bias, reference_bias)


def write_keras_applications_h5(path, model, with_top=False):
    """Writes weights the way the published keras-applications VGG19 files hold them.

    Root attribute layer_names, one group per layer with a weight_names attribute and
    one dataset per weight; the input layer is named input_1 and has no weights.
    """
    with h5py.File(path, "w") as weights_file:
        layer_names = ["input_1"] + [layer.name for layer in model.layers[1:]]
        top = {"flatten": [], "fc1": [np.ones((8, 4), np.float32), np.zeros(4, np.float32)]}
        if with_top:
            layer_names += list(top)
        weights_file.attrs["layer_names"] = [name.encode("utf8") for name in layer_names]
        weights_file.attrs["backend"] = b"tensorflow"
        weights_file.attrs["keras_version"] = b"2.2.4"
        for name in layer_names:
            values = (top[name] if name in top else
                      [] if name == "input_1" else model.get_layer(name).get_weights())
            weight_names = [f"{name}/{kind}:0" for kind in ("kernel", "bias")][:len(values)]
            group = weights_file.create_group(name)
            group.attrs["weight_names"] = [weight.encode("utf8") for weight in weight_names]
            for weight_name, value in zip(weight_names, values):
                group.create_dataset(weight_name, data=value)


def test_output_is_dict_of_feature_maps(random_extractor):
    images = np.random.RandomState(0).rand(2, 32, 32, 3).astype(np.float32)
    features = random_extractor(images)
    assert random_extractor.name == "vgg19_features"
    assert {name: tuple(value.shape) for name, value in features.items()} == {
        "block1_conv1": (2, 32, 32, 64),
        "block2_conv1": (2, 16, 16, 128),
        "block3_conv1": (2, 8, 8, 256),
    }


def test_cut_at_deepest_layer_and_frozen(random_extractor):
    names = [layer.name for layer in random_extractor.layers]
    assert names[-1] == "block3_conv1"
    assert not any(name.startswith(("block4", "block5")) for name in names)
    assert random_extractor.trainable_weights == []
    # Five convolutions (block1: 2, block2: 2, block3_conv1), a kernel and a bias each.
    assert len(random_extractor.non_trainable_weights) == 2 * 5


def test_preprocessing_matches_keras_applications():
    images = np.random.RandomState(0).rand(2, 5, 5, 3).astype(np.float32)
    ours = vgg.VGGPreprocessing()(images)
    expected = keras.applications.vgg19.preprocess_input(255.0 * images)
    np.testing.assert_allclose(np.asarray(ours), expected, rtol=1e-5, atol=1e-3)


def test_random_weights_deterministic_and_seeded(random_extractor):
    # A different global Keras seed must not matter: weights come from the seed only.
    keras.utils.set_random_seed(999)
    same_seed = vgg.build_feature_extractor(["block2_conv1"], weights="random", seed=0)
    other_seed = vgg.build_feature_extractor(["block2_conv1"], weights="random", seed=1)
    assert_same_weights(same_seed, random_extractor)
    assert same_seed.weights_description == "random(seed=0)"
    assert other_seed.weights_description == "random(seed=1)"
    kernel, bias = same_seed.get_layer("block1_conv1").get_weights()
    other_kernel, _ = other_seed.get_layer("block1_conv1").get_weights()
    assert not np.allclose(kernel, other_kernel)
    # Pinned to NumPy's RandomState, so any process gets these values.
    expected = np.random.RandomState(0).standard_normal((3, 3, 3, 64)) * np.sqrt(2 / 27)
    np.testing.assert_allclose(kernel, expected, rtol=1e-6)
    assert not bias.any()


def test_bad_layer_name_lists_valid_names():
    with pytest.raises(ValueError, match="block9_conv1.*block5_conv4"):
        vgg.build_feature_extractor(["block9_conv1"], weights="random")
    with pytest.raises(ValueError, match="list of layer names"):
        vgg.build_feature_extractor("block1_conv1", weights="random")


def test_imagenet_offline_fails_fast_with_instructions(empty_keras_cache):
    # The real download URL, so only meaningful where there is no network.
    try:
        socket.getaddrinfo("storage.googleapis.com", 443)
        pytest.skip("network available: the ImageNet file would really be downloaded")
    except OSError:
        pass
    start = time.monotonic()
    with pytest.raises(RuntimeError) as error:
        vgg.build_feature_extractor(["block1_conv1"], weights="imagenet")
    assert time.monotonic() - start < 30.0
    message = str(error.value)
    assert vgg.IMAGENET_NOTOP_URL in message
    assert str(empty_keras_cache / "models" / vgg.IMAGENET_NOTOP_FILENAME) in message
    assert "vgg.weights=random" in message


def test_imagenet_unreachable_raises(empty_keras_cache, monkeypatch):
    monkeypatch.setattr(vgg, "IMAGENET_NOTOP_URL", closed_port_url())
    with pytest.raises(RuntimeError, match="vgg.weights=/path/to/"):
        vgg.build_feature_extractor(["block1_conv1"], weights="imagenet")


def test_imagenet_stalled_download_times_out(empty_keras_cache, monkeypatch):
    timeout_before = socket.getdefaulttimeout()
    with socket.socket() as silent_server:
        # Accepts connections (backlog) but never answers: only a timeout ends it.
        silent_server.bind(("127.0.0.1", 0))
        silent_server.listen(1)
        port = silent_server.getsockname()[1]
        monkeypatch.setattr(vgg, "IMAGENET_NOTOP_URL", f"http://127.0.0.1:{port}/x.h5")
        monkeypatch.setattr(vgg, "DOWNLOAD_TIMEOUT_SECONDS", 0.5)
        start = time.monotonic()
        with pytest.raises(RuntimeError):
            vgg.build_feature_extractor(["block1_conv1"], weights="imagenet")
        assert time.monotonic() - start < 10.0
    assert socket.getdefaulttimeout() == timeout_before


def test_imagenet_fallback_to_random_warns(empty_keras_cache, monkeypatch, caplog):
    monkeypatch.setattr(vgg, "IMAGENET_NOTOP_URL", closed_port_url())
    with caplog.at_level(logging.WARNING):
        model = vgg.build_feature_extractor(["block1_conv1"], weights="imagenet",
                                            fallback_to_random=True, seed=3)
    assert model.weights_description == "random(seed=3; imagenet unavailable)"
    assert "RANDOM VGG19 WEIGHTS" in caplog.text
    reference = vgg.build_feature_extractor(["block1_conv1"], weights="random", seed=3)
    assert_same_weights(model, reference)


@pytest.mark.parametrize("with_top", [False, True])
def test_load_keras_applications_file(tmp_path, reference_vgg19, with_top):
    path = tmp_path / "vgg19.h5"
    write_keras_applications_h5(path, reference_vgg19, with_top=with_top)
    model = vgg.build_feature_extractor(["block2_conv2"], weights=str(path))
    assert model.weights_description == f"file:{path}"
    assert_same_weights(model, reference_vgg19)
    # End to end: same features as Keras' own VGG19 on preprocessed images.
    images = np.random.RandomState(0).rand(1, 16, 16, 3).astype(np.float32)
    reference_features = keras.Model(
        reference_vgg19.input, reference_vgg19.get_layer("block2_conv2").output)(
            keras.applications.vgg19.preprocess_input(255.0 * images))
    np.testing.assert_allclose(model(images)["block2_conv2"], reference_features,
                               rtol=1e-4, atol=1e-3)


def test_imagenet_uses_cached_file(empty_keras_cache, monkeypatch, reference_vgg19):
    cached = empty_keras_cache / "models" / vgg.IMAGENET_NOTOP_FILENAME
    cached.parent.mkdir()
    write_keras_applications_h5(cached, reference_vgg19)
    # The hash of our stand-in is not the real file's: accept it for this test.
    monkeypatch.setattr(vgg, "IMAGENET_NOTOP_MD5", None)
    monkeypatch.setattr(vgg, "IMAGENET_NOTOP_URL", closed_port_url())
    model = vgg.build_feature_extractor(["block1_conv2"], weights="imagenet")
    assert model.weights_description == "imagenet"
    assert_same_weights(model, reference_vgg19)


def test_load_keras3_weights_file(tmp_path, reference_vgg19):
    path = tmp_path / "vgg19.weights.h5"
    reference_vgg19.save_weights(path)
    model = vgg.build_feature_extractor(["block1_pool"], weights=path)
    assert_same_weights(model, reference_vgg19)


def test_missing_weights_file_names_path(tmp_path):
    missing = tmp_path / "nowhere.h5"
    with pytest.raises(ValueError, match="nowhere.h5"):
        vgg.build_feature_extractor(["block1_conv1"], weights=str(missing))


def test_wrong_weights_file_names_path(tmp_path, reference_vgg19):
    not_hdf5 = tmp_path / "notes.h5"
    not_hdf5.write_text("not weights")
    truncated = tmp_path / "partial.h5"
    write_keras_applications_h5(truncated, keras.Model(
        reference_vgg19.input, reference_vgg19.get_layer("block1_pool").output))
    for path in (not_hdf5, truncated):
        with pytest.raises(ValueError, match=f"{path.name}.*expected the Keras VGG19"):
            vgg.build_feature_extractor(["block1_conv1"], weights=str(path))
