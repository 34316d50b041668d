"""Method variants: discriminator kinds, spectral norm, the stage switch, EMA,
adaptive D/G balance and init_generator (test-size models, CPU, seconds)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import quickstart
from models import discriminator as discriminator_lib
from models import vgg as vgg_lib
from painting import loading
from training import balance as balance_lib, ema as ema_lib, loop, step as step_lib
from training import warm_start
from tests.helpers import read_scalars

CODE_DIM = 8


def model_config(kind, spectral_norm=False):
    config = quickstart.get_config("test")
    config.model.discriminator_kind = kind
    config.model.discriminator_scales = 2
    config.model.discriminator_vgg_layer = "block2_conv1"
    config.model.spectral_norm = spectral_norm
    return config


# (kind, expected logits shape for a [2, 32, 32, 3] batch): the test D halves twice;
# the vgg D's trunk ends at block2_conv1 (stride 2) and its head halves once more.
SHAPES = {"patch": (2, 8, 8, 1), "multiscale": (2, 8, 8, 2), "vgg": (2, 8, 8, 1)}


@pytest.mark.parametrize("spectral_norm", [False, True])
@pytest.mark.parametrize("kind", discriminator_lib.KINDS)
def test_discriminator_kind_shape_and_gradients_reach_only_trainable_weights(
        kind, spectral_norm):
    config = model_config(kind, spectral_norm)
    discriminator = discriminator_lib.build_from_config(config.model, config.vgg)
    images = tf.random.uniform((2, 32, 32, 3), seed=1)
    codes = tf.random.normal((2, config.model.code_dim), seed=2)
    frozen_before = [np.array(w) for w in discriminator.non_trainable_weights]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(images)
        logits = discriminator([images, codes], training=True)
        loss = tf.reduce_mean(tf.square(logits))
    assert logits.shape == SHAPES[kind] and logits.dtype == tf.float32
    gradients = tape.gradient(loss, discriminator.trainable_weights)
    assert all(g is not None and np.abs(g).max() > 0 for g in gradients)
    # The image gets a gradient (G's adversarial signal, R1) also through the trunk.
    assert np.abs(tape.gradient(loss, images)).max() > 0
    trunk_weights = [w for w in discriminator.weights if "block" in w.path]
    if kind == "vgg":
        assert trunk_weights and not any(w.trainable for w in trunk_weights)
        # Trainable = the head only: projection logits, convs, the channel norm.
        assert {w.path.split("/")[0] for w in discriminator.trainable_weights} == {
            "head_norm", "head_conv", "features", "logits"}
    else:
        assert not trunk_weights
    # Frozen weights do not move in a training call (the power-iteration vectors of
    # spectral norm are the one non-trainable state that does).
    for before, weight in zip(frozen_before, discriminator.non_trainable_weights):
        if "power_iteration" not in weight.path:
            np.testing.assert_array_equal(np.array(weight), before)


def test_vgg_discriminator_trunk_is_the_configured_vgg():
    config = model_config("vgg")
    discriminator = discriminator_lib.build_from_config(config.model, config.vgg)
    reference = vgg_lib.build_feature_extractor(("block2_conv1",), weights="random")
    trunk = discriminator.get_layer("vgg19_features")
    for trunk_weight, reference_weight in zip(trunk.weights, reference.weights):
        np.testing.assert_array_equal(np.array(trunk_weight), np.array(reference_weight))


def test_multiscale_discriminator_judges_each_scale_separately():
    discriminator = discriminator_lib.build_multiscale_discriminator("test", CODE_DIM,
                                                                     scales=3)
    logits = discriminator([tf.random.uniform((1, 64, 64, 3)), tf.ones((1, CODE_DIM))])
    assert logits.shape == (1, 16, 16, 3)
    # Scale s's logits repeat in 2^s x 2^s blocks.
    coarse = np.asarray(logits[0, :, :, 2])
    np.testing.assert_array_equal(coarse, np.kron(coarse[::4, ::4], np.ones((4, 4))))
    assert not np.allclose(coarse, np.asarray(logits[0, :, :, 0]))


def test_unknown_discriminator_kind_lists_the_kinds():
    config = model_config("patchy")
    with pytest.raises(ValueError, match="discriminator_kind 'patchy'.*multiscale"):
        discriminator_lib.build_from_config(config.model, config.vgg)


def test_spectral_conv_kernel_has_unit_spectral_norm_after_power_iterations():
    keras.utils.set_random_seed(0)
    layer = discriminator_lib.SpectralConv2D(6, 3)
    layer.build((None, 8, 8, 4))
    for _ in range(100):
        kernel = layer.normalized_kernel(training=True)
    singular_values = np.linalg.svd(np.reshape(np.asarray(kernel), (-1, 6)),
                                    compute_uv=False)
    # Power iteration approaches sigma from below, at the rate of the singular-value
    # gap: after 100 iterations it is within 0.1% on this kernel.
    assert singular_values[0] == pytest.approx(1.0, rel=1e-3)
    # Inference calls do not advance the power iteration.
    u = np.array(layer.u)
    layer(tf.zeros((1, 8, 8, 4)), training=False)
    np.testing.assert_array_equal(np.array(layer.u), u)


def test_spectral_norm_under_two_replica_mirrored_strategy():
    """The power-iteration state is assigned in replica context (D's training call
    inside strategy.run): under a 2-replica MirroredStrategy both replicas keep the
    same u, equal to one replica's on the same global batch, and so are the logits."""
    keras.utils.set_random_seed(0)
    reference = discriminator_lib.build_discriminator("test", CODE_DIM, spectral_norm=True)
    images = tf.random.uniform((4, 32, 32, 3), seed=1)
    codes = tf.random.normal((4, CODE_DIM), seed=2)
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    results = []
    for strategy in (tf.distribute.get_strategy(), tf.distribute.MirroredStrategy(cpus)):
        with strategy.scope():
            discriminator = discriminator_lib.build_discriminator("test", CODE_DIM,
                                                                  spectral_norm=True)
        discriminator.set_weights(reference.get_weights())

        @tf.function
        def training_calls(dataset_iterator):
            batch = next(dataset_iterator)
            logits = None
            for _ in range(2):  # two calls: u advances twice
                logits = strategy.run(lambda x, c: discriminator([x, c], training=True),
                                      args=batch)
            return logits

        iterator = iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors((images, codes))))
        # Concatenated outside the function: a gather would be a collective op, whose
        # instance keys can collide with other tests' strategies in one process.
        logits = tf.concat(strategy.experimental_local_results(training_calls(iterator)),
                           axis=0)
        u_variables = [w for w in discriminator.weights if "power_iteration" in w.path]
        assert len(u_variables) == 3
        for u in u_variables:
            if isinstance(u.value, tf.distribute.DistributedValues):
                first, second = (np.asarray(v) for v in u.value.values)
                np.testing.assert_array_equal(first, second)
        results.append((np.asarray(logits), [np.array(u) for u in u_variables]))
    (single_logits, single_u), (mirrored_logits, mirrored_u) = results
    np.testing.assert_allclose(mirrored_logits, single_logits, rtol=1e-5, atol=1e-5)
    initial_u = [w for w in reference.get_weights() if w.shape[0] == 1]
    for single, mirrored in zip(single_u, mirrored_u):
        np.testing.assert_allclose(mirrored, single, rtol=1e-5, atol=1e-6)
    assert not any(np.allclose(u, before) for u, before in zip(single_u, initial_u))


@pytest.fixture(scope="module")
def staged_run(tmp_path_factory):
    """4 steps: 1-2 perceptual only, 3-4 adversarial; EMA on; a checkpoint per step."""
    workdir = tmp_path_factory.mktemp("staged")
    config = quickstart.get_config("test")
    config.train.pretrain_steps = 2
    config.train.num_steps = 4
    config.train.checkpoint_every = 1
    config.train.keep_checkpoints = 5
    config.train.image_every = 10
    config.train.ema_decay = 0.5
    models = loop.train_and_evaluate(config, str(workdir))
    return workdir, models


@pytest.mark.slow
def test_a_checkpoint_of_an_ema_run_loads_the_averaged_weights(staged_run):
    """stylize.py and figures read a workdir's checkpoint: an EMA run gives them the
    same averaged weights as its export, not the live ones."""
    workdir, models = staged_run
    generator, _, codes, _, _, step = loading.load_checkpoint(str(workdir))
    exported, _, exported_codes = loading.load_export(str(workdir / "export"))[:3]
    assert step == 4
    for loaded, averaged in zip(generator.get_weights(), exported.get_weights()):
        np.testing.assert_allclose(loaded, averaged, rtol=1e-6)
    np.testing.assert_allclose(codes, exported_codes, rtol=1e-6)
    assert any(not np.allclose(loaded, live) for loaded, live in
               zip(generator.get_weights(), models.generator.get_weights()))


def d_variables(workdir, number):
    """D's trainable variables in checkpoint `number`, as tracked by its optimizer."""
    reader = tf.train.load_checkpoint(str(workdir / "checkpoints" / f"ckpt-{number}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("d_optimizer/_trainable_variables/")}


@pytest.mark.slow
def test_adversarial_stage_starts_at_pretrain_steps(staged_run):
    """Steps 1-2 perceptual only (no adversarial term, D untouched); from step 3 the
    adversarial term is non-zero and D is updated."""
    workdir, _ = staged_run
    scalars = read_scalars(str(workdir))
    assert sorted(scalars["loss/G/content"]) == [1, 2, 3, 4]
    assert sorted(scalars["loss/G/adv"]) == [3, 4]
    assert all(value > 0 for value in scalars["loss/G/adv"].values())
    first, second, third = (d_variables(workdir, number) for number in (1, 2, 3))
    assert first
    for name, value in first.items():
        np.testing.assert_array_equal(second[name], value)
    assert any(not np.array_equal(third[name], value) for name, value in first.items())


def small_models(config, num_styles=3):
    keras.utils.set_random_seed(0)
    return step_lib.build_models(config.model, config.optim, num_styles,
                                 vgg_config=config.vgg)


def test_ema_moves_toward_the_live_weights_at_the_configured_rate():
    config = quickstart.get_config("test")
    config.train.ema_decay = 0.75
    models = small_models(config)
    ema = ema_lib.maybe_ema(models, config.train, config.model, config.vgg)
    start = [np.array(v) for v in ema.generator.trainable_variables]
    np.testing.assert_array_equal(start[0], np.array(models.generator.trainable_variables[0]))
    for variable in models.g_variables:
        variable.assign(variable + 1.0)
    ema.update()
    for before, shadow in zip(start, ema.generator.trainable_variables):
        # 0.75 * w + 0.25 * (w + 1) = w + 0.25
        np.testing.assert_allclose(np.array(shadow), before + 0.25, atol=1e-6)
    bank_before = np.array(models.bank.codes) - 1.0
    ema.update()  # live is still w + 1: the gap shrinks to 0.75 * 0.75
    np.testing.assert_allclose(np.array(ema.bank.codes),
                               bank_before + 1.0 - 0.75 ** 2, atol=1e-6)
    sampling = ema.models_for_sampling(models)
    assert sampling.generator is ema.generator and sampling.bank is ema.bank
    assert sampling.discriminator is models.discriminator
    assert ema_lib.maybe_ema(models, quickstart.get_config("test").train,
                             config.model) is None


def test_ema_update_under_two_replica_mirrored_strategy():
    config = quickstart.get_config("test")
    config.train.ema_decay = 0.5
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in tf.config.list_logical_devices("CPU")[:2]])
    with strategy.scope():
        models = small_models(config)
        ema = ema_lib.maybe_ema(models, config.train, config.model, config.vgg)
    before = np.array(ema.bank.codes)
    models.bank.codes.assign(models.bank.codes + 2.0)
    ema.update()
    assert isinstance(ema.bank.codes.value, tf.distribute.DistributedValues)
    for value in ema.bank.codes.value.values:
        np.testing.assert_allclose(np.asarray(value), before + 1.0, atol=1e-6)


@pytest.mark.slow
def test_ema_run_exports_the_average(staged_run):
    workdir, models = staged_run
    _, _, codes = loading.load_export(str(workdir))
    reader = tf.train.load_checkpoint(str(workdir / "checkpoints" / "ckpt-4"))
    ema_codes = reader.get_tensor("ema_bank/codes/.ATTRIBUTES/VARIABLE_VALUE")
    np.testing.assert_allclose(codes, ema_codes, atol=1e-6)
    assert not np.allclose(codes, np.array(models.bank.codes))


def test_balance_skips_discriminator_updates_while_accuracy_average_is_high():
    balance = balance_lib.DiscriminatorBalance(threshold=0.8, decay=0.5)
    decisions = []
    for accuracy in [1.0, 1.0, 1.0, 0.0, 0.0]:
        updated = balance.update_discriminator()
        decisions.append(updated)
        metrics = balance.observe({"D/accuracy": accuracy}, updated)
        assert metrics["D/updated"] == float(updated)
    # Averages after each step: 0.75, 0.875, 0.9375, 0.46875, 0.234375.
    assert float(balance.average) == pytest.approx(0.234375)
    assert decisions == [True, True, False, False, True]
    off = balance_lib.DiscriminatorBalance(threshold=0.0, decay=0.5)
    off.observe({"D/accuracy": 1.0}, True)
    assert off.update_discriminator() and float(off.average) == 0.5


@pytest.mark.slow
def test_balanced_run_skips_d_updates_by_its_logged_decisions(tmp_path):
    config = quickstart.get_config("test")
    config.train.pretrain_steps = 0
    config.train.checkpoint_every = 1
    config.train.d_skip_accuracy = 0.6
    config.train.d_accuracy_decay = 0.0  # the average is the last step's accuracy
    loop.train_and_evaluate(config, str(tmp_path))
    scalars = read_scalars(str(tmp_path))
    assert scalars["D/updated"][1] == 1.0  # a fresh D's average is 0.5
    for step in (1, 2, 3):
        assert scalars["D/accuracy_average"][step] == pytest.approx(
            scalars["D/accuracy"][step])
    for step in (2, 3):
        expected = float(scalars["D/accuracy"][step - 1] <= 0.6)
        assert scalars["D/updated"][step] == expected
        before, after = d_variables(tmp_path, step - 1), d_variables(tmp_path, step)
        changed = any(not np.array_equal(after[name], value)
                      for name, value in before.items())
        assert changed == bool(expected)


@pytest.mark.slow
def test_init_generator_loads_generator_and_bank_of_another_run(staged_run, tmp_path):
    source, source_models = staged_run
    config = quickstart.get_config("test")
    config.train.init_generator = str(source)
    config.train.num_steps = 1  # initialise, then one step (of G only: pretraining)
    config.train.pretrain_steps = 1
    config.optim.g_lr = 1e-12  # so small that G and the bank stay as loaded
    models = loop.train_and_evaluate(config, str(tmp_path))
    for live, loaded in zip(source_models.generator.weights, models.generator.weights):
        np.testing.assert_allclose(np.array(loaded), np.array(live), atol=1e-9)
    np.testing.assert_allclose(np.array(models.bank.codes),
                               np.array(source_models.bank.codes), atol=1e-9)
    # D starts fresh.
    assert not all(np.array_equal(np.array(a), np.array(b)) for a, b in
                   zip(models.discriminator.weights, source_models.discriminator.weights))


@pytest.mark.slow
def test_init_generator_accepts_a_checkpoint_prefix_and_skips_other_styles(staged_run):
    source, source_models = staged_run
    config = quickstart.get_config("test")
    models = small_models(config, num_styles=2)
    prefix = str(source / "checkpoints" / "ckpt-4")
    loaded = warm_start.init_generator(prefix, models, ["a", "b"])
    assert loaded == ["generator"]
    np.testing.assert_array_equal(np.array(models.generator.weights[0]),
                                  np.array(source_models.generator.weights[0]))


def test_init_generator_refuses_a_generator_of_another_size(trained_run, tmp_path):
    _, source = trained_run
    config = quickstart.get_config("test")
    config.model.code_dim = 4
    models = small_models(config)
    with pytest.raises(ValueError, match="does not fit this run's generator"):
        warm_start.init_generator(str(source), models, ["x"])
    with pytest.raises(ValueError, match="no checkpoint found"):
        warm_start.init_generator(str(tmp_path), models, ["x"])


def test_the_ema_bank_keeps_the_keep_flag_of_the_live_bank():
    config = quickstart.get_config("test")
    config.model.keep_flag = True
    config.train.ema_decay = 0.5
    models = small_models(config)
    ema = ema_lib.maybe_ema(models, config.train, config.model, config.vgg)
    # The export saves the averaged bank: it must say, like the live one, that its
    # last coordinate is the keep flag.
    assert ema.bank.keep_flag and ema.bank.get_config()["keep_flag"]
    assert ema.bank.codes.constraint is not None
    np.testing.assert_array_equal(np.array(ema.bank.codes)[:, -1], 0.0)
