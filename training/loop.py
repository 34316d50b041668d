"""train_and_evaluate(config, workdir): the whole training run.

The workdir is the run: config.json, styles.json, checkpoints/, TensorBoard events,
samples/ (PNG grids) and export/. Calling again with the same workdir resumes from
the newest checkpoint.
"""
import contextlib
import json
import math
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

from data import pipeline, samples
from storage import atomic
from models import generator as generator_lib
from training import balance as balance_lib, config_check, ema as ema_lib, export, guards
from training import precision, step as step_lib, strategy as strategy_lib, summaries
from training import warm_start


def resolve_data_config(data_config, workdir):
    """Returns the data config with the demo folders filled in when data.demo."""
    data_config = data_config.copy_and_resolve_references()
    if data_config.demo and data_config.get("tfrecords"):
        raise ValueError(f"data.demo and data.tfrecords={data_config.tfrecords!r} are "
                         f"both set; expected one source of data.")
    if data_config.demo:
        content_dir, style_dir = samples.write_demo_data(
            os.path.join(workdir, "demo_data"))
        data_config.content_dir, data_config.style_dir = content_dir, style_dir
    return data_config


def _center_crops(files, size):
    images = []
    for path in files:
        image = pipeline.resize_short_side(pipeline.decode_image(path), size)
        images.append(tf.image.resize_with_crop_or_pad(image, size, size))
    return np.stack(images)


def fixed_samples(data_config, train_config):
    """Content and style images shown in every sample grid: the first few contents,
    and the first image of each of the first few styles, centre-cropped."""
    size = data_config.image_size
    contents, styles = pipeline.first_images_from_config(
        data_config, train_config.sample_contents, train_config.sample_styles)
    return (_center_crops(contents, size), _center_crops(styles, size),
            np.arange(len(styles), dtype=np.int32))


def render_samples(models, contents, styles, style_ids):
    """Runs G on every (content, style) pair of the fixed samples -> grid image."""
    codes = models.bank(style_ids)
    num_contents, num_styles = len(contents), len(style_ids)
    images = tf.constant(np.repeat(contents, num_styles, axis=0))
    code_maps = generator_lib.as_code_map(tf.tile(codes, [num_contents, 1]))
    outputs = models.generator([images, code_maps], training=False)
    outputs = np.asarray(outputs).reshape((num_contents, num_styles) + contents.shape[1:])
    return summaries.sample_grid(contents, styles, outputs)


def check_finite(metrics, step):
    """Stops the run at the first non-finite loss, naming the step and the term."""
    for tag, value in metrics.items():
        if not math.isfinite(value):
            raise FloatingPointError(
                f"Training diverged at step {step}: {tag} = {value}. Lower the "
                f"learning rates or the loss weights; the last good checkpoint is "
                f"kept in checkpoints/ (--config.train.on_nonfinite=restore goes "
                f"back to it by itself).")


def _check_styles(workdir, style_names):
    styles_path = os.path.join(workdir, "styles.json")
    if os.path.exists(styles_path):
        with open(styles_path) as f:
            previous = json.load(f)["names"]
        if previous != list(style_names):
            raise ValueError(
                f"{styles_path} lists styles {previous} but the data now has "
                f"{list(style_names)}; use a new workdir for different styles.")


def _save_run_files(config, workdir, style_names):
    atomic.write_json(os.path.join(workdir, "styles.json"),
                         {"names": list(style_names)})
    atomic.write_atomically(os.path.join(workdir, "config.json"),
                               (config.to_json_best_effort(indent=2) + "\n").encode())


def train_and_evaluate(config, workdir):
    """Trains G and D as configured, writing everything into `workdir`."""
    strategy = strategy_lib.make_strategy(config.strategy)
    config_check.validate(config, strategy.num_replicas_in_sync)
    if config.train.deterministic:
        guards.make_deterministic(config.seed)
    keras.utils.set_random_seed(config.seed)
    os.makedirs(workdir, exist_ok=True)
    # Only the chief writes the run's files; other workers keep their copy of the
    # demo data (and their checkpoints, see strategy.py) in a scratch folder.
    chief = strategy_lib.is_chief(strategy)
    scratch = None if chief else tempfile.mkdtemp(prefix="worker_scratch_")
    try:
        return _train(config, workdir, strategy, chief, scratch)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _train(config, workdir, strategy, chief, scratch):
    data_config = resolve_data_config(config.data, scratch or workdir)
    style_names = pipeline.style_names_from_config(data_config)
    skipped_files = pipeline.unreadable_files(data_config)
    _check_styles(workdir, style_names)

    with strategy.scope(), precision.policy(config.train.precision):
        models = step_lib.build_models(config.model, config.optim, len(style_names),
                                       vgg_config=config.vgg)
        feature_extractor = step_lib.build_feature_extractor(config.vgg, config.model)
        checkpoint_dir = os.path.join(workdir, "checkpoints")
        if config.train.get("init_generator") and not tf.train.latest_checkpoint(
                checkpoint_dir):
            warm_start.init_generator(config.train.init_generator, models, style_names)
        ema = ema_lib.maybe_ema(models, config.train, config.model, config.vgg)
    balance = balance_lib.from_config(config.train)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(
        generator=models.generator, discriminator=models.discriminator,
        bank=models.bank, g_optimizer=models.g_optimizer,
        d_optimizer=models.d_optimizer, step=step,
        # Optional parts only when on, so runs from before they existed still resume.
        **({"d_balance": balance.average} if balance.enabled else {}),
        **({"encoder": models.encoder} if models.encoder is not None else {}),
        **(ema.checkpoint_items() if ema else {}))
    keep = config.train.keep_checkpoints
    manager = strategy_lib.make_checkpoint_manager(checkpoint, checkpoint_dir, strategy,
                                                   keep)
    # Every worker resumes from the chief's checkpoints (and only the chief writes them).
    chief_checkpoints = manager if chief else tf.train.CheckpointManager(
        checkpoint, checkpoint_dir, max_to_keep=keep)
    resumed_from = guards.restore_newest_readable(checkpoint, chief_checkpoints)
    strategy_lib.check_same_step(strategy, step)
    # Only now: a config whose models do not match the checkpoints leaves them alone.
    if chief:
        _save_run_files(config, workdir, style_names)
    if resumed_from:
        logging.info("Resumed from %s at step %d.", resumed_from, int(step))
    elif config.train.on_nonfinite == "restore":
        manager.save(checkpoint_number=0)  # a good state to go back to from the start

    def data_iterator():
        # The data stream is a pure function of (seed, example index): a resumed run
        # continues exactly where the checkpointed one was. Each input pipeline (one
        # per worker) makes its replicas' share of the global batch.
        return iter(strategy.distribute_datasets_from_function(
            lambda context: pipeline.make_dataset_from_config(
                data_config, config.train.batch_size, seed=config.seed,
                start_index=int(step) * config.train.batch_size,
                input_context=context)[0]))
    train_step = step_lib.make_distributed_step(
        strategy, step_lib.make_replica_step(models, feature_extractor, config.vgg,
                                             config.loss, config.train.batch_size),
        jit_compile=config.train.jit_compile)
    sample_images = fixed_samples(data_config, config.train) if chief else None

    writer = (tf.summary.create_file_writer(workdir) if chief
              else tf.summary.create_noop_writer())
    any_worker = strategy_lib.any_worker_function(strategy)
    with writer.as_default():
        if int(step) == 0:
            summaries.write_config(config, step=0)
            tf.summary.scalar("data/skipped_files", len(skipped_files), step=0)
        with stop_on_signals() as received:
            for restores in range(config.train.max_restores + 1):
                try:
                    # A signal to any worker stops all of them at the same step.
                    stopped = _train_loop(
                        config.train, models, train_step, data_iterator(), step,
                        manager, sample_images, workdir, lambda: any_worker(received),
                        ema, balance)
                    break
                except FloatingPointError as error:
                    if (config.train.on_nonfinite != "restore"
                            or restores == config.train.max_restores):
                        raise
                    restored = guards.restore_after_divergence(
                        checkpoint, chief_checkpoints, models, step,
                        config.train.restore_lr_factor, error)
                    tf.summary.scalar("train/restored_after_divergence", restored,
                                      step=restored)
    writer.flush()
    # A barrier: workers leave together (else the distributed iterator's teardown
    # can stall one of them for many seconds).
    any_worker(False)
    logging.info("Generator weights fingerprint at step %d: %s", int(step),
                 strategy_lib.weights_fingerprint(models.generator))
    if stopped:
        logging.warning("Stopped by %s at step %d after saving a checkpoint; run the "
                        "same command to resume.",
                        received[0].name if received else "a signal to another worker",
                        int(step))
        return models
    if not chief:
        return models
    exported = ema.models_for_sampling(models) if ema else models
    export.export_generator(os.path.join(workdir, "export"), exported.generator,
                            exported.bank, style_names, encoder=exported.encoder,
                            encoder_image_size=(data_config.style_resize
                                                or data_config.image_size),
                            saved_model=config.train.get("export_saved_model", True))
    logging.info("Exported the generator to %s.", os.path.join(workdir, "export"))
    return models


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


def _train_loop(train_config, models, train_step, iterator, step, manager,
                sample_images, workdir, should_stop=lambda: False, ema=None,
                balance=None):
    """Trains until train.num_steps or until `should_stop()`; returns whether it was
    stopped. `sample_images` None: no sample grids (not the chief)."""
    balance = balance or balance_lib.DiscriminatorBalance(0.0, 0.9)
    batch_size = train_config.batch_size
    # Speed counts train steps only, not the sample grids and checkpoints between.
    window_seconds, window_steps = 0.0, 0
    collapse = guards.CollapseDetector(train_config.collapse_patience)
    while int(step) < train_config.num_steps:
        adversarial_stage = int(step) >= train_config.pretrain_steps
        started = time.perf_counter()
        update_discriminator = balance.update_discriminator()
        metrics = {k: float(v) for k, v in
                   train_step(iterator, adversarial_stage, update_discriminator).items()}
        balance.observe(metrics, update_discriminator)
        if ema:
            ema.update()
        window_seconds += time.perf_counter() - started
        window_steps += 1
        step.assign_add(1)
        current = int(step)
        check_finite(metrics, current)
        # Step 1 too: the losses of the untrained model are the baseline to compare.
        if (current % train_config.log_every == 0
                or current in (1, train_config.num_steps)):
            steps_per_second = window_steps / window_seconds
            metrics["speed/steps_per_second"] = steps_per_second
            metrics["speed/images_per_second"] = steps_per_second * batch_size
            # np.asarray: float() of a MirroredVariable fails under multi-worker.
            metrics["optim/g_lr"] = float(np.asarray(models.g_optimizer.learning_rate))
            metrics["optim/d_lr"] = float(np.asarray(models.d_optimizer.learning_rate))
            summaries.write_scalars(metrics, current)
            eta = (train_config.num_steps - current) / steps_per_second
            d_total = metrics.get("loss/D/total")
            logging.info(
                "step %d/%d | G %.4g | D %s | %.2f steps/s | ETA %s", current,
                train_config.num_steps, metrics["loss/G/total"],
                "-" if d_total is None else f"{d_total:.4g}", steps_per_second,
                time.strftime("%H:%M:%S", time.gmtime(eta)))
            window_seconds, window_steps = 0.0, 0
            collapse.update(metrics, current)
        if sample_images is not None and (current % train_config.image_every == 0
                                          or current == train_config.num_steps):
            grid = render_samples(ema.models_for_sampling(models) if ema else models,
                                  *sample_images)
            tf.summary.image("samples", grid[None], step=current)
            atomic.write_png(os.path.join(workdir, "samples", f"{current:07d}.png"),
                                grid)
        stopping = should_stop()
        if (current % train_config.checkpoint_every == 0
                or current == train_config.num_steps or stopping):
            manager.save(checkpoint_number=current)
        if stopping:
            return True
    return False
