"""Arbitrary style (issue 18): the held-out split, the procedural style stream, style
crops at several scales, the keep flag, and the end-to-end objective that trains the
encoder from G's style loss."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from data import images, pipeline, procedural, split
from experiments import paintings, quickstart
from losses import perceptual
from models import style as style_lib
from models import vgg as vgg_lib
from training import config_check
from training import step as step_lib
from tests.helpers import (assert_refused_in_one_sentence, make_codes_matter, random_image,
                           write_image)

COLOURS = np.random.default_rng(0).integers(0, 256, (64, 3)).astype(np.uint8)


# --------------------------------------------------------------------------- split


@pytest.fixture
def folders(tmp_path):
    """content/{a,b,c}.png; collections/vangogh/{1,2}.png; styles/{one,two}.png."""
    for index, name in enumerate(["content/a.png", "content/b.png", "content/c.png",
                                  "collections/vangogh/1.png",
                                  "collections/vangogh/2.png", "styles/one.png",
                                  "styles/two.png"]):
        write_image(tmp_path / name, random_image(40, 40, 3, index))
    return tmp_path


def data_config(root, exclude=()):
    config = quickstart.get_config("test")
    config.data.demo = False
    config.data.content_dir = str(root / "content")
    config.data.style_dir = f"{root / 'collections'},{root / 'styles'}"
    config.data.exclude = tuple(str(root / name) for name in exclude)
    return config


def test_excluded_files_are_not_trained_on_and_copy_out_as_the_held_out_set(folders):
    held_out = ("content/b.png", "collections/vangogh/2.png", "styles/two.png")
    config = data_config(folders, held_out)
    config_check.validate(config)
    names, _ = pipeline.check_data(config.data)
    assert names == ["one", "vangogh"]  # the excluded single painting is no style
    assert pipeline.style_files_from_config(config.data)[1] == [
        str(folders / "collections" / "vangogh" / "1.png")]
    contents, _ = pipeline.first_images_from_config(config.data, 5, 2)
    assert [os.path.basename(path) for path in contents] == ["a.png", "c.png"]
    written = split.write_held_out(config.data, str(folders / "out"))
    assert sorted(os.path.relpath(path, folders / "out") for path in written) == sorted(
        held_out)
    assert (folders / "out" / "styles" / "two.png").read_bytes() == (
        folders / "styles" / "two.png").read_bytes()


@pytest.mark.parametrize("entry,message", [
    ("styles/none.png", "is not a file"),
    ("elsewhere.png", "in neither"),
])
def test_a_bad_exclude_entry_is_refused_in_one_sentence_naming_it(folders, entry,
                                                                   message):
    write_image(folders / "elsewhere.png", random_image(8, 8, 3, 0))
    config = data_config(folders, [entry])
    with pytest.raises(ValueError) as error:
        config_check.validate(config)
    problems = str(error.value).splitlines()[1:]
    assert len(problems) == 1 and message in problems[0] and entry in problems[0]


def test_the_heldout_split_holds_out_three_paintings_and_keeps_the_shared_ones():
    files = paintings.held_out_files()
    singles = [path for path in files if "/styles/" in path]
    assert len(singles) >= 3
    assert not any("starry-night" in path or "hokusai" in path for path in files)
    for collection in paintings.HELD_OUT_COLLECTIONS:
        assert sum(f"/collections/{collection}/" in path for path in files) >= 3
    assert sum("/content/" in path for path in files) >= 4


# --------------------------------------------------------------------------- data


def test_procedural_styles_are_reproducible_from_their_seed_and_differ_between_seeds():
    first = procedural.draw_style([3, 7], 32, COLOURS)
    assert first.shape == (32, 32, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, procedural.draw_style([3, 7], 32, COLOURS))
    others = [procedural.draw_style([3, index], 32, COLOURS) for index in range(8)]
    assert len({image.tobytes() for image in others}) == 8
    assert first.std() > 5  # a drawing, not a flat fill


def test_every_family_draws_and_palettes_come_from_the_pool():
    rng = np.random.default_rng(0)
    for name, painter in procedural.FAMILIES.items():
        image = painter(rng, 40, 0.5)
        assert image.shape == (40, 40, 3) and image.std() > 1, name
    palette = procedural.random_palette(rng, COLOURS)
    assert 3 <= len(palette) <= 6
    assert all(any((colour == row).all() for row in COLOURS) for colour in palette)


def style_elements(stream, count):
    return [(element["style"].numpy(), int(element["style_id"]))
            for element in stream.take(count)]


def seeded_replacements(replace, real, count):
    """The first `count` elements of replace(real, start_index) for a stream that
    replaces some elements, after checking that it replaces some but not all, gives
    the same elements again, and resumed at element 5 continues exactly."""
    first = style_elements(replace(real, 0), count)
    again = style_elements(replace(real, 0), count)
    resumed = style_elements(replace(real.skip(5), 5), count - 5)
    assert 0 < [style_id for _, style_id in first].count(-1) < count
    for (image, style_id), (image_other, id_other) in zip(first + first[5:],
                                                          again + resumed):
        np.testing.assert_array_equal(image, image_other)
        assert style_id == id_other
    return first


def test_the_mixed_stream_is_seeded_and_resumes_exactly():
    real = tf.data.Dataset.counter().map(lambda index: {
        "style": tf.fill([16, 16, 3], tf.cast(index, tf.float32) / 100.0),
        "style_id": tf.cast(index % 3, tf.int32)})
    seeded_replacements(lambda styles, start: procedural.mix_in(
        styles, 0.5, 16, COLOURS, seed=1, start_index=start), real, 12)


def colour_blocks(index):
    """A 16 x 16 style of four coloured quadrants, brighter with the index."""
    colours = tf.constant([[0.8, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.3, 0.9],
                           [0.7, 0.7, 0.2]]) * (0.5 + tf.cast(index % 5, tf.float32) / 10)
    quadrants = tf.reshape(colours, [2, 2, 1, 1, 3])
    return tf.reshape(tf.transpose(tf.tile(quadrants, [1, 1, 8, 8, 1]), [0, 2, 1, 3, 4]),
                      [16, 16, 3])


def test_recoloured_styles_keep_the_layout_in_other_colours_seeded_and_resumable():
    real = tf.data.Dataset.counter().map(lambda index: {
        "style": colour_blocks(index), "style_id": tf.cast(index % 3, tf.int32)})
    first = seeded_replacements(lambda styles, start: procedural.recolour_in(
        styles, 0.5, seed=1, start_index=start), real, 16)
    for index, (image, style_id) in enumerate(first):
        original = colour_blocks(index).numpy()
        if style_id != -1:
            np.testing.assert_array_equal(image, original)
            continue
        assert image.shape == original.shape and 0 <= image.min() <= image.max() <= 1
        assert np.abs(image - original).max() > 0.05  # new colours
        # The same layout: each quadrant stays one flat colour.
        for rows in (slice(0, 8), slice(8, 16)):
            for columns in (slice(0, 8), slice(8, 16)):
                block = image[rows, columns].reshape(-1, 3)
                np.testing.assert_allclose(block, block[:1].repeat(len(block), 0),
                                           atol=1e-6)


def test_zoomed_crops_have_the_crop_size_and_a_zoom_in_enlarges_the_texture():
    stripes = tf.constant(np.tile(np.repeat([0.0, 1.0], 2), 32)[None, :, None]
                          * np.ones((64, 1, 3)), tf.float32)  # period 4 px
    seed = tf.constant([0, 1], tf.int64)
    crop = images.random_zoom_crop_and_flip(stripes, 16, (0.5, 0.5), seed)
    assert crop.shape == (16, 16, 3)
    # Half the side, resized to 16: the stripes' period doubles, so fewer edges.
    edges = np.abs(np.diff(crop.numpy()[0, :, 0])).sum()
    plain = images.random_crop_and_flip(stripes, 16, seed)
    assert edges < 0.7 * np.abs(np.diff(plain.numpy()[0, :, 0])).sum()


def test_without_zoom_for_single_paintings_only_the_collections_are_zoomed():
    # Style 0: one painting; style 1: a collection of two. Files are in-memory PNGs.
    def png(seed):
        return tf.io.encode_png(random_image(48, 48, 3, seed)).numpy()

    files_per_style = [[png(0)], [png(1), png(2)]]

    def stream(zoom, zoom_single_paintings=True):
        return style_elements(pipeline.style_stream(
            files_per_style, 16, 48, seed=3, cache=True, zoom=zoom,
            zoom_single_paintings=zoom_single_paintings), 16)

    mixed = stream((0.5, 0.5), zoom_single_paintings=False)
    plain, zoomed = stream((1.0, 1.0)), stream((0.5, 0.5))
    assert {style_id for _, style_id in mixed} == {0, 1}
    for (image, style_id), (plain_image, _), (zoomed_image, _) in zip(mixed, plain, zoomed):
        np.testing.assert_array_equal(image, plain_image if style_id == 0 else zoomed_image)
        assert not np.array_equal(plain_image, zoomed_image)


# --------------------------------------------------------------------------- models


def tiny_encoder(keep_flag):
    features = vgg_lib.build_feature_extractor(["block1_conv1"], weights="random")
    return style_lib.build_style_encoder(features, 6, 8, keep_flag=keep_flag)


def test_the_keep_flag_is_zero_for_every_style_code_and_one_for_the_content_code():
    encoder = tiny_encoder(keep_flag=True).model
    codes = np.asarray(encoder(tf.random.uniform((3, 16, 16, 3), seed=0)))
    np.testing.assert_array_equal(codes[:, -1], 0.0)
    assert np.abs(codes[:, :-1]).sum() > 0
    own = np.asarray(style_lib.content_code(encoder, codes))
    np.testing.assert_array_equal(own[:, -1], style_lib.KEEP_FLAG_ON)
    np.testing.assert_array_equal(own[:, :-1], codes[:, :-1])
    # A model trained without the flag gets its codes back unchanged.
    plain = tiny_encoder(keep_flag=False).model
    np.testing.assert_array_equal(style_lib.content_code(plain, codes), codes)
    bank = style_lib.StyleBank(4, 6, keep_flag=True)
    optimizer = tf.keras.optimizers.Adam(0.5)
    optimizer.apply_gradients([(tf.ones_like(bank.codes), bank.codes)])
    np.testing.assert_array_equal(np.asarray(bank.codes)[:, -1], 0.0)


# --------------------------------------------------------------------------- the step


def arbitrary_config(**loss):
    config = quickstart.get_config("test")
    config.model.encoder = True
    config.model.keep_flag = True
    config.loss.end_to_end = True
    config.loss.identity_prob = 0.0
    for key, value in loss.items():
        config.loss[key] = value
    return config


def encoder_gradients(config, style_ids):
    """G's total loss of one painting of a fixed batch, and its gradients with
    respect to the encoder's weights."""
    models = step_lib.build_models(config.model, config.optim, 3, vgg_config=config.vgg)
    # G's code heads start at zero: no code moves G (or gets a gradient) until they
    # have trained, as they have after a few steps.
    make_codes_matter(models.generator, seed=0, keep=None)
    features = step_lib.build_feature_extractor(config.vgg, config.model)
    context = step_lib.StepContext(models, features, config.vgg, config.loss, 2, True)
    batch = {"content": tf.random.uniform((2, 32, 32, 3), seed=1),
             "style": tf.random.uniform((2, 32, 32, 3), seed=2),
             "style_id": tf.constant(style_ids, tf.int32)}
    with tf.GradientTape() as tape:
        painting = step_lib.paint(context, batch)
        total, terms = step_lib.generator_objective(context, painting)
    gradients = tape.gradient(total, models.encoder.trainable_variables)
    return terms, [np.zeros(v.shape) if g is None else np.asarray(g)
                   for g, v in zip(gradients, models.encoder.trainable_variables)]


@pytest.mark.parametrize("end_to_end", [True, False])
def test_the_arbitrary_objective_trains_the_encoder_only_end_to_end(end_to_end):
    """Procedural styles (style id -1): no bank code, so no pull; with end_to_end the
    style loss against the image's own Gram reaches the encoder."""
    tf.random.set_seed(0)
    terms, gradients = encoder_gradients(arbitrary_config(end_to_end=end_to_end),
                                         [-1, -1])
    assert float(terms["encoder"]) == 0.0
    assert ("arbitrary" in terms) == end_to_end
    if end_to_end:
        assert float(terms["arbitrary"]) > 0 and float(terms["style"]) == 0.0
    assert (sum(np.abs(g).sum() for g in gradients) > 0) == end_to_end


def test_arbitrary_objective_values_and_the_gan_weights():
    context = step_lib.StepContext(None, None, None, arbitrary_config().loss, 4, True)
    context.loss_config.arbitrary_weight = 2.0
    style = tf.constant([1.0, 2.0, 3.0, 4.0])
    arbitrary = tf.constant([True, False, True, False])
    (weighted, terms), rest = step_lib.arbitrary_objective(context, arbitrary, style)
    np.testing.assert_allclose(float(terms["arbitrary"]), (1 + 3) / 4)
    np.testing.assert_allclose(float(weighted), 2.0 * (1 + 3) / 4)
    np.testing.assert_array_equal(rest.numpy(), [0.0, 2.0, 0.0, 4.0])
    judgement = step_lib.Judgement(None, None, None, tf.constant([0.0, 1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(step_lib.judged(judgement, style).numpy(),
                                  [0.0, 2.0, 0.0, 4.0])


def test_a_photo_given_as_a_style_is_an_arbitrary_style_example():
    config = arbitrary_config(photo_style_prob=1.0)
    models = step_lib.build_models(config.model, config.optim, 3, vgg_config=config.vgg)
    features = step_lib.build_feature_extractor(config.vgg, config.model)
    context = step_lib.StepContext(models, features, config.vgg, config.loss, 2, True)
    content = tf.random.uniform((2, 32, 32, 3), seed=1)
    painting = step_lib.paint(context, {"content": content,
                                        "style": tf.zeros((2, 32, 32, 3)),
                                        "style_id": tf.constant([0, 1], tf.int32)})
    assert painting.arbitrary.numpy().all()
    np.testing.assert_array_equal(painting.style.numpy(),
                                  tf.roll(content, 1, axis=0).numpy())
    np.testing.assert_array_equal(painting.codes.numpy()[:, -1], 0.0)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("key,value,message", [
    ("loss.end_to_end", True, "unless model.encoder is on"),
    ("model.keep_flag", True, "unless model.encoder is on"),
    ("loss.photo_style_prob", 0.5, "unless loss.end_to_end is on"),
    ("data.procedural_prob", 0.5, "unless loss.end_to_end is on"),
    ("data.procedural_prob", 1.5, "a probability in [0, 1]"),
    ("data.recolour_prob", 0.5, "unless loss.end_to_end is on"),
    ("data.recolour_prob", -0.1, "a probability in [0, 1]"),
    ("data.style_zoom_min", 0.0, "a zoom in (0, 4]"),
    ("data.style_zoom_max", 0.5, "a zoom in [data.style_zoom_min"),
    ("data.zoom_single_paintings", 1, "expected bool"),
    ("loss.arbitrary_weight", -1.0, "a finite number >= 0"),
])
def test_the_new_keys_are_refused_in_one_sentence(key, value, message):
    assert_refused_in_one_sentence(key, value, message)


def test_the_arbitrary_variant_is_a_valid_config_on_the_heldout_split():
    config = paintings.get_config("arbitrary")
    assert config.loss.end_to_end and config.model.keep_flag
    assert tuple(config.data.exclude) == paintings.held_out_files()
    if os.path.isdir("../shared/data"):
        config_check.validate(config)


def test_arbitrary_decay_is_arbitrary_with_collections_only_zoom_and_a_decay():
    decay, arbitrary = (paintings.get_config(variant).to_dict()
                        for variant in ("arbitrary_decay", "arbitrary"))
    assert decay["data"].pop("zoom_single_paintings") is False
    assert arbitrary["data"].pop("zoom_single_paintings") is True
    assert decay["optim"].pop("decay_steps") == 1000  # the last third of 3000 steps
    assert arbitrary["optim"].pop("decay_steps") == 0
    assert decay == arbitrary
    shorter = paintings.get_config("arbitrary_decay")
    shorter.train.num_steps = 1500  # as --config.train.num_steps=1500 sets it
    assert shorter.optim.decay_steps == 500
    if os.path.isdir("../shared/data"):
        config_check.validate(shorter)


def test_arbitrary_raw_is_arbitrary_decay_without_the_encoders_normalisation():
    raw, decay = (paintings.get_config(variant).to_dict()
                  for variant in ("arbitrary_raw", "arbitrary_decay"))
    assert raw["model"].pop("encoder_normalisation") == "none"
    assert decay["model"].pop("encoder_normalisation") == "layer"
    assert raw == decay
    if os.path.isdir("../shared/data"):
        config_check.validate(paintings.get_config("arbitrary_raw"))


def test_arbitrary_raw_bank_is_arbitrary_raw_with_fewer_encoder_codes_and_twice_the_gan():
    bank, raw = (paintings.get_config(variant).to_dict()
                 for variant in ("arbitrary_raw_bank", "arbitrary_raw"))
    assert (bank["loss"].pop("encoder_prob"), raw["loss"].pop("encoder_prob")) == (0.25, 0.5)
    assert (bank["loss"].pop("adv_weight"), raw["loss"].pop("adv_weight")) == (2.0, 1.0)
    assert bank == raw
    if os.path.isdir("../shared/data"):
        config_check.validate(paintings.get_config("arbitrary_raw_bank"))


def test_arbitrary_medium_is_arbitrary_with_the_medium_generator_and_ema():
    medium, arbitrary = (paintings.get_config(variant).to_dict()
                         for variant in ("arbitrary_medium", "arbitrary"))
    assert medium["model"].pop("generator") == "medium"
    assert 0 < medium["train"].pop("ema_decay") < 1
    del arbitrary["model"]["generator"], arbitrary["train"]["ema_decay"]
    assert medium == arbitrary
    if os.path.isdir("../shared/data"):
        config_check.validate(paintings.get_config("arbitrary_medium"))


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_a_run_trains_with_every_source_and_evaluates_unseen_styles(tmp_path):
    """3 steps of the quickstart :test run with the end-to-end objective, procedural
    and recoloured styles, photos as styles and zoomed crops; then evaluate.py's
    encoder methods on loose style images that no bank names."""
    from evaluation import evaluator
    from training import loop, summaries
    config = arbitrary_config(photo_style_prob=0.5, identity_prob=0.25)
    config.train.pretrain_steps = 1
    config.data.procedural_prob = 0.5
    config.data.recolour_prob = 0.5
    config.data.style_zoom_min, config.data.style_zoom_max = 0.6, 1.0
    workdir = str(tmp_path / "run")
    loop.train_and_evaluate(config, workdir)
    scalars = summaries.read_scalars(workdir)
    assert sorted(scalars["loss/G/arbitrary"]) == [1, 2, 3]
    assert all(np.isfinite(value) for value in scalars["loss/G/arbitrary"].values())
    for index in range(2):
        write_image(tmp_path / "photos" / f"{index}.png", random_image(40, 40, 3, index))
        write_image(tmp_path / "unseen" / f"painting{index}.png",
                    procedural.draw_style([9, index], 40, COLOURS))
    options = evaluator.Options(
        output=str(tmp_path / "eval"), model=workdir,
        content_dir=str(tmp_path / "photos"), style_dir=str(tmp_path / "unseen"),
        methods=("encoder", "nearest_code", "mean_code", "optimised_code", "identity",
                 "gatys"),
        gatys_steps=2, code_steps=2, batch_size=2, crops_per_style=4)
    results, _ = evaluator.evaluate(options)
    summaries_of = {name: method["summary"] for name, method in results["methods"].items()}
    identity, gatys = (summaries_of[name]["gram_distance"]
                       for name in ("identity", "gatys"))
    for name in ("encoder", "nearest_code", "mean_code", "optimised_code"):
        np.testing.assert_allclose(results["gram_gap_closed"][name], (
            identity - summaries_of[name]["gram_distance"]) / (identity - gatys))
        assert summaries_of[name]["mean_abs_change"] > 0
    assert summaries_of["identity"]["mean_abs_change"] == 0.0
    assert (summaries_of["optimised_code"]["objective"]
            < summaries_of["encoder"]["objective"])
    assert sorted(results["keep_gates"]) == ["painting0", "painting1"]
    assert all(0.0 <= gate <= 1.0 for gates in results["keep_gates"].values()
               for gate in gates)
    # The bound optimises a style image's code, never its keep flag (0).
    import painting
    from evaluation import arbitrary, baselines
    model = painting.load(workdir, precision="float32")
    start = arbitrary.image_codes_of_arrays(model, [random_image(40, 40, 3, 5)])
    network = vgg_lib.build_feature_extractor(["block1_conv1"], weights="random")
    contents = random_image(32, 32, 3, 6)[None]
    optimised = arbitrary.optimised_codes(
        model, network, baselines.GatysSettings(("block1_conv1",), ("block1_conv1",),
                                                1e-3, 1e-3, 0.0),
        contents, perceptual.gram_matrices([network(contents)["block1_conv1"]]), start,
        steps=2)
    assert start[0, -1] == optimised[0, -1] == 0.0
    assert not np.allclose(start[0, :-1], optimised[0, :-1])


def test_each_arbitrary_ablation_row_adds_one_source_to_the_row_before():
    from experiments.ablations import arbitrary as rows

    sources = {"end_to_end": {"model.keep_flag", "loss.end_to_end",
                              "loss.arbitrary_weight", "loss.photo_style_prob"},
               "procedural": {"data.procedural_prob"},
               "augmentation": {"data.style_zoom_min", "data.style_zoom_max"}}
    for before, row in zip(rows.ROWS, rows.ROWS[1:]):
        old, new = (rows.row_config(name).to_dict() for name in (before, row))
        changed = {f"{group}.{key}" for group in new if isinstance(new[group], dict)
                   for key in new[group] if new[group][key] != old[group][key]}
        assert changed == sources[row], row


def test_the_first_and_last_ablation_rows_are_the_full_runs_cut_at_the_budget():
    # So bank_only and augmentation are the heldout and arbitrary runs at step 1500.
    from experiments.ablations import arbitrary as rows

    for row, variant in (("bank_only", "heldout"), ("augmentation", "arbitrary")):
        cut, full = rows.row_config(row), paintings.get_config(variant)
        assert cut.train.num_steps == 1500 < full.train.num_steps
        cut.train.num_steps = full.train.num_steps
        cut.train.export_saved_model = full.train.export_saved_model
        assert cut.to_dict() == full.to_dict(), row


def _write_evaluation(folder, methods, keep_gates=None):
    """An evaluate.py metrics.json: {name: (summary, per_style or None)}."""
    os.makedirs(folder)
    results = {"methods": {name: {"summary": summary, "per_style": per_style or {}}
                           for name, (summary, per_style) in methods.items()}}
    if keep_gates is not None:
        results["keep_gates"] = keep_gates
    with open(os.path.join(folder, "metrics.json"), "w") as f:
        json.dump(results, f)


def test_arbitrary_table_rows_from_evaluations(tmp_path):
    from experiments import arbitrary_table

    anchors = tmp_path / "anchors"
    _write_evaluation(str(anchors), {"identity": ({"gram_distance": 1000.0}, None),
                                     "gatys": ({"gram_distance": 200.0}, None)})
    run = tmp_path / "end_to_end"
    _write_evaluation(str(run / "eval_unseen"), {
        "encoder": ({"gram_distance": 400.0, "deception_rate": 0.75},
                    {"scream": {"mean_abs_change": 0.15},
                     "udnie": {"mean_abs_change": 0.3}}),
        "nearest_code": ({"gram_distance": 600.0, "deception_rate": 0.5},
                         {"udnie": {"mean_abs_change": 0.01}})},
        keep_gates={"scream": [0.0], "udnie": [0.25]})
    _write_evaluation(str(run / "bank_all"), {
        "ours": ({"gram_distance": 300.0, "deception_rate": 0.5}, None)})
    row = arbitrary_table.run_row(str(run), arbitrary_table.anchor_summaries(str(anchors)))
    assert row["run"] == "end_to_end"
    assert row["gap_closed"] == pytest.approx(0.75)  # (1000 - 400) / (1000 - 200)
    assert row["keep_gate"] == 0.25
    assert row["smallest_change"] == pytest.approx(0.15)  # the encoder's, not nearest's
    assert (row["bank_gram"], row["bank_deception"]) == (300.0, 0.5)
    lines = arbitrary_table.markdown([row]).splitlines()
    assert len(lines) == 3 and lines[0].count("|") == lines[1].count("|") == lines[2].count("|")
    assert "| end_to_end | 400 | 75.0% | 0.750 |" in lines[2]
    with pytest.raises(ValueError, match="no gatys"):
        arbitrary_table.anchor_summaries(str(run / "bank_all"))


def test_arbitrary_table_splits_the_bank_into_collections_and_single_paintings(tmp_path):
    from experiments import arbitrary_table

    run = tmp_path / "arbitrary"
    _write_evaluation(str(run / "bank_all"), {"ours": ({}, {
        "monet": {"gram_distance": 100.0, "deception_rate": 0.5},
        "ukiyoe": {"gram_distance": 300.0, "deception_rate": 0.0},
        "mona-lisa": {"gram_distance": 900.0, "deception_rate": 1.0}})})
    kinds = arbitrary_table.bank_by_kind(str(run), {"monet", "ukiyoe", "vangogh"})
    assert kinds == {"collections": (200.0, 0.25), "single paintings": (900.0, 1.0)}
    lines = arbitrary_table.kinds_markdown([str(run)], {"monet", "ukiyoe"}).splitlines()
    assert lines[2] == "| arbitrary | 200 | 0.250 | 900 | 1.000 |"


def test_arbitrary_table_reads_the_bank_gram_per_style_against_a_reference(tmp_path):
    from experiments import arbitrary_table

    def bank(name, grams):
        folder = tmp_path / name
        _write_evaluation(str(folder / "bank_all"), {"ours": ({}, {
            style: {"gram_distance": gram, "deception_rate": 0.5}
            for style, gram in grams.items()})})
        return str(folder)

    reference = bank("heldout", {"woodcut": 4000.0, "monet": 100.0, "udnie": 50.0})
    run = bank("arbitrary", {"woodcut": 4000.0, "monet": 400.0, "mona-lisa": 9.0})
    # The styles both runs evaluated: the woodcut's scale does not swamp monet's 4x.
    assert arbitrary_table.bank_gram_ratios(run, reference) == {"monet": 4.0, "woodcut": 1.0}
    lines = arbitrary_table.ratios_markdown([run], reference).splitlines()
    assert lines[0].startswith("| run | bank Gram / heldout's")
    assert lines[2] == "| arbitrary | 2.00 | 4.00 (monet) |"
    other = bank("other", {"vangogh": 1.0})
    with pytest.raises(ValueError, match="share no style"):
        arbitrary_table.bank_gram_ratios(other, reference)


def test_arbitrary_table_marks_a_kind_the_bank_lacks(tmp_path):
    from experiments import arbitrary_table

    run = tmp_path / "collections_only"
    _write_evaluation(str(run / "bank_all"), {"ours": ({}, {
        "monet": {"gram_distance": 100.0, "deception_rate": 0.5}})})
    lines = arbitrary_table.kinds_markdown([str(run)], {"monet"}).splitlines()
    assert lines[2] == "| collections_only | 100 | 0.500 | - | - |"
