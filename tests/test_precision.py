"""Mixed precision (models/precision.py policies, training/precision.py loss
scaling): a real train step under each policy."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import quickstart
from models import precision as policies
from training import precision, step as step_lib


def train_steps(precision_name, strategy, steps=2, arbitrary=False):
    config = quickstart.get_config("test")
    config.train.batch_size = 2
    if arbitrary:  # the style encoder trained end to end, with the keep flag
        config.model.encoder = config.model.keep_flag = config.loss.end_to_end = True
        config.loss.identity_prob = 0.0  # so the arbitrary example is never an identity one
    keras.utils.set_random_seed(0)
    with strategy.scope(), policies.policy(precision_name):
        models = step_lib.build_models(config.model, config.optim, num_styles=3,
                                       vgg_config=config.vgg)
        feature_extractor = step_lib.build_feature_extractor(config.vgg)
    replica_step = step_lib.make_replica_step(models, feature_extractor, config.vgg,
                                              config.loss, config.train.batch_size)
    train_step = step_lib.make_distributed_step(strategy, replica_step)
    batch = {"content": tf.random.uniform((2, 32, 32, 3), seed=1),
             "style": tf.random.uniform((2, 32, 32, 3), seed=2),
             # A negative id is an arbitrary (procedural) style: no bank code.
             "style_id": tf.constant([0, -1 if arbitrary else 2], tf.int32)}
    iterator = iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(batch).repeat()))
    metrics = [{k: float(v) for k, v in train_step(iterator, True).items()}
               for _ in range(steps)]
    return models, metrics, batch


@pytest.mark.parametrize("precision_name, replicas", [
    ("mixed_float16", 1), pytest.param("mixed_float16", 2, marks=pytest.mark.slow),
    ("mixed_bfloat16", 1)])
def test_mixed_precision_step_is_finite_with_float32_outputs(precision_name, replicas,
                                                            mirrored_cpus):
    strategy = (mirrored_cpus(replicas) if replicas > 1
                else tf.distribute.get_strategy())
    models, metrics, batch = train_steps(precision_name, strategy)
    compute_dtype = precision_name.split("_")[1]
    conv = models.generator.get_layer("stem")
    assert conv.compute_dtype == compute_dtype and conv.kernel.dtype == "float32"
    for step_metrics in metrics:
        assert all(np.isfinite(v) for v in step_metrics.values()), step_metrics
        assert step_metrics["loss/G/total"] > 0 and step_metrics["loss/D/total"] > 0
    # float16 scales the loss; bfloat16 has float32's range and needs no scaling.
    assert isinstance(models.g_optimizer, keras.optimizers.LossScaleOptimizer) == (
        compute_dtype == "float16")
    codes = models.bank(batch["style_id"])
    output = models.generator([batch["content"], codes[:, None, None, :]])
    assert output.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(output)) and float(tf.reduce_max(output)) <= 1.0
    assert models.discriminator([output, codes]).dtype == tf.float32


def test_bfloat16_step_trains_the_style_encoder_end_to_end():
    # The encoder's codes compute in bfloat16 and meet the float32 bank codes.
    _, metrics, _ = train_steps("mixed_bfloat16", tf.distribute.get_strategy(),
                                arbitrary=True)
    for step_metrics in metrics:
        assert all(np.isfinite(v) for v in step_metrics.values()), step_metrics
        assert step_metrics["loss/G/arbitrary"] > 0


def test_float32_policy_keeps_plain_optimizers_and_policy_is_restored():
    models, metrics, _ = train_steps("float32", tf.distribute.get_strategy(), steps=1)
    assert type(models.g_optimizer) is keras.optimizers.Adam
    assert models.generator.get_layer("stem").compute_dtype == "float32"
    with pytest.raises(ValueError, match="Unknown train.precision 'float8'"):
        with policies.policy("float8"):
            pass
    assert keras.mixed_precision.global_policy().name == "float32"


def test_an_overflow_on_one_replica_skips_the_step_on_every_replica(mirrored_cpus):
    """Loss scaling on two replicas: replica 1's gradients overflow, so both skip."""
    strategy = mirrored_cpus(2)
    with strategy.scope():
        variable = tf.Variable([1.0, 2.0])
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1))
        optimizer.build([variable])

    @tf.function
    def step():
        def replica_step():
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            with tf.GradientTape() as tape:
                # Replica 1's loss is huge: its scaled gradient is inf.
                factor = tf.where(replica == 1, 1e38, 1.0)
                loss = tf.reduce_sum(variable * factor)
            grads = precision.gradients(tape, loss, [variable], optimizer)
            optimizer.apply_gradients(zip(grads, [variable]))
        strategy.run(replica_step)

    scale_before = float(np.asarray(optimizer.dynamic_scale))
    step()
    np.testing.assert_array_equal(variable.numpy(), [1.0, 2.0])
    assert float(np.asarray(optimizer.dynamic_scale)) == scale_before / 2
