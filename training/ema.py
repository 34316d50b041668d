"""Exponential moving average (EMA) of the generator's weights.

    ema <- decay * ema + (1 - decay) * live        after every train step

Averaging the iterates of G smooths out the oscillation of adversarial training
(Yazici et al. 2019, "The unusual effectiveness of averaging in GAN training"; used
by Karras et al. for every StyleGAN). The average covers everything G is trained with:
the generator, the style bank and, when present, the style encoder, so EMA codes go
with EMA weights. The shadow models are used for the sample grids and the export;
training itself always uses the live models.
"""
import dataclasses

import tensorflow as tf

from models import generator as generator_lib
from models import style as style_lib
from storage.workdir import EMA_PREFIX


class GeneratorEMA:
    """Shadow copies of G, the bank and the encoder of `models`, averaged by update().

    Create under the strategy's scope (the shadows are mirrored like the live models)
    after the live weights are final (after init_generator): the shadows start equal
    to them. The shadows are in checkpoint_items(), so a resumed run keeps its average.
    """

    def __init__(self, models, decay, model_config, vgg_config=None):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"train.ema_decay must be in (0, 1) when EMA is on, got "
                             f"{decay}.")
        self.decay = decay
        # Built exactly like the live models (same names), so the export of the EMA
        # generator is indistinguishable in form from the live one.
        self.generator = generator_lib.build_generator(model_config.generator,
                                                       model_config.code_dim)
        self.bank = style_lib.StyleBank(models.bank.num_styles, model_config.code_dim,
                                        keep_flag=models.bank.keep_flag,
                                        name=models.bank.name)
        self.style_encoder = (style_lib.encoder_from_config(model_config, vgg_config)
                              if models.style_encoder is not None else None)
        self.encoder = (None if self.style_encoder is None
                        else self.style_encoder.model)
        self._pairs = [(shadow, live) for shadow, live in
                       zip(self._models(), (models.generator, models.bank,
                                            models.encoder)) if live is not None]
        for shadow, live in self._pairs:
            shadow.set_weights(live.get_weights())
        self._trainable_pairs = [
            (shadow_variable, live_variable) for shadow, live in self._pairs
            for shadow_variable, live_variable in zip(shadow.trainable_variables,
                                                      live.trainable_variables)]

    def _models(self):
        return self.generator, self.bank, self.encoder

    @tf.function
    def update(self):
        """One EMA step toward the live trainable weights (frozen weights are equal)."""
        for shadow, live in self._trainable_pairs:
            shadow.assign(self.decay * shadow + (1.0 - self.decay) * live)

    def checkpoint_items(self):
        items = {f"{EMA_PREFIX}generator": self.generator,
                 f"{EMA_PREFIX}bank": self.bank}
        if self.encoder is not None:
            items[f"{EMA_PREFIX}encoder"] = self.encoder
        return items

    def models_for_sampling(self, models):
        """`models` with G, the bank and the encoder replaced by their averages."""
        return dataclasses.replace(models, generator=self.generator, bank=self.bank,
                                   style_encoder=self.style_encoder)


def maybe_ema(models, train_config, model_config, vgg_config=None):
    """A GeneratorEMA when train.ema_decay > 0, else None."""
    decay = train_config.ema_decay
    return GeneratorEMA(models, decay, model_config, vgg_config) if decay else None
