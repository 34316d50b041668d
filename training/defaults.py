"""base_config(): every hyperparameter of a run with its default value.

Experiment files (experiments/*.py) start from it and change only what differs;
training/config_check.py validates a config against it, and a new key needs its
value check in config_check.CHECKS (tests/test_config_check.py fails without one). `python train.py
--config=... --dry_run` prints the resolved result.
"""
import ml_collections


def base_config():
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.data = _data()
    config.model = _model()
    config.vgg = _vgg()
    config.loss = _loss()
    config.optim = _optim()
    config.train = _train()
    config.eval = _eval()
    config.strategy = _strategy()
    return config


def _data():
    data = ml_collections.ConfigDict()
    # demo=True writes the built-in procedural styles and scikit-image photos to
    # <workdir>/demo_data and trains on them; content_dir/style_dir are then ignored.
    data.demo = False
    data.content_dir = ""
    # One style per sub-folder (e.g. an artist's collection) and per loose image.
    data.style_dir = ""
    # A prefix written by `python -m data.tfrecords` (local or gs://); when set it is
    # read instead of content_dir and style_dir.
    data.tfrecords = ""
    data.image_size = 128          # training crop, divisible by 4 (G's stride)
    data.content_resize = 0        # short side before the crop; 0 = image_size
    data.style_resize = 0          # short side before the crop; 0 = image_size
    data.cache_styles = True       # keep decoded style images in memory
    # Keep the decoded, resized content photos in memory (uint8) when they fit in this
    # many MB, so no step waits for a decode; 0 = decode them at every step. Larger
    # sets are read from their files (or TFRecords) by parallel decoders.
    data.cache_contents_mb = 1024
    # A held-out split: image files of content_dir/style_dir training never sees (a
    # single painting excluded is no style of the run). `python -m data.split` copies
    # them into folders for evaluate.py.
    data.exclude = ()
    # Arbitrary-style training (issue 18; needs model.encoder and loss.end_to_end):
    # the share of style examples replaced by a procedural style (data/procedural.py:
    # random stroke family, scale, direction, density, a palette of the paintings'
    # colours), painted from the encoder's code. 0 = off.
    data.procedural_prob = 0.0
    # The share of real style crops recoloured (hue turned, saturation scaled) into
    # styles of their own, painted from the encoder's code (data/procedural.py
    # recolour_in). 0 = off.
    data.recolour_prob = 0.0
    # Style crops of side image_size * zoom, zoom uniform in [min, max] (capped at
    # the resized image's short side), resized to image_size: the paintings at
    # several scales. 1, 1 = plain crops (flips are always on).
    data.style_zoom_min = 1.0
    data.style_zoom_max = 1.0
    # Whether the zoom also applies to one-image styles. False keeps a single
    # painting at the scale its bank code is trained to paint (its Gram at another
    # scale is another target for the same code); collections are zoomed either way.
    data.zoom_single_paintings = True
    return data


def _model():
    model = ml_collections.ConfigDict()

    model.generator = "small"      # models/generator.py VARIANTS
    model.discriminator = "small"  # models/discriminator.py VARIANTS
    # "patch", "multiscale" (a PatchGAN per image scale) or "vgg" (frozen VGG19 trunk
    # with config.vgg's weights up to discriminator_vgg_layer + a trainable head).
    model.discriminator_kind = "patch"
    model.discriminator_scales = 3  # multiscale: image side must divide by
                                           # 2^(D's downsamplings + scales - 1)
    model.discriminator_vgg_layer = "block3_conv1"
    model.spectral_norm = False     # spectrally normalised D convolutions
    model.code_dim = 64
    # Style encoder (any style image -> code, for unseen styles and `strength`): frozen
    # VGG channel statistics at encoder_layers -> MLP. Off: runs train the bank only.
    model.encoder = False
    model.encoder_layers = ("block1_conv1", "block2_conv1", "block3_conv1")
    model.encoder_mlp_width = 128
    # > 0: the encoder also reads, per layer, the covariance of a learned projection
    # of the channels to this many (models/style.py ProjectedCovariance), which
    # channel statistics alone cannot see. Off: at 16 it painted the held-out
    # paintings further from their style (README "Arbitrary style").
    model.encoder_covariance_rank = 0
    # "layer" standardises each image's statistics vector; "layer_and_moments" also
    # gives the encoder the vector's mean and std that standardising removes
    # (models/style.py StandardiseKeepingMoments); "none" gives it the raw vector.
    model.encoder_normalisation = "layer"
    # The code's last coordinate is a keep flag: 0 for every style code (bank and
    # encoder), KEEP_FLAG_ON (4) for the content's own code, so the keep gate
    # follows the strength instead of guessing from the image (models/style.py).
    model.keep_flag = False
    return model


def _vgg():
    vgg = ml_collections.ConfigDict()

    # "imagenet" (Keras download/cache), "random" (fixed seed), or a path to the
    # Keras no-top VGG19 .h5 file.
    vgg.weights = "imagenet"
    vgg.fallback_to_random = False  # if imagenet cannot be had: random + warning
    vgg.seed = 0
    vgg.content_layers = ("block4_conv2",)
    vgg.style_layers = ("block1_conv1", "block2_conv1", "block3_conv1",
                               "block4_conv1")
    return vgg


def _loss():
    loss = ml_collections.ConfigDict()

    loss.adversarial = "nonsaturating"  # or "hinge", "lsgan"
    loss.adv_weight = 1.0
    loss.content_weight = 1.0
    loss.style_weight = 10.0
    loss.tv_weight = 1.0
    loss.r1_weight = 1.0
    # Used only with model.encoder. Each example is conditioned on encoder(style image)
    # instead of its bank code with probability encoder_prob, so G learns to paint from
    # encoder codes; encoder_weight pulls encoder codes toward their style's bank code
    # (loss/G/encoder, squared error).
    loss.encoder_prob = 0.5
    loss.encoder_weight = 1.0
    # With probability identity_prob an example's style is its own content image, coded
    # by the encoder, and G is asked to give the content back (loss/G/identity, L1);
    # with the keep gate below this makes strength 0 (the content's own code) return
    # the content.
    loss.identity_prob = 0.25
    loss.identity_weight = 1.0
    # G blends the photo back in by a keep gate its code sets (models/generator.py);
    # loss/G/keep (a hinge) asks for 1 on identity examples and 0 on every other code.
    loss.keep_weight = 1.0
    # Fusion-aware training: with probability mix_prob an example is painted with a
    # random convex mix of its code and its batch neighbour's, against the same mix of
    # their Gram targets, so blends are learned rather than extrapolated. 0 = off.
    loss.mix_prob = 0.0
    # End-to-end arbitrary style (Ghiasi et al. 2017; training/step.py
    # arbitrary_objective): encoder codes of style images keep their gradient, so G's
    # style loss against that image's own Gram trains the encoder. Examples of an
    # arbitrary style (procedural, or with probability photo_style_prob another photo
    # of the batch given as the style) have no bank code: they get neither the pull
    # nor the GAN, and their style loss is the loss/G/arbitrary term.
    loss.end_to_end = False
    loss.arbitrary_weight = 10.0
    loss.photo_style_prob = 0.0
    # Temporal consistency without video (losses/temporal.py, Wang et al. 2020):
    # G(T(x) + n) ~ T(G(x)) for a random warp T per example (up to temporal_shift
    # pixels, temporal_rotation degrees, 1 +- temporal_zoom) and noise n of std
    # temporal_noise; loss/G/temporal. One more pass of G per step when on. 0 = off.
    loss.temporal_weight = 0.0
    loss.temporal_shift = 4.0
    loss.temporal_rotation = 1.0
    loss.temporal_zoom = 0.02
    loss.temporal_noise = 0.02
    return loss


def _optim():
    optim = ml_collections.ConfigDict()

    optim.g_lr = 1e-4   # the method's Adam learning rate, for both players
    optim.d_lr = 1e-4
    # Both rates fall linearly to decay_to of themselves over the run's last
    # decay_steps steps (training/learning_rates.py); 0 = constant.
    optim.decay_steps = 0
    optim.decay_to = 0.1
    optim.beta_1 = 0.5
    optim.beta_2 = 0.999
    return optim


def _train():
    train = ml_collections.ConfigDict()

    train.batch_size = 8           # global: split over the replicas
    train.num_steps = 10000
    train.pretrain_steps = 0       # stage 1: perceptual losses only, no D
    # Start G, the style bank (same styles only) and the encoder from another run's
    # workdir or checkpoint, e.g. a perceptual-only run: "a pretrained style-transfer
    # network as the generator". Used only when the workdir has no checkpoint yet.
    train.init_generator = ""
    # Exponential moving average of G's (and bank/encoder) weights, used for the sample
    # grids and the export: ema <- decay * ema + (1 - decay) * live per step. 0 = off.
    train.ema_decay = 0.0
    # Adaptive D/G balance: skip D's update while the moving average (decay
    # d_accuracy_decay per step) of its accuracy on real and fake patches is above
    # d_skip_accuracy. 0 = off (D is updated every adversarial step).
    train.d_skip_accuracy = 0.0
    train.d_accuracy_decay = 0.9
    # XLA for the train step. Off: on CPU it is 1.1-1.7x slower; try it on GPUs/TPUs
    # with experiments/benchmark.py.
    train.jit_compile = False
    # "auto": a probe of a few seconds picks the faster of float32 and mixed_bfloat16
    # on this machine (cached per machine; mixed_float16 on a GPU), logged and in
    # TensorBoard's text; or "float32", "mixed_float16" (GPUs: loss scaling),
    # "mixed_bfloat16" (TPUs, CPUs with bfloat16 instructions). models/precision.py.
    train.precision = "auto"
    train.log_every = 50
    train.image_every = 500
    train.checkpoint_every = 1000
    train.keep_checkpoints = 3
    # A non-finite loss: "stop" the run naming the step and the term, or "restore" the
    # last checkpoint and go on with both learning rates times restore_lr_factor, at
    # most max_restores times.
    train.on_nonfinite = "stop"
    train.restore_lr_factor = 0.5
    train.max_restores = 3
    # Warn when D separates real from fake completely, or G's outputs are constant,
    # for this many consecutive logs (training/guards.py).
    train.collapse_patience = 5
    # Deterministic ops (tf.config.experimental.enable_op_determinism): the same
    # config and seed give bit-identical weights, at some cost in speed.
    train.deterministic = False
    train.sample_contents = 3      # rows of the sample grid
    train.sample_styles = 8        # at most this many columns
    # export/saved_model (TF serving signatures) beside generator.keras; ~7 s of tracing.
    train.export_saved_model = True
    return train


def _eval():
    """Evaluation during training (training/in_training_eval.py)."""
    evaluation = ml_collections.ConfigDict()
    # Every this many steps (and at the last step): eval/ssim_y, eval/gram_distance,
    # eval/deception_rate and eval/fusion_spearman of held-out photos x the run's
    # styles. 0 = off.
    evaluation.every = 0
    # Held-out photos, none of them in data.content_dir, so the curves measure
    # generalisation. "" with data.demo: the demo data's eval_content/ folder.
    evaluation.content_dir = ""
    evaluation.num_contents = 4       # the first this many photos (sorted by path)
    evaluation.crops_per_style = 16   # style crops the deception classifier learns
    evaluation.fusion_contents = 1    # photos painted along the fusion path
    return evaluation


def _strategy():
    strategy = ml_collections.ConfigDict()
    strategy.name = "auto"         # training/strategy.py STRATEGIES
    strategy.cpu_devices = 0       # >0: split the CPU into this many devices
    # strategy.name="tpu": "local" on a TPU VM, else the TPU's name or grpc://host:port.
    strategy.tpu_address = ""
    return strategy
