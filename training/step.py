"""The models of a run and the per-replica GAN train step."""
import dataclasses

import keras
import tensorflow as tf

from losses import adversarial, perceptual
from models import discriminator as discriminator_lib
from models import generator as generator_lib
from models import style as style_lib
from models import vgg as vgg_lib
from training import precision


@dataclasses.dataclass
class Models:
    generator: keras.Model
    discriminator: keras.Model
    bank: style_lib.StyleBank
    g_optimizer: keras.optimizers.Optimizer
    d_optimizer: keras.optimizers.Optimizer
    encoder: keras.Model | None = None  # present when config.model.encoder

    @property
    def g_variables(self):
        """G is trained together with the style codes it is conditioned on (and the
        encoder that makes them from images)."""
        variables = self.generator.trainable_variables + self.bank.trainable_variables
        if self.encoder is not None:
            variables += self.encoder.trainable_variables
        return variables


def _adam(optim_config, learning_rate, name):
    return precision.wrap_optimizer(keras.optimizers.Adam(
        learning_rate, beta_1=optim_config.beta_1, beta_2=optim_config.beta_2,
        name=name))


def build_models(model_config, optim_config, num_styles, vgg_config=None):
    """Creates G, D, the style bank, the style encoder (if model.encoder) and both
    optimizers.

    Call under `strategy.scope()` (and `precision.policy(...)` for mixed
    precision, which also wraps the optimizers for loss scaling under float16).
    The optimizers are built here, in the scope, so
    their slots are mirrored like the weights (a Keras 3 optimizer built lazily inside
    the replica step fails under MirroredStrategy). The encoder's frozen VGG uses the
    weights of `vgg_config`, required when model.encoder is on (and for the vgg D).
    """
    generator = generator_lib.build_generator(model_config.generator,
                                              model_config.code_dim)
    discriminator = discriminator_lib.build_from_config(model_config, vgg_config)
    bank = style_lib.StyleBank(num_styles, model_config.code_dim, name="style_bank")
    encoder = (style_lib.encoder_from_config(model_config, vgg_config)
               if model_config.get("encoder", False) else None)
    models = Models(generator, discriminator, bank,
                    _adam(optim_config, optim_config.g_lr, "g_adam"),
                    _adam(optim_config, optim_config.d_lr, "d_adam"), encoder)
    models.g_optimizer.build(models.g_variables)
    models.d_optimizer.build(discriminator.trainable_variables)
    return models


def build_feature_extractor(vgg_config, model_config=None):
    """The perceptual losses' VGG features; also the style encoder's layers when
    `model_config.encoder` is on, so the step reads the encoder's input from the
    same pass (make_replica_step)."""
    layers = vgg_config.content_layers + vgg_config.style_layers
    if model_config is not None and model_config.get("encoder", False):
        layers += tuple(model_config.encoder_layers)
    layers = tuple(dict.fromkeys(layers))
    return vgg_lib.build_feature_extractor(
        layers, weights=vgg_config.weights,
        fallback_to_random=vgg_config.fallback_to_random, seed=vgg_config.seed)


def make_replica_step(models, feature_extractor, vgg_config, loss_config,
                      global_batch_size):
    """Returns `replica_step(batch, adversarial) -> {tag: scalar}`, run per replica.

    One forward pass of G serves both players: D and G are updated simultaneously
    from the same fake batch (as in the TF DCGAN tutorial), which saves a G forward
    per step. With `adversarial=False` (stage 1 of the method: G pre-trained with
    perceptual losses only) D is neither run nor updated.

    Every per-example loss is divided by the GLOBAL batch size, so the gradients
    Keras sums across replicas equal those of one replica on the whole batch.
    """
    content_layers = list(vgg_config.content_layers)
    style_layers = list(vgg_config.style_layers)

    def average(per_example):
        return tf.nn.compute_average_loss(per_example,
                                          global_batch_size=global_batch_size)

    def perceptual_terms(targets, content, fake, mix_weights):
        """`targets`: VGG features of content and style stacked (batch first)."""
        batch = tf.shape(content)[0]
        fake_features = feature_extractor(fake)
        content_term = sum(
            perceptual.content_loss(fake_features[name], targets[name][:batch])
            for name in content_layers)
        target_grams = perceptual.gram_matrices([tf.stop_gradient(targets[n][batch:])
                                                 for n in style_layers])
        if mix_weights is not None:
            target_grams = [mix_with_neighbour(gram, mix_weights)
                            for gram in target_grams]
        style_term = perceptual.style_loss(
            perceptual.gram_matrices([fake_features[n] for n in style_layers]),
            target_grams)
        return {"content": content_term, "style": style_term,
                "tv": perceptual.total_variation(fake)}

    # The encoder reads the style images' features from the targets' VGG pass when
    # that pass has its layers (build_feature_extractor(..., model_config)).
    reuse_features = models.encoder is not None and set(
        style_lib.encoder_layers(models.encoder)) <= set(feature_extractor.output)

    def encoder_codes(identity, style, style_features, bank_codes):
        """Swaps in encoder codes (the content's own for identity examples: `style`
        holds the content there); returns (codes, loss terms)."""
        batch = tf.shape(style)[0]
        use_encoder = tf.random.uniform([batch]) < loss_config.encoder_prob
        if reuse_features:
            codes_from_images = style_lib.encode_features(models.encoder, style_features)
        else:
            codes_from_images = models.encoder(style, training=True)
        # The encoder learns only to hit the bank (below): G paints from its codes but
        # does not move them. With G's losses flowing in, the paintings run's pull
        # loss stayed at the mean code's (about 1 per dimension) for 800 steps.
        codes = tf.where((identity | use_encoder)[:, None],
                         tf.stop_gradient(codes_from_images), bank_codes)
        # The bank is the reference the encoder learns to hit, not the other way round.
        pull = tf.reduce_mean(tf.square(codes_from_images
                                        - tf.stop_gradient(bank_codes)), axis=1)
        terms = {"encoder": average(tf.where(identity, 0.0, pull))}
        return codes, terms

    def replica_step(batch, adversarial_stage, update_discriminator=True):
        content, style, style_ids = batch["content"], batch["style"], batch["style_id"]
        batch_size = tf.shape(content)[0]
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            codes = models.bank(style_ids)
            encoder_terms, identity, mix_weights = {}, None, None
            if models.encoder is not None:
                # Identity examples: the content is its own style.
                identity = tf.random.uniform([batch_size]) < loss_config.identity_prob
                style = tf.where(identity[:, None, None, None], content, style)
            # Targets need no gradient: one VGG pass over content and style together.
            targets = feature_extractor(tf.concat([content, style], axis=0))
            if models.encoder is not None:
                style_features = {name: value[batch_size:]
                                  for name, value in targets.items()}
                codes, encoder_terms = encoder_codes(identity, style, style_features,
                                                     codes)
            real_codes = codes
            if loss_config.get("mix_prob", 0.0) > 0:
                # An identity example must give its content back, so its code is
                # never mixed (a neighbour may still mix with its content's code).
                mix_weights = random_mix_weights(batch_size, loss_config.mix_prob,
                                                 keep=identity)
                codes = mix_with_neighbour(codes, mix_weights)
            fake = models.generator([content, generator_lib.as_code_map(codes)],
                                    training=True)
            g_terms = {k: average(v) for k, v in
                       perceptual_terms(targets, content, fake, mix_weights).items()}
            # G keeps the photo for the content's own code only (models/generator.py):
            # a hinge asking gate >= 1 there and <= 0 for every other code, i.e.
            # |clip(gate, 0, 1) - target| continued beyond the bounds. The codes
            # themselves are not moved by it.
            gate = generator_lib.keep_gate(models.generator, tf.stop_gradient(codes))
            keep = tf.nn.relu(gate)
            if identity is not None:
                keep = tf.where(identity, tf.nn.relu(1.0 - gate), keep)
            g_terms["keep"] = average(keep)
            g_total = (loss_config.content_weight * g_terms["content"]
                       + loss_config.style_weight * g_terms["style"]
                       + loss_config.tv_weight * g_terms["tv"]
                       + loss_config.keep_weight * g_terms["keep"])
            if encoder_terms:
                g_terms.update(encoder_terms)
                g_terms["identity"] = average(tf.where(
                    identity, tf.reduce_mean(tf.abs(fake - content), axis=[1, 2, 3]),
                    0.0))
                g_total += (loss_config.encoder_weight * g_terms["encoder"]
                            + loss_config.identity_weight * g_terms["identity"])
            metrics = {}
            if adversarial_stage:
                fake_logits = models.discriminator([fake, codes], training=True)
                # Real images are judged with their own (unmixed) codes.
                real_logits, r1 = adversarial.real_logits_and_r1(
                    models.discriminator, style, real_codes)
                g_terms["adv"] = average(adversarial.generator_loss(
                    fake_logits, loss_config.adversarial))
                g_total += loss_config.adv_weight * g_terms["adv"]
                d_terms = {"adv": average(adversarial.discriminator_loss(
                               real_logits, fake_logits, loss_config.adversarial)),
                           "r1": average(r1)}
                d_total = d_terms["adv"] + loss_config.r1_weight * d_terms["r1"]
                metrics.update({f"loss/D/{k}": v for k, v in d_terms.items()})
                metrics["loss/D/total"] = d_total
                metrics["D/real_prob"] = average(adversarial.d_probabilities(real_logits))
                metrics["D/fake_prob"] = average(adversarial.d_probabilities(fake_logits))
                metrics["D/accuracy"] = average(adversarial.d_accuracy(
                    real_logits, fake_logits, loss_config.adversarial))
        g_variables = models.g_variables
        models.g_optimizer.apply_gradients(zip(precision.gradients(
            g_tape, g_total, g_variables, models.g_optimizer), g_variables))
        if adversarial_stage and update_discriminator:
            d_variables = models.discriminator.trainable_variables
            models.d_optimizer.apply_gradients(zip(precision.gradients(
                d_tape, d_total, d_variables, models.d_optimizer), d_variables))
        metrics.update({f"loss/G/{k}": v for k, v in g_terms.items()})
        metrics["loss/G/total"] = g_total
        # Near 0 when G paints flat images (a collapse, training/guards.py).
        metrics["G/output_std"] = average(tf.math.reduce_std(fake, axis=[1, 2, 3]))
        return metrics

    return replica_step


def random_mix_weights(batch_size, mix_prob, keep=None):
    """Per-example weight t of an example's own style: 1 (no mix) or, with probability
    mix_prob, uniform in [0, 1]. Examples where the bool vector `keep` is True get 1."""
    mixed = tf.random.uniform([batch_size]) < mix_prob
    if keep is not None:
        mixed &= ~keep
    return tf.where(mixed, tf.random.uniform([batch_size]), 1.0)


def mix_with_neighbour(values, weights):
    """t * values + (1 - t) * (the batch neighbour's values), per example.

    Codes and Gram targets are mixed with the same t, so a blended code is trained
    toward the blended style statistics.
    """
    weights = tf.reshape(weights, [-1] + [1] * (len(values.shape) - 1))
    return weights * values + (1.0 - weights) * tf.roll(values, shift=1, axis=0)


def make_distributed_step(strategy, replica_step, jit_compile=False):
    """Wraps the replica step in one tf.function run through `strategy.run`.

    `adversarial_stage` and `update_discriminator` (False: D's update is skipped,
    training/balance.py) are Python bools, so the function is traced once per
    combination used. Per-replica values are already divided by the global
    batch, so their SUM over replicas is the global mean. With `jit_compile` the
    replica step is compiled by XLA; the iterator stays outside it, as XLA cannot
    compile IteratorGetNext.
    """
    if jit_compile:
        replica_step = tf.function(replica_step, jit_compile=True)

    @tf.function
    def distributed_step(iterator, adversarial_stage, update_discriminator=True):
        batch = next(iterator)
        per_replica = strategy.run(replica_step, args=(batch, adversarial_stage,
                                                       update_discriminator))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in per_replica.items()}

    return distributed_step
