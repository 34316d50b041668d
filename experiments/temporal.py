r"""Temporal fine-tuning: the quickstart's G, fine-tuned with the compound-
regularisation temporal loss (losses/temporal.py) so its video flickers less.

    python train.py --config=experiments/temporal.py --workdir=runs/temporal \
        --config.train.init_generator=runs/quickstart
    python evaluate.py --model=runs/temporal --video=clip.mp4 --output=runs/temporal/video

Starts G and the style bank from a finished quickstart run (train.init_generator)
and trains 300 steps of the perceptual losses plus loss/G/temporal, without D (the
quickstart's D is not carried over, and a fresh one would first have to catch up).
README "Video" compares its warping error with the quickstart's.

`:test` is the few-second variant; tests set train.init_generator.
"""
from experiments import common, quickstart


def get_config(variant=None):
    config = quickstart.get_config()
    config.train.init_generator = "runs/quickstart"
    config.loss.temporal_weight = 100.0
    config.loss.temporal_shift = 4.0
    config.loss.temporal_rotation = 1.0
    config.loss.temporal_zoom = 0.02
    config.loss.temporal_noise = 0.02
    # Fine-tuning: a tenth of the quickstart's G learning rate, perceptual stage only.
    config.optim.g_lr = 1e-4
    config.train.num_steps = 300
    config.train.pretrain_steps = 300
    config.train.checkpoint_every = 100
    config.train.image_every = 100
    config.eval.every = 0
    if variant == "test":
        config = common.test_variant(config)
        config.train.init_generator = ""
    elif variant:
        raise ValueError(f"Unknown variant {variant!r} of temporal; expected 'test'.")
    return config
