"""train_and_evaluate(config, workdir): the training loop of a run.

The workdir is the run (storage/workdir.py names its files): config.json,
styles.json, checkpoints/, TensorBoard events, samples/ and export/. Calling again
with the same workdir resumes from the newest checkpoint. The run's state, its start
and its export are in training/run.py; the checkpoints in training/checkpointing.py;
the evaluation every eval.every steps in training/in_training_eval.py.
"""
import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from data import pipeline
from storage import workdir as workdir_lib
from training import config_check, guards, in_training_eval, learning_rates, precision
from training import run as run_lib
from training import sample_grids, step as step_lib, strategy as strategy_lib, summaries


class StoppedBySignal(Exception):
    """A signal stopped the run after it saved a checkpoint at the current step; the
    same command resumes it. `exit_code` is the shell's convention for the signal
    (128 + its number: 143 for SIGTERM, 130 for SIGINT), so a scheduler sees a run
    that did not finish."""

    def __init__(self, stopped_by, step):
        self.signal, self.step = stopped_by, step
        name = stopped_by.name if stopped_by else "a signal to another worker"
        super().__init__(f"Stopped by {name} at step {step} after saving a "
                         f"checkpoint; run the same command to resume.")

    @property
    def exit_code(self):
        # A worker stopped by another worker's signal was preempted with its job:
        # SIGTERM is how schedulers preempt.
        return 128 + int(self.signal or signal.SIGTERM)


def train_and_evaluate(config, workdir):
    """Trains G and D as configured, evaluating every eval.every steps, writing
    everything into `workdir`; returns the models.

    Raises:
      storage.workdir.WorkdirInUse: another run holds the workdir.
      ValueError: bad data or a workdir of another run, before anything is written.
      StoppedBySignal: SIGTERM or SIGINT stopped the run (after a checkpoint).
    """
    strategy = strategy_lib.make_strategy(config.strategy)
    config_check.validate(config, strategy.num_replicas_in_sync)
    if config.train.deterministic:
        guards.make_deterministic(config.seed)
    # Before the seed: the probe builds generators, which draws random weights.
    precision_choice = precision.choose_for_training(
        config, strategy.num_replicas_in_sync,
        any_worker=strategy_lib.any_worker_function(strategy))
    keras.utils.set_random_seed(config.seed)
    # Only the chief writes the run's files, so only it locks the workdir (workers
    # of a multi-worker run share it); the others keep their copy of the demo data
    # (and their checkpoints, see strategy.py) in a scratch folder.
    chief = strategy_lib.is_chief(strategy)
    os.makedirs(workdir, exist_ok=True)
    with workdir_lib.locked(workdir) if chief else contextlib.nullcontext():
        scratch = None if chief else tempfile.mkdtemp(prefix="worker_scratch_")
        try:
            return _train(config, workdir, strategy, scratch or workdir,
                          precision_choice)
        finally:
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)


def _train(config, workdir, strategy, data_root, precision_choice):
    chief = strategy_lib.is_chief(strategy)
    data_config = run_lib.resolve_data_config(config.data, data_root)
    # Everything that can refuse the run comes before it writes a file.
    style_names, skipped_files = pipeline.check_data(data_config)
    run_lib.check_styles(workdir, style_names)
    run = run_lib.build(config, workdir, strategy, style_names, precision_choice)
    outputs = _ChiefOutputs(config, data_config, data_root, run, workdir) if chief \
        else None
    run_lib.resume(run, config, workdir, strategy)
    writer = (tf.summary.create_file_writer(workdir) if chief
              else tf.summary.create_noop_writer())
    any_worker = strategy_lib.any_worker_function(strategy)
    with writer.as_default():
        if int(run.step) == 0:
            summaries.write_config(config, step=0, workdir=workdir)
            tf.summary.scalar("data/skipped_files", len(skipped_files), step=0)
        # At every start: a resumed run may run on another machine.
        tf.summary.text("precision", run.precision.sentence(), step=int(run.step))
        with stop_on_signals() as received:
            # A signal to any worker stops all of them at the same step.
            stopped = _train_with_restores(config, data_config, strategy, run, outputs,
                                           lambda: any_worker(received))
    writer.flush()
    # A barrier: workers leave together (else the distributed iterator's teardown
    # can stall one of them for many seconds).
    any_worker(False)
    logging.info("Generator weights fingerprint at step %d: %s", int(run.step),
                 strategy_lib.weights_fingerprint(run.models.generator))
    if stopped:
        stop = StoppedBySignal(received[0] if received else None, int(run.step))
        logging.warning("%s", stop)
        raise stop
    if chief:
        run_lib.export_at_end(run, data_config, config.train, workdir)
    return run.models


class _ChiefOutputs:
    """What only the chief writes after a step: the sample grid every
    train.image_every steps and the evaluation every eval.every steps (and both at
    the last step)."""

    def __init__(self, config, data_config, data_root, run, workdir):
        self.train_config, self.run, self.workdir = config.train, run, workdir
        self.samples = sample_grids.fixed_samples(data_config, config.train)
        self.evaluation = in_training_eval.from_config(config, data_config, data_root,
                                                       run.feature_extractor)

    def after_step(self, step):
        last = step == self.train_config.num_steps
        models = self.run.models_for_sampling()
        if step % self.train_config.image_every == 0 or last:
            sample_grids.write_sample_grid(models, self.samples, self.workdir, step)
        if self.evaluation and self.evaluation.due(step):
            self.evaluation.run(models, step)


def _train_with_restores(config, data_config, strategy, run, outputs, should_stop):
    """Trains to train.num_steps; after a non-finite loss, with
    train.on_nonfinite="restore", goes back to the last good checkpoint (at most
    train.max_restores times). Returns whether a signal stopped the run."""
    train_step = step_lib.make_distributed_step(
        strategy, step_lib.make_replica_step(run.models, run.feature_extractor,
                                             config.vgg, config.loss,
                                             config.train.batch_size),
        jit_compile=config.train.jit_compile)
    rates = learning_rates.TailDecay.from_config(config.optim, config.train)
    for restores in range(config.train.max_restores + 1):
        iterator = data_iterator(strategy, data_config, config.train.batch_size,
                                 config.seed, start_step=int(run.step))
        try:
            return _train_steps(config.train, run, train_step, iterator, outputs,
                                should_stop, rates)
        except FloatingPointError as error:
            if (config.train.on_nonfinite != "restore"
                    or restores == config.train.max_restores):
                raise
            restored = run.checkpoints.restore_after_divergence(
                run.models, run.step, config.train.restore_lr_factor, error)
            tf.summary.scalar("train/restored_after_divergence", restored,
                              step=restored)


def data_iterator(strategy, data_config, batch_size, seed, start_step):
    """The distributed training batches from `start_step` on.

    The data stream is a pure function of (seed, example index): a resumed run
    continues exactly where the checkpointed one was. Each input pipeline (one per
    worker) makes its replicas' share of the global batch.
    """
    return iter(strategy.distribute_datasets_from_function(
        lambda context: pipeline.make_dataset_from_config(
            data_config, batch_size, seed=seed, start_index=start_step * batch_size,
            input_context=context)[0]))


@contextlib.contextmanager
def stop_on_signals():
    """While active, SIGTERM/SIGINT do not kill the run: they are recorded in the
    yielded list, and the loop saves a checkpoint and returns at the end of its step.
    (Signal handlers can only be set from the main thread; elsewhere this is a no-op.)
    """
    received = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, lambda number, _: received.append(
        signal.Signals(number))) for s in signals}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _one_step(run, train_step, iterator, pretrain_steps):
    """One train step (and the D balance and EMA updates); returns its metrics."""
    adversarial_stage = int(run.step) >= pretrain_steps
    update_discriminator = run.balance.update_discriminator()
    metrics = {k: float(v) for k, v in
               train_step(iterator, adversarial_stage, update_discriminator).items()}
    metrics = run.balance.observe(metrics, update_discriminator)
    if run.ema:
        run.ema.update()
    return metrics


def _train_steps(train_config, run, train_step, iterator, outputs, should_stop, rates):
    """Trains until train.num_steps or until `should_stop()`; returns whether it was
    stopped. `outputs` None: no sample grids and no evaluation (not the chief);
    `rates` moves the learning rates along their schedule."""
    log = _Log(train_config, run.models)
    while int(run.step) < train_config.num_steps:
        started = time.perf_counter()
        adversarial = int(run.step) >= train_config.pretrain_steps
        metrics = _one_step(run, train_step, iterator, train_config.pretrain_steps)
        log.count_step(time.perf_counter() - started, adversarial)
        run.step.assign_add(1)
        current = int(run.step)
        rates.move(run.models.optimizers, current - 1, current)
        guards.check_finite(metrics, current)
        log.maybe_write(metrics, current)
        if outputs is not None:
            outputs.after_step(current)
        stopping = should_stop()
        if (current % train_config.checkpoint_every == 0
                or current == train_config.num_steps or stopping):
            run.checkpoints.save(current)
        if stopping:
            return True
    return False


# How much longer an adversarial step takes than a perceptual-only one, for the ETA
# before the adversarial stage has been timed. Measured once, on the quickstart on 2
# CPU cores (issue 16): the ETA of the same 700 remaining steps went from 10 minutes
# at stage 1's speed to 15-17 at stage 2's, a ratio of 1.5-1.7. Once stage 2 has
# run, its own measured speed is used instead.
ADVERSARIAL_STEP_COST = 1.6


def eta_seconds(step, num_steps, pretrain_steps, seconds_per_step,
                adversarial_cost=ADVERSARIAL_STEP_COST):
    """Seconds left for the steps after `step`: the perceptual steps (up to
    pretrain_steps) and the adversarial ones, each at its stage's speed.

    Args:
      seconds_per_step: (perceptual, adversarial) mean seconds per step measured so
        far; None for a stage not timed yet, which is then estimated from the other
        one times (or divided by) `adversarial_cost`.
    """
    perceptual, adversarial = seconds_per_step
    if perceptual is None and adversarial is None:
        return None
    if adversarial is None:
        adversarial = perceptual * adversarial_cost
    if perceptual is None:
        perceptual = adversarial / adversarial_cost
    perceptual_left = max(0, min(pretrain_steps, num_steps) - step)
    adversarial_left = max(0, num_steps - step - perceptual_left)
    return perceptual_left * perceptual + adversarial_left * adversarial


class _StageSpeeds:
    """Mean seconds per step of each stage since the process started, leaving out
    the first step of a stage (it traces and compiles that stage's step) once there
    are others."""

    def __init__(self):
        # Per stage (False: perceptual, True: adversarial): [first step, sum, count].
        self.stages = {}

    def add(self, adversarial, seconds):
        if adversarial not in self.stages:
            self.stages[adversarial] = [seconds, 0.0, 0]
        else:
            self.stages[adversarial][1] += seconds
            self.stages[adversarial][2] += 1

    def seconds_per_step(self):
        """(perceptual, adversarial); None for a stage not timed yet."""
        means = []
        for stage in (False, True):
            first, total, count = self.stages.get(stage, (None, 0.0, 0))
            means.append(total / count if count else first)
        return tuple(means)


class _Log:
    """Scalars and the console line every train.log_every steps, with the speed of
    the train steps alone (not the sample grids, evaluations and checkpoints
    between), and the collapse warnings."""

    def __init__(self, train_config, models):
        self.train_config, self.models = train_config, models
        self.seconds, self.steps = 0.0, 0
        self.stages = _StageSpeeds()
        self.collapse = guards.CollapseDetector(train_config.collapse_patience)

    def count_step(self, seconds, adversarial):
        self.seconds += seconds
        self.steps += 1
        self.stages.add(adversarial, seconds)

    def maybe_write(self, metrics, step):
        num_steps = self.train_config.num_steps
        # Step 1 too: the losses of the untrained model are the baseline to compare.
        if step % self.train_config.log_every and step not in (1, num_steps):
            return
        steps_per_second = self.steps / self.seconds
        metrics = {**metrics, "speed/steps_per_second": steps_per_second,
                   "speed/images_per_second":
                       steps_per_second * self.train_config.batch_size,
                   # np.asarray: float() of a MirroredVariable fails under multi-worker.
                   "optim/g_lr": float(np.asarray(self.models.g_optimizer.learning_rate)),
                   "optim/d_lr": float(np.asarray(self.models.d_optimizer.learning_rate))}
        summaries.write_scalars(metrics, step)
        d_total = metrics.get("loss/D/total")  # absent in stage 1
        eta = eta_seconds(step, num_steps, self.train_config.pretrain_steps,
                          self.stages.seconds_per_step())
        logging.info(
            "step %d/%d | G %.4g | D %s | %.2f steps/s | ETA %s", step, num_steps,
            metrics["loss/G/total"], "-" if d_total is None else f"{d_total:.4g}",
            steps_per_second, time.strftime("%H:%M:%S", time.gmtime(eta or 0)))
        self.seconds, self.steps = 0.0, 0
        self.collapse.update(metrics, step)
