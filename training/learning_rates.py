"""The learning rates over a run: optim.g_lr and optim.d_lr, then, over the last
optim.decay_steps steps, linear down to optim.decay_to of them at train.num_steps.

The optimizers' learning-rate variables stay the one state: each step multiplies them
by the ratio of its factor to the previous step's. They are checkpointed with the step,
so a resumed run and a run restored after a divergence (which also lowers them by
train.restore_lr_factor) go on from the checkpoint's place on the schedule, keeping
any lowering. A finished run trained on with a larger train.num_steps goes on from the
rates it ended at (the new schedule's ratios only lower them further).
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class TailDecay:
    num_steps: int
    decay_steps: int = 0   # 0: constant rates
    decay_to: float = 1.0  # the factor at num_steps, in (0, 1]

    @classmethod
    def from_config(cls, optim_config, train_config):
        return cls(train_config.num_steps, optim_config.decay_steps,
                   optim_config.decay_to)

    def factor(self, step):
        """1 until num_steps - decay_steps (or step 0, if that is earlier), then
        linear down to decay_to at num_steps, and decay_to after it."""
        start = max(self.num_steps - self.decay_steps, 0)
        if not self.decay_steps or step <= start:
            return 1.0
        done = min(step - start, self.num_steps - start) / (self.num_steps - start)
        return 1.0 - (1.0 - self.decay_to) * done

    def move(self, optimizers, from_step, to_step):
        """Rescales the optimizers' rates from `from_step`'s factor to `to_step`'s."""
        ratio = self.factor(to_step) / self.factor(from_step)
        if ratio != 1.0:
            for optimizer in optimizers:
                optimizer.learning_rate.assign(float(optimizer.learning_rate) * ratio)
