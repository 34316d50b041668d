"""Reliability: config validation, checkpoint choice after damage or kill -9,
divergence (stop / restore), the collapse detector, model loading errors and
bit-identical runs."""
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from experiments import paintings, quickstart
from painting import loading
from storage import workdir as workdir_lib
from tests.helpers import REPO, assert_refused_in_one_sentence, read_scalars
from training import checkpointing, config_check, defaults, guards, loop, step as step_lib


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("get_config", [quickstart.get_config, paintings.get_config])
@pytest.mark.parametrize("variant", [None, "test"])
def test_every_experiment_config_is_valid(get_config, variant):
    config = get_config(variant)
    config.data.demo = True  # paintings' folders may be absent on this machine
    config_check.validate(config)




@pytest.mark.parametrize("key, value, message", [
    ("loss.style_weight", -1.0, "loss.style_weight = -1.0 is invalid; expected a "
                                "finite number >= 0."),
    ("loss.adv_weight", float("nan"), "loss.adv_weight = nan is invalid"),
    ("data.image_size", 30, "data.image_size = 30 is invalid; expected a positive "
                            "multiple of 4 (the generator's stride)."),
    ("data.style_resize", 16, "data.style_resize = 16 is invalid; expected 0 (= "
                              "image_size) or at least data.image_size (32)."),
    ("model.generator", "huge", "model.generator = 'huge' is invalid; expected one "
                                "of 'test', 'small', 'medium', 'base'."),
    ("model.discriminator", "tiny", "model.discriminator = 'tiny' is invalid"),
    ("model.discriminator_kind", "stylegan", "model.discriminator_kind = 'stylegan' is "
                                             "invalid; expected one of 'patch', "),
    ("vgg.style_layers", ("block9_conv1",), "vgg.style_layers = ('block9_conv1',) is "
                                             "invalid"),
    ("vgg.weights", "/no/such/vgg.h5", "vgg.weights = '/no/such/vgg.h5' is invalid"),
    ("loss.adversarial", "wasserstein", "loss.adversarial = 'wasserstein' is invalid"),
    ("loss.mix_prob", 1.5, "loss.mix_prob = 1.5 is invalid; expected a probability"),
    ("optim.g_lr", 0.0, "optim.g_lr = 0.0 is invalid; expected a finite learning "
                        "rate > 0."),
    ("optim.beta_2", 1.0, "optim.beta_2 = 1.0 is invalid; expected a number in "
                          "[0, 1)."),
    ("train.num_steps", 0, "train.num_steps = 0 is invalid; expected an integer >= 1."),
    ("train.checkpoint_every", -5, "train.checkpoint_every = -5 is invalid"),
    ("train.on_nonfinite", "retry", "train.on_nonfinite = 'retry' is invalid; "
                                    "expected one of 'stop', 'restore'."),
    ("train.restore_lr_factor", 1.0, "train.restore_lr_factor = 1.0 is invalid"),
    ("optim.decay_to", 0.0, "optim.decay_to = 0.0 is invalid; expected a factor in "
                            "(0, 1] such as 0.1."),
    ("strategy.name", "tpu_pod", "strategy.name = 'tpu_pod' is invalid"),
    ("train.num_steps", "100", "train.num_steps = '100' has the wrong type; expected "
                               "int like 10000."),
    ("train.deterministic", 1, "train.deterministic = 1 has the wrong type; expected "
                               "bool"),
    ("vgg.content_layers", "block4_conv2", "vgg.content_layers = 'block4_conv2' has "
                                           "the wrong type; expected a list of strings"),
    ("train.chekpoint_every", 5, "Unknown config key 'train.chekpoint_every'; "
                                 "expected one of: batch_size, checkpoint_every"),
])
def test_bad_values_are_refused_with_one_sentence(key, value, message):
    assert_refused_in_one_sentence(key, value, message)


def test_multiscale_discriminator_needs_an_image_size_its_scales_divide():
    config = quickstart.get_config("test")  # 'test' D: 2 downsamplings; 32 px
    config.model.discriminator_kind = "multiscale"
    config.model.discriminator_scales = 3
    config_check.validate(config)  # 32 divides by 2^(2 + 3 - 1) = 16
    config.data.image_size = 24
    with pytest.raises(ValueError, match=r"data.image_size = 24 is invalid; expected a "
                       r"multiple of 16 for a 3-scale 'test' multiscale"):
        config_check.validate(config)


def test_batch_must_divide_by_the_replicas_and_all_problems_are_listed():
    config = quickstart.get_config("test")
    config.train.batch_size = 3
    config.loss.tv_weight = -1.0
    with pytest.raises(ValueError) as error:
        config_check.validate(config, num_replicas=2)
    assert str(error.value).splitlines()[1:] == [
        "- loss.tv_weight = -1.0 is invalid; expected a finite number >= 0.",
        "- train.batch_size = 3 is invalid; expected a multiple of the number of "
        "replicas (2)."]


def test_pretraining_longer_than_the_run_is_a_warning(caplog):
    config = quickstart.get_config("test")
    config.train.pretrain_steps = 300
    with caplog.at_level(logging.WARNING):
        config_check.validate(config)
    assert "never trains D" in caplog.text


@pytest.mark.parametrize("get_config", [quickstart.get_config, paintings.get_config])
def test_the_test_variant_of_a_two_stage_experiment_trains_both_stages(get_config,
                                                                        caplog):
    """The README's own :test variant warned (twice) that it never trains D."""
    config = get_config("test")
    config.data.demo = True
    assert 0 < config.train.pretrain_steps < config.train.num_steps
    with caplog.at_level(logging.WARNING):
        config_check.validate(config)
    assert "never trains D" not in caplog.text


@pytest.mark.slow
def test_the_command_line_refuses_bad_keys_and_values_in_one_sentence(tmp_path):
    """Exit code 2 (the command line is wrong), one sentence, no usage text and no
    traceback; a near-miss key keeps ml_collections' suggestion."""
    command = [sys.executable, "train.py", "--config=experiments/quickstart.py:test",
               f"--workdir={tmp_path / 'run'}"]

    def stderr_lines(*arguments):
        result = subprocess.run(command + list(arguments), cwd=REPO,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, arguments
        assert "Traceback" not in result.stderr
        return result.stderr.strip().splitlines()

    assert stderr_lines("--config.train.nosuch=1") == [
        "unknown config key 'train.nosuch' in --config.train.nosuch=1; see the keys "
        "of train with --dry_run."]
    assert stderr_lines("--config.train.num_step=5") == [
        "unknown config key 'train.num_step' in --config.train.num_step=5; did you "
        "mean 'train.num_steps'? see the keys of train with --dry_run."]
    assert stderr_lines("--num_steps=5") == [
        "Unknown command line flag 'num_steps' (see python train.py --helpshort)."]
    assert stderr_lines("--config.loss.style_weight=-2",
                        "--config.data.image_size=30")[-3:] == [
        "Invalid config:",
        "- data.image_size = 30 is invalid; expected a positive multiple of 4 (the "
        "generator's stride).",
        "- loss.style_weight = -2.0 is invalid; expected a finite number >= 0."]
    assert not os.path.exists(tmp_path / "run")  # refused before anything is built


@pytest.mark.slow
def test_a_data_error_is_one_sentence_and_exit_1_the_traceback_only_with_verbose(
        tmp_path):
    (tmp_path / "content").mkdir()
    command = [sys.executable, "train.py", "--config=experiments/quickstart.py:test",
               f"--workdir={tmp_path / 'run'}", "--config.data.demo=False",
               f"--config.data.content_dir={tmp_path / 'content'}",
               f"--config.data.style_dir={tmp_path / 'content'}"]
    plain = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                           timeout=120)
    assert plain.returncode == 1
    assert plain.stderr.strip().splitlines()[-1] == (
        f"Image folder {tmp_path / 'content'} has no image files (it is empty); "
        f"expected at least one file named *.jpg, *.jpeg, *.png, *.bmp, *.gif, *.webp.")
    assert "Traceback" not in plain.stderr
    assert os.listdir(tmp_path / "run") == [workdir_lib.LOCK_FILE]
    verbose = subprocess.run(command + ["--verbose"], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == (
        plain.stderr.strip().splitlines()[-1])


# --------------------------------------------------------------------------- collapse


def test_collapse_detector_warns_after_patience_consecutive_logs():
    detector = guards.CollapseDetector(patience=3)
    separated = {"D/real_prob": 0.995, "D/fake_prob": 0.004, "G/output_std": 0.2}
    healthy = {"D/real_prob": 0.7, "D/fake_prob": 0.3, "G/output_std": 0.2}
    assert detector.symptoms(separated) == {"separated"}
    assert detector.symptoms(healthy) == set()
    assert detector.update(separated, 10) == []
    assert detector.update(separated, 20) == []
    assert detector.update(healthy, 30) == []  # the streak restarts
    assert [detector.update(separated, step) for step in (40, 50)] == [[], []]
    (warning,) = detector.update(separated, 60)
    assert warning.startswith("Possible collapse at step 60: D separates real from "
                              "fake completely (D/real_prob 0.9950 > 0.99, "
                              "D/fake_prob 0.0040 < 0.01) for 3 logs")


def test_collapse_detector_flags_constant_outputs_and_ignores_borderline_values():
    detector = guards.CollapseDetector(patience=2)
    flat = {"G/output_std": 2e-4}  # pretraining: no D probabilities yet
    assert detector.update(flat, 1) == []
    (warning,) = detector.update(flat, 2)
    assert "G's outputs are constant (G/output_std 0.0002 < 0.001) for 2 logs" in warning
    # D at 0.99 / 0.01 exactly is not "complete" separation; std at the threshold is
    # not constant.
    assert detector.symptoms({"D/real_prob": 0.99, "D/fake_prob": 0.01,
                              "G/output_std": 1e-3}) == set()
    assert detector.symptoms({"D/real_prob": 0.999, "D/fake_prob": 0.2}) == set()


# --------------------------------------------------------------------------- checkpoints


def _saved_variable_checkpoints(directory, values):
    variable = tf.Variable(0.0)
    checkpoint = tf.train.Checkpoint(v=variable)
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=5)
    for number, value in enumerate(values, start=1):
        variable.assign(value)
        manager.save(checkpoint_number=number)
    return variable, checkpoint, manager


def test_a_half_written_newer_checkpoint_is_ignored(tmp_path):
    """A kill during manager.save leaves ckpt-N_temp/ or ckpt-N files that the
    atomically rewritten `checkpoint` index does not list yet."""
    directory = str(tmp_path)
    _saved_variable_checkpoints(directory, [1.0, 2.0])
    os.makedirs(tmp_path / "ckpt-3_temp")
    (tmp_path / "ckpt-3_temp" / "part-00000-of-00001.index").write_bytes(b"\x00" * 7)
    (tmp_path / "ckpt-3.index").write_bytes(b"half an index")
    (tmp_path / "ckpt-3.data-00000-of-00001").write_bytes(b"\x01" * 5)
    variable = tf.Variable(0.0)
    checkpoint = tf.train.Checkpoint(v=variable)
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=5)
    assert checkpointing.restore_newest_readable(checkpoint, manager).endswith("ckpt-2")
    assert float(variable) == 2.0


@pytest.mark.parametrize("damage", ["truncated_data", "truncated_index", "missing"])
def test_a_damaged_listed_checkpoint_falls_back_to_the_one_before(tmp_path, damage,
                                                                  caplog):
    variable, checkpoint, manager = _saved_variable_checkpoints(str(tmp_path),
                                                                [1.0, 2.0, 3.0])
    prefix = str(tmp_path / "ckpt-3")
    if damage == "missing":
        os.remove(prefix + ".data-00000-of-00001")
    else:
        path = prefix + (".index" if damage == "truncated_index"
                         else ".data-00000-of-00001")
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:len(data) // 2])
    with caplog.at_level(logging.WARNING):
        assert checkpointing.restore_newest_readable(checkpoint, manager) == str(
            tmp_path / "ckpt-2")
    assert float(variable) == 2.0
    assert f"Skipping checkpoint {prefix}: it cannot be read" in caplog.text


def test_a_damaged_index_file_does_not_hide_the_checkpoints(tmp_path, caplog):
    """TF ignores an unparsable `checkpoint` file; a fresh start would then overwrite
    the run's checkpoints."""
    _saved_variable_checkpoints(str(tmp_path), [1.0, 2.0, 3.0])
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-3"\nall_mod')
    variable = tf.Variable(0.0)
    checkpoint = tf.train.Checkpoint(v=variable)
    manager = tf.train.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=5)
    assert manager.checkpoints == []
    with caplog.at_level(logging.WARNING):
        assert checkpointing.restore_newest_readable(checkpoint, manager).endswith("ckpt-3")
    assert float(variable) == 3.0
    assert "lists no checkpoint but 3 are in the folder" in caplog.text


def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    _, checkpoint, manager = _saved_variable_checkpoints(str(tmp_path), [1.0])
    os.remove(tmp_path / "ckpt-1.index")
    with pytest.raises(ValueError, match="None of the checkpoints in .* is usable"):
        checkpointing.restore_newest_readable(checkpoint, manager)


def test_resuming_with_another_architecture_is_a_clear_error(trained_run_copy):
    config, workdir = trained_run_copy
    config = config.copy_and_resolve_references()
    config.model.generator = "small"
    config.train.num_steps = 4
    with open(os.path.join(workdir, "config.json")) as f:
        saved_config = f.read()
    with pytest.raises(ValueError, match=r"Checkpoint .*ckpt-3 does not match the "
                       r"models of this config \(Received incompatible tensor with "
                       r"shape .*\); it was written with a different config"):
        loop.train_and_evaluate(config, workdir)
    with open(os.path.join(workdir, "config.json")) as f:
        assert f.read() == saved_config  # still the config of the checkpoints


@pytest.mark.parametrize("with_manifest", [True, False])
@pytest.mark.parametrize("damage", ["truncated", "wrong_architecture", "not_keras"])
def test_a_bad_export_is_a_clear_error(trained_run, tmp_path, damage, with_manifest):
    """A current export's manifest names the damaged file; an export from before
    manifests existed is still refused by the file's own checks."""
    _, workdir = trained_run
    export_dir = str(tmp_path / "export")
    shutil.copytree(os.path.join(workdir, "export"), export_dir)
    if not with_manifest:
        os.remove(workdir_lib.manifest_path(export_dir))
    model_path = os.path.join(export_dir, workdir_lib.GENERATOR_FILE)
    if damage == "truncated":
        with open(model_path, "rb") as f:
            data = f.read()
        with open(model_path, "wb") as f:
            f.write(data[:len(data) // 3])
        message = "is not a whole .keras file"
    elif damage == "not_keras":
        with open(model_path, "w") as f:
            f.write("import os; os.system('echo pwned')\n")
        message = "is not a whole .keras file"
    else:  # the generator of another run, the styles of this one
        config = quickstart.get_config("test")
        config.model.code_dim = 12
        models = step_lib.build_models(config.model, config.optim, 3)
        models.generator.save(model_path)
        message = "codes of 8 values but the generator expects 12"
    if with_manifest:
        message = (f"{workdir_lib.GENERATOR_FILE} is not the file this export was "
                   f"written with")
    with pytest.raises(ValueError, match=message) as error:
        loading.load_export(export_dir)
    assert workdir_lib.GENERATOR_FILE in str(error.value) or "styles.json" in str(error.value)
    import stylize
    from evaluation import evaluator
    demo = os.path.join(workdir, "demo_data")
    with pytest.raises(ValueError, match=message):
        stylize.stylize(export_dir, os.path.join(demo, "content"),
                        str(tmp_path / "out"), styles=["swirls"])
    with pytest.raises(ValueError, match=message):
        evaluator.evaluate(evaluator.Options(
            output=str(tmp_path / "out"), model=export_dir, image_size=16,
            content_dir=os.path.join(demo, "content"), vgg_weights="random",
            style_dir=os.path.join(demo, "styles"),
            default_config=defaults.base_config().to_dict()))
    assert not os.path.exists(tmp_path / "out")


# --------------------------------------------------------------------------- divergence


@pytest.fixture
def poisoned_training(monkeypatch):
    """Makes G's weights NaN just before the train step call number `at` (each call in
    `at`), as an exploding update would; returns the list to set `at` in."""
    at, built = [], []
    real_build, real_make = step_lib.build_models, step_lib.make_distributed_step

    def build_models(*args, **kwargs):
        built.append(real_build(*args, **kwargs))
        return built[-1]

    def make_distributed_step(*args, **kwargs):
        train_step, calls = real_make(*args, **kwargs), []

        def poisoned_step(*step_args):
            calls.append(None)
            if len(calls) in at:
                kernel = built[-1].generator.weights[0]
                kernel.assign(tf.fill(kernel.shape, float("nan")))
            return train_step(*step_args)

        return poisoned_step

    monkeypatch.setattr(step_lib, "build_models", build_models)
    monkeypatch.setattr(step_lib, "make_distributed_step", make_distributed_step)
    return at


def divergence_config(mode):
    config = quickstart.get_config("test")
    config.train.num_steps = 8
    config.train.on_nonfinite = mode
    config.train.max_restores = 1
    return config


@pytest.mark.slow
def test_nonfinite_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(
        poisoned_training, tmp_path):
    poisoned_training.append(5)
    with pytest.raises(FloatingPointError, match=r"Training diverged at step 5: "
                       r"loss/G/\w+ = nan"):
        loop.train_and_evaluate(divergence_config("stop"), str(tmp_path))
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-4")


@pytest.mark.slow
def test_nonfinite_loss_restores_the_last_checkpoint_with_lower_learning_rates(
        poisoned_training, tmp_path, caplog):
    poisoned_training.append(5)
    config = divergence_config("restore")
    with caplog.at_level(logging.WARNING):
        models = loop.train_and_evaluate(config, str(tmp_path))
    assert ("Training diverged at step 5: loss/G/" in caplog.text
            and "Restored " in caplog.text and "ckpt-4 (step 4) and lowered the "
            "learning rates: G 0.001 -> 0.0005, D 0.0001 -> 5e-05." in caplog.text)
    assert float(models.g_optimizer.learning_rate) == pytest.approx(5e-4)
    assert float(models.d_optimizer.learning_rate) == pytest.approx(5e-5)
    assert all(np.isfinite(w).all() for w in models.generator.get_weights())
    scalars = read_scalars(str(tmp_path))
    assert scalars["train/restored_after_divergence"] == {4: 4.0}
    assert scalars["optim/g_lr"][8] == pytest.approx(5e-4)
    assert max(scalars["G/output_std"]) > 0.0
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-8")


@pytest.mark.slow
def test_a_restore_during_the_learning_rate_decay_goes_back_on_the_schedule(
        poisoned_training, tmp_path):
    poisoned_training.append(5)
    config = divergence_config("restore")
    config.optim.decay_steps, config.optim.decay_to = 4, 0.5
    models = loop.train_and_evaluate(config, str(tmp_path))
    # Step 4's rates from its checkpoint, halved by the restore, then halved by the
    # decay from step 4 to 8.
    assert float(models.g_optimizer.learning_rate) == pytest.approx(2.5e-4)
    assert float(models.d_optimizer.learning_rate) == pytest.approx(2.5e-5)
    assert read_scalars(str(tmp_path))["optim/g_lr"][8] == pytest.approx(2.5e-4)


@pytest.mark.slow
def test_a_divergence_that_persists_stops_after_max_restores(poisoned_training,
                                                             tmp_path):
    poisoned_training.extend([3, 4])  # diverges again right after the restore
    with pytest.raises(FloatingPointError, match="step 3: "):
        loop.train_and_evaluate(divergence_config("restore"), str(tmp_path))


# --------------------------------------------------------------------------- kill -9


def checkpoint_tensors(prefix):
    """{name: array} of every value saved in a checkpoint."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name)
            for name in reader.get_variable_to_shape_map()
            if "save_counter" not in name}


KILL_STEPS = 40
KILL_OVERRIDES = [f"--config.train.num_steps={KILL_STEPS}",
                  "--config.train.checkpoint_every=2", "--config.train.keep_checkpoints=2",
                  "--config.train.image_every=1000", "--config.train.pretrain_steps=10",
                  "--config.train.deterministic=True"]


@pytest.fixture(scope="module")
def two_uninterrupted_runs(tmp_path_factory):
    """Two deterministic runs of the kill test's config, in one fresh process (op
    determinism is process-wide, so it stays out of the test session)."""
    root = tmp_path_factory.mktemp("deterministic")
    script = (
        "import sys\n"
        "from absl import flags\n"
        "from ml_collections import config_flags\n"
        "from training import loop\n"
        "config = config_flags.DEFINE_config_file('config')\n"
        "flags.FLAGS(['x', '--config=experiments/quickstart.py:test'] + sys.argv[3:])\n"
        "for workdir in sys.argv[1:3]:\n"
        "    loop.train_and_evaluate(config.value, workdir)\n")
    workdirs = [str(root / "a"), str(root / "b")]
    result = subprocess.run([sys.executable, "-c", script, *workdirs] + KILL_OVERRIDES,
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return [checkpoint_tensors(os.path.join(w, "checkpoints", f"ckpt-{KILL_STEPS}"))
            for w in workdirs]


@pytest.mark.slow
def test_two_deterministic_runs_give_bit_identical_weights(two_uninterrupted_runs):
    first, second = two_uninterrupted_runs
    assert first.keys() == second.keys() and len(first) > 20
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


@pytest.mark.slow
def test_kill_9_at_a_random_moment_then_the_same_command_resumes(
        two_uninterrupted_runs, tmp_path):
    """SIGKILL a real run at a random moment (possibly inside a checkpoint write);
    the same command resumes from the newest complete checkpoint and ends with the
    same weights as a run never interrupted."""
    workdir = str(tmp_path / "run")
    command = [sys.executable, "train.py", "--config=experiments/quickstart.py:test",
               f"--workdir={workdir}"] + KILL_OVERRIDES
    chance = random.Random(6)
    kill_after_step, extra_delay = chance.randint(3, KILL_STEPS - 15), chance.random() * 0.1
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        for line in process.stderr:  # absl logs each step to stderr (log_every=1)
            if f"step {kill_after_step}/" in line or time.monotonic() > deadline:
                break
        time.sleep(extra_delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL
    state = tf.train.get_checkpoint_state(os.path.join(workdir, "checkpoints"))
    newest = int(state.model_checkpoint_path.rsplit("-", 1)[1])
    assert kill_after_step - 2 <= newest < KILL_STEPS
    checkpoint_tensors(state.model_checkpoint_path)  # complete: it reads back
    resumed = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"ckpt-{newest} at step {newest}." in resumed.stderr
    final = checkpoint_tensors(os.path.join(workdir, "checkpoints", f"ckpt-{KILL_STEPS}"))
    uninterrupted = two_uninterrupted_runs[0]
    assert final.keys() == uninterrupted.keys()
    for name in final:  # same data order, optimizer state and step: same weights
        np.testing.assert_array_equal(final[name], uninterrupted[name], err_msg=name)
