"""A run's state, its start and its end: the data it reads, the models (new, warm
started from another run, or resumed from the newest checkpoint), the run files
(storage/workdir.py names them) and the export written when it finishes."""
import dataclasses

import tensorflow as tf
from absl import logging

from data import samples
from models import precision
from storage import checkpoints as checkpoints_lib
from storage import workdir as workdir_lib
from training import balance as balance_lib, checkpointing, ema as ema_lib, export
from training import step as step_lib, strategy as strategy_lib, warm_start


@dataclasses.dataclass
class Run:
    models: step_lib.Models
    feature_extractor: object     # the perceptual losses' VGG: {layer: features}
    ema: object                   # training.ema.GeneratorEMA, or None
    balance: balance_lib.DiscriminatorBalance
    step: tf.Variable
    checkpoints: checkpointing.RunCheckpoints
    style_names: list
    precision: precision.Choice   # the compute precision and why (train.precision)

    def models_for_sampling(self):
        """What the samples, the evaluation and the export paint with: the EMA's
        models when it is on, else the live ones."""
        return self.ema.models_for_sampling(self.models) if self.ema else self.models


def resolve_data_config(data_config, data_root):
    """Returns the data config with the demo folders (written under `data_root`)
    filled in when data.demo."""
    data_config = data_config.copy_and_resolve_references()
    if data_config.demo and data_config.tfrecords:
        raise ValueError(f"data.demo and data.tfrecords={data_config.tfrecords!r} are "
                         f"both set; expected one source of data.")
    if data_config.demo:
        content_dir, style_dir = samples.write_demo_data(
            workdir_lib.demo_data_dir(data_root))
        data_config.content_dir, data_config.style_dir = content_dir, style_dir
    return data_config


def check_styles(workdir, style_names):
    """Refuses a workdir whose styles.json lists other styles than the data has."""
    previous = workdir_lib.read_style_names(workdir)
    if previous is not None and previous != list(style_names):
        raise ValueError(
            f"{workdir_lib.styles_path(workdir)} lists styles {previous} but the data "
            f"now has {list(style_names)}; use a new workdir for different styles.")


def build(config, workdir, strategy, style_names, precision_choice):
    """The run's models and training state, before any checkpoint is restored, in
    the precision `precision_choice` (training.precision.choose_for_training)."""
    with strategy.scope(), precision.policy(precision_choice.precision):
        models = step_lib.build_models(config.model, config.optim, len(style_names),
                                       vgg_config=config.vgg)
        feature_extractor = step_lib.build_feature_extractor(config.vgg, config.model)
        if config.train.init_generator and not checkpoints_lib.latest_checkpoint(workdir):
            warm_start.init_generator(config.train.init_generator, models, style_names)
        ema = ema_lib.maybe_ema(models, config.train, config.model, config.vgg)
    balance = balance_lib.from_config(config.train)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoints = checkpointing.RunCheckpoints(
        checkpointing.checkpoint_items(models, step, balance, ema), workdir, strategy,
        config.train.keep_checkpoints)
    return Run(models, feature_extractor, ema, balance, step, checkpoints,
               list(style_names), precision_choice)


def resume(run, config, workdir, strategy):
    """Restores the newest readable checkpoint (every worker, from the chief's), then
    writes config.json and styles.json (the chief)."""
    resumed_from = run.checkpoints.resume()
    strategy_lib.check_same_step(strategy, run.step)
    # Only now: a config whose models do not match the checkpoints leaves them alone.
    if strategy_lib.is_chief(strategy):
        workdir_lib.write_style_names(workdir, run.style_names)
        workdir_lib.write_config(workdir, config.to_json_best_effort(indent=2))
    if resumed_from:
        logging.info("Resumed from %s at step %d.", resumed_from, int(run.step))
    elif config.train.on_nonfinite == "restore":
        run.checkpoints.save(0)  # a good state to go back to from the start


def export_at_end(run, data_config, train_config, workdir):
    """Writes <workdir>/export from the models the run samples with."""
    exported = run.models_for_sampling()
    export_dir = workdir_lib.export_dir(workdir)
    export.export_generator(export_dir, exported.generator, exported.bank,
                            run.style_names, encoder=exported.encoder,
                            encoder_image_size=(data_config.style_resize
                                                or data_config.image_size),
                            saved_model=train_config.export_saved_model,
                            step=int(run.step))
    logging.info("Exported the generator to %s.", export_dir)
