"""End-to-end training tests: a real run of the test config into a temporary workdir."""
import errno
import glob
import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from experiments import quickstart
from painting import loading
from storage import workdir as workdir_lib
from tests.helpers import REPO, random_image, read_scalars, write_image
from training import checkpointing, loop, step as step_lib

# `trained_run` (tests/conftest.py): the quickstart :test run with pretrain_steps=1,
# so its 3 steps exercise both stages.


def test_run_writes_checkpoint_config_events_samples_and_export(trained_run):
    config, workdir = trained_run
    assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith("-3")
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)["train"]["num_steps"] == 3
    with open(os.path.join(workdir, "styles.json")) as f:
        assert len(json.load(f)["names"]) >= 4
    scalars = read_scalars(workdir)
    for tag in ["loss/G/content", "loss/G/style", "loss/G/tv", "loss/G/total",
                "speed/steps_per_second", "speed/images_per_second", "optim/g_lr"]:
        assert sorted(scalars[tag]) == [1, 2, 3], tag
    # Stage 1 (step 1) has no adversarial terms; stage 2 (steps 2, 3) has them all.
    for tag in ["loss/G/adv", "loss/D/adv", "loss/D/r1", "loss/D/total",
                "D/real_prob", "D/fake_prob"]:
        assert sorted(scalars[tag]) == [2, 3], tag
    assert 0.0 < scalars["D/real_prob"][2] < 1.0
    assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
        "0000002.png", "0000003.png"]
    with open(os.path.join(workdir, "export", "manifest.json")) as f:
        assert json.load(f)["step"] == 3  # the export names the step it is from


def test_run_files_are_readable_by_others(trained_run):
    """Atomic writes go through mkstemp (mode 0600); the result must follow umask."""
    _, workdir = trained_run
    mode = os.stat(os.path.join(workdir, "config.json")).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_export_reloads_in_safe_mode_and_matches(trained_run):
    config, workdir = trained_run
    generator, names, codes = loading.load_export(workdir)
    assert codes.shape == (len(names), config.model.code_dim)
    image = tf.random.uniform((1, 32, 32, 3), seed=0)
    code_map = tf.constant(codes[:1].reshape(1, 1, 1, -1))
    first = generator([image, code_map])
    again, _, _ = loading.load_export(os.path.join(workdir, "export"))
    np.testing.assert_allclose(first, again([image, code_map]), atol=1e-6)


def test_resume_continues_the_step_count(trained_run_copy):
    config, workdir = trained_run_copy
    config = config.copy_and_resolve_references()
    config.train.num_steps = 5
    loop.train_and_evaluate(config, workdir)
    checkpoints = tf.train.get_checkpoint_state(
        os.path.join(workdir, "checkpoints")).all_model_checkpoint_paths
    assert [p.rsplit("-", 1)[1] for p in checkpoints][-2:] == ["4", "5"]
    assert sorted(read_scalars(workdir)["loss/G/total"]) == [1, 2, 3, 4, 5]


def test_default_checkpoint_holds_only_the_core_objects(trained_run):
    # Optional parts (EMA, D balance, ...) are checkpointed only when switched on, so
    # a run written before they existed still resumes: restoring checks that every
    # object of the new program is in the checkpoint.
    _, workdir = trained_run
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
        tf.train.load_checkpoint(path).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    roots = {child.local_name for child in graph.nodes[0].children}
    assert roots == {"generator", "discriminator", "bank", "g_optimizer", "d_optimizer",
                     "step", "save_counter"}


def test_resume_refuses_different_styles(trained_run, tmp_path):
    config, workdir = trained_run
    with open(os.path.join(workdir, "styles.json")) as f:
        names = json.load(f)["names"]
    with open(os.path.join(tmp_path, "styles.json"), "w") as f:
        json.dump({"names": names[:-1]}, f)
    with pytest.raises(ValueError, match="new workdir"):
        loop.train_and_evaluate(config, str(tmp_path))


def one_step(strategy, batch, initial_weights, config, jit_compile=False, steps=1):
    """Adversarial steps of the test config under `strategy` from fixed weights."""
    with strategy.scope():
        models = step_lib.build_models(config.model, config.optim, num_styles=3)
        feature_extractor = step_lib.build_feature_extractor(config.vgg)
    for model, weights in zip((models.generator, models.discriminator, models.bank),
                              initial_weights):
        model.set_weights(weights)
    replica_step = step_lib.make_replica_step(models, feature_extractor, config.vgg,
                                              config.loss, config.train.batch_size)
    train_step = step_lib.make_distributed_step(strategy, replica_step, jit_compile)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    for _ in range(steps):
        metrics = {k: float(v) for k, v in train_step(iterator, True).items()}
    one_step.tracing_count = train_step.experimental_get_tracing_count()
    weights = [np.asarray(v) for v in models.g_variables
               + models.discriminator.trainable_variables]
    # Adam's first moment after one step is (1 - beta_1) * gradient: linear in it.
    momentums = [[np.asarray(v) for v in optimizer.variables if "momentum" in v.path]
                 for optimizer in (models.g_optimizer, models.d_optimizer)]
    return metrics, weights, momentums


def fixed_batch_and_weights():
    config = quickstart.get_config("test")
    config.train.batch_size = 4
    keras.utils.set_random_seed(0)
    batch = {"content": tf.random.uniform((4, 32, 32, 3), seed=1),
             "style": tf.random.uniform((4, 32, 32, 3), seed=2),
             "style_id": tf.constant([0, 1, 2, 1], tf.int32)}
    reference = step_lib.build_models(config.model, config.optim, num_styles=3)
    initial = [m.get_weights() for m in
               (reference.generator, reference.discriminator, reference.bank)]
    return config, batch, initial


@pytest.fixture(scope="module")
def plain_step():
    """The fixed batch and weights, and one plain step (one device, no XLA) from them:
    the reference that the XLA and replica tests compare with, computed once."""
    config, batch, initial = fixed_batch_and_weights()
    plain = one_step(tf.distribute.get_strategy(), batch, initial, config)
    return config, batch, initial, plain


def test_the_train_step_is_traced_once_for_many_steps():
    config, batch, initial = fixed_batch_and_weights()
    one_step(tf.distribute.get_strategy(), batch, initial, config, steps=4)
    assert one_step.tracing_count == 1


def assert_same_step(expected, actual, rtol, metric_abs, gradient_atol):
    """Same loss metrics, and the same gradients (as Adam's first moments) to within
    `gradient_atol` times the largest gradient of the same network."""
    (expected_metrics, _, expected_momentums), (actual_metrics, _, actual_momentums) = (
        expected, actual)
    assert expected_metrics.keys() == actual_metrics.keys()
    for tag, value in expected_metrics.items():
        assert actual_metrics[tag] == pytest.approx(value, rel=rtol, abs=metric_abs), tag
    for expected_group, actual_group in zip(expected_momentums, actual_momentums):
        scale = max(np.abs(m).max() for m in expected_group)
        for expected_value, actual_value in zip(expected_group, actual_group):
            np.testing.assert_allclose(actual_value, expected_value, rtol=10 * rtol,
                                       atol=gradient_atol * scale)


@pytest.mark.slow
def test_xla_step_matches_the_plain_step(plain_step):
    config, batch, initial, plain = plain_step
    xla = one_step(tf.distribute.get_strategy(), batch, initial, config,
                   jit_compile=True)
    assert_same_step(plain, xla, rtol=1e-4, metric_abs=1e-5, gradient_atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("replicas", [2, 4])
def test_replicas_match_one_replica_on_the_same_global_batch(replicas, mirrored_cpus,
                                                             plain_step):
    """One step over N logical CPUs equals one step on one device for the same
    global batch of 4 (N = 4: one example per replica, so every batch statistic
    and loss average crosses replicas)."""
    config, batch, initial, single = plain_step
    replicated = one_step(mirrored_cpus(replicas), batch, initial, config)
    # Tolerance: losses to 1e-5 relative; gradients (Adam's first moments) to 1e-5
    # of the largest gradient of the same network: float32 rounding of sums taken
    # in a different order.
    assert_same_step(single, replicated, rtol=1e-5, metric_abs=1e-6, gradient_atol=1e-5)
    _, single_weights, single_momentums = single
    _, mirrored_weights, _ = replicated
    single_momentums = single_momentums[0] + single_momentums[1]
    assert len(single_momentums) == len(single_weights)
    # Adam's first update is lr * g / (|g| + eps), about lr * sign(g): a gradient
    # within rounding of zero may flip sign, so weights are compared where the
    # gradient is clearly non-zero (to 1% of the step, lr = 1e-4).
    for single_value, mirrored_value, momentum in zip(single_weights, mirrored_weights,
                                                      single_momentums):
        clear = np.abs(momentum) > 1e-3 * np.abs(momentum).max()
        np.testing.assert_allclose(mirrored_value[clear], single_value[clear], atol=1e-6)


def test_config_is_logged_as_text(trained_run):
    _, workdir = trained_run
    path = sorted(glob.glob(os.path.join(workdir, "events.out.tfevents.*")))[0]
    accumulator = event_accumulator.EventAccumulator(path, size_guidance={"tensors": 0})
    accumulator.Reload()
    (event,) = accumulator.Tensors("config")
    assert b'"num_steps": 3' in tf.make_ndarray(event.tensor_proto).item()


@pytest.mark.slow
def test_dry_run_prints_the_config_without_training(tmp_path):
    result = subprocess.run(
        [sys.executable, "train.py", "--config=experiments/quickstart.py:test",
         "--config.optim.g_lr=0.0002", "--dry_run"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "g_lr: 0.0002" in result.stdout
    assert "num_steps: 3" in result.stdout


TRAIN_COMMAND = [sys.executable, "train.py", "--config=experiments/quickstart.py:test"]


@pytest.mark.slow
def test_sigterm_saves_exits_143_and_a_second_run_on_the_workdir_is_refused(tmp_path):
    """While a run holds its workdir, a second train.py on it exits at once with
    one sentence naming the PID; a SIGTERM then saves the current step and exits
    143 (not 0: a scheduler must not take a preempted run as finished), with no
    export; the same command then resumes from that step."""
    workdir = str(tmp_path / "run")
    command = TRAIN_COMMAND + [f"--workdir={workdir}", "--config.train.num_steps=100000",
                               "--config.train.checkpoint_every=100000",
                               "--config.train.image_every=100000"]
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:  # absl logs to stderr: wait for step 3
            if "step 3/" in line:
                break
        second = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                                timeout=120)
        process.send_signal(signal.SIGTERM)
        remaining = process.communicate(timeout=120)[1]
    finally:
        process.kill()
    assert second.returncode == 1, second.stderr
    assert second.stderr.strip().splitlines()[-1] == (
        f"The workdir {workdir} is in use by another run (PID {process.pid}); wait "
        f"for it to end or use another --workdir.")
    assert process.returncode == 128 + signal.SIGTERM == 143, remaining
    assert "Stopped by SIGTERM" in remaining
    saved_step = int(tf.train.latest_checkpoint(
        os.path.join(workdir, "checkpoints")).rsplit("-", 1)[1])
    assert saved_step >= 3
    assert not os.path.exists(os.path.join(workdir, "export"))
    resumed = subprocess.run(
        command[:4] + [f"--config.train.num_steps={saved_step + 1}",
                       "--config.train.export_saved_model=False"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"at step {saved_step}." in resumed.stderr
    assert tf.train.latest_checkpoint(
        os.path.join(workdir, "checkpoints")).endswith(f"-{saved_step + 1}")


def test_a_signal_gives_the_shells_exit_code():
    assert loop.StoppedBySignal(signal.SIGTERM, 7).exit_code == 143
    assert loop.StoppedBySignal(signal.SIGINT, 7).exit_code == 130
    # Stopped because another worker got the signal: preempted with the job.
    other = loop.StoppedBySignal(None, 7)
    assert other.exit_code == 143
    assert str(other) == ("Stopped by a signal to another worker at step 7 after "
                          "saving a checkpoint; run the same command to resume.")


def test_a_locked_workdir_is_refused_before_anything_is_written(tmp_path):
    workdir = str(tmp_path / "run")
    with workdir_lib.locked(workdir):
        with pytest.raises(workdir_lib.WorkdirInUse,
                           match=rf"The workdir {workdir} is in use by another run "
                                 rf"\(PID {os.getpid()}\)"):
            loop.train_and_evaluate(quickstart.get_config("test"), workdir)
    assert os.listdir(workdir) == [workdir_lib.LOCK_FILE]


def own_data(tmp_path, content_files=2):
    """A content folder with `content_files` photos, and two styles."""
    content, styles = tmp_path / "content", tmp_path / "styles"
    content.mkdir()
    for index in range(content_files):
        write_image(content / f"photo_{index}.png", random_image(40, 40, 3, seed=index))
    for index, style in enumerate(["a", "b"]):
        write_image(styles / style / "1.png", random_image(40, 40, 3, seed=10 + index))
    config = quickstart.get_config("test")
    config.data.demo = False
    config.data.content_dir, config.data.style_dir = str(content), str(styles)
    return config


def test_an_empty_content_folder_is_refused_before_the_workdir_is_written(tmp_path):
    """It once failed with "need at least one array to stack" after config.json and
    styles.json were written, which then refused another style set."""
    config = own_data(tmp_path, content_files=0)
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match=rf"Image folder {tmp_path / 'content'} has "
                                         rf"no image files \(it is empty\)"):
        loop.train_and_evaluate(config, str(workdir))
    assert os.listdir(workdir) == [workdir_lib.LOCK_FILE]


def test_eta_counts_each_stage_at_its_own_speed():
    # 100 steps, 40 perceptual; at step 10 only stage 1 is timed (1 s/step): 30
    # perceptual steps, then 60 adversarial ones at the assumed 1.6 s.
    assert loop.eta_seconds(10, 100, 40, (1.0, None)) == pytest.approx(30 + 60 * 1.6)
    # Both timed: each stage at its own speed, and no jump when stage 2 starts.
    assert loop.eta_seconds(10, 100, 40, (1.0, 2.0)) == pytest.approx(30 + 60 * 2.0)
    assert loop.eta_seconds(50, 100, 40, (1.0, 2.0)) == pytest.approx(50 * 2.0)
    # Resumed inside stage 2: only its speed matters.
    assert loop.eta_seconds(50, 100, 40, (None, 2.0)) == pytest.approx(100.0)
    assert loop.eta_seconds(100, 100, 40, (1.0, 2.0)) == 0.0
    assert loop.eta_seconds(5, 100, 0, (None, None)) is None
    # Stage 1 only (pretrain_steps >= num_steps).
    assert loop.eta_seconds(10, 20, 300, (0.5, None)) == pytest.approx(5.0)


def test_a_full_disk_at_a_checkpoint_is_one_sentence_and_the_last_one_loads(
        trained_run_copy, monkeypatch):
    """The run is at step 3; the save of step 4 finds the disk full after writing
    part of its files."""
    config, workdir = trained_run_copy
    config.train.num_steps = 5
    checkpoint_dir = os.path.join(workdir, "checkpoints")

    def full_disk_save(manager, checkpoint_number=None, **kwargs):
        os.makedirs(os.path.join(checkpoint_dir, f"ckpt-{checkpoint_number}_temp"))
        with open(os.path.join(checkpoint_dir, f"ckpt-{checkpoint_number}.index"),
                  "wb") as f:
            f.write(b"part")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk_save)
    with pytest.raises(checkpointing.DiskFull) as error:
        loop.train_and_evaluate(config, workdir)
    assert str(error.value) == (
        f"No space left on the device holding {workdir}; the last complete checkpoint "
        f"is step 3. Free some space and run the same command to resume.")
    assert sorted(name for name in os.listdir(checkpoint_dir)
                  if name.startswith("ckpt-4")) == []
    monkeypatch.undo()
    models = step_lib.build_models(config.model, config.optim, 4)
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(generator=models.generator, step=step)
    checkpoint.restore(tf.train.latest_checkpoint(checkpoint_dir)).expect_partial()
    assert int(step) == 3


EVAL_TAGS = ("eval/ssim_y", "eval/gram_distance", "eval/deception_rate",
             "eval/fusion_spearman", "eval/seconds")


def eval_run(workdir, num_steps=3):
    config = quickstart.get_config("test")
    config.eval.every = 2
    config.train.num_steps = num_steps
    return loop.train_and_evaluate(config, workdir)


def assert_sane_eval_scalars(scalars, steps):
    for tag in EVAL_TAGS:
        assert sorted(scalars[tag]) == steps, tag
    for step in steps:
        assert 0.0 <= scalars["eval/ssim_y"][step] <= 1.0
        assert 0.0 <= scalars["eval/deception_rate"][step] <= 1.0
        assert 0.0 < scalars["eval/gram_distance"][step] < float("inf")
        spearman = scalars["eval/fusion_spearman"][step]
        assert np.isnan(spearman) or -1.0 <= spearman <= 1.0
        assert scalars["eval/seconds"][step] > 0.0


def test_evaluation_during_training_logs_sane_eval_scalars(tmp_path):
    """eval.every=2 over 3 steps evaluates at step 2 and at the last step, on
    held-out photos."""
    workdir = str(tmp_path)
    eval_run(workdir)
    assert_sane_eval_scalars(read_scalars(workdir), [2, 3])
    demo = os.path.join(workdir, "demo_data")
    assert not set(os.listdir(os.path.join(demo, "eval_content"))) & set(
        os.listdir(os.path.join(demo, "content")))


@pytest.mark.slow
def test_evaluation_goes_on_after_resume_and_leaves_training_unchanged(tmp_path):
    workdir = str(tmp_path / "run")
    evaluated = eval_run(workdir)
    eval_run(workdir, num_steps=4)
    assert_sane_eval_scalars(read_scalars(workdir), [2, 3, 4])
    plain = loop.train_and_evaluate(quickstart.get_config("test"),
                                    str(tmp_path / "plain"))
    for with_eval, without_eval in zip(evaluated.generator.get_weights(),
                                       plain.generator.get_weights()):
        np.testing.assert_array_equal(with_eval, without_eval)


@pytest.mark.parametrize("key, value, message", [
    ("eval.every", -1, "eval.every = -1 is invalid; expected an integer >= 0."),
    ("eval.num_contents", 0, "eval.num_contents = 0 is invalid"),
    ("eval.content_dir", "/no/such/folder", "eval.content_dir = '/no/such/folder' is "
                                            "invalid; expected an existing folder"),
    ("data.demo", False, "eval.content_dir = '' is invalid; expected a folder of "
                         "held-out photos"),
])
def test_evaluation_settings_are_checked(key, value, message):
    from training import config_check
    config = quickstart.get_config("test")
    config.eval.every = 2
    group, name = key.split(".")
    config[group][name] = value
    if key == "data.demo":
        config.data.content_dir, config.data.style_dir = "photos", "styles"
    with pytest.raises(ValueError, match=message):
        config_check.validate(config)
