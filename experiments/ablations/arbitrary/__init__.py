r"""Ablation rows of arbitrary-style training (issue 18), each adding one source to
the row before, on the held-out split of experiments/paintings.py (`heldout`), at a
1500-step budget so the four rows fit the machine time. The perceptual stage stays at
paintings.py's 600 steps and nothing in training depends on train.num_steps, so a row
is its full config's first 1500 steps: bank_only is `paintings.py:heldout` at step 1500
and augmentation is `paintings.py:arbitrary` at step 1500.

    bank_only     today's paintings config: the encoder only pulled toward the bank
    end_to_end    + the end-to-end objective (and photos given as styles, keep flag)
    procedural    + procedural styles (data/procedural.py)
    augmentation  + the paintings at several scales (= paintings.py:arbitrary)

    python train.py --config=experiments/ablations/arbitrary/end_to_end.py \
        --workdir=runs/ablations_arbitrary/end_to_end

Evaluate each on the held-out styles with evaluate.py --method=encoder,... (README
"Arbitrary style"). `:test` is the few-step variant.
"""
from experiments import common, paintings

ROWS = ("bank_only", "end_to_end", "procedural", "augmentation")


def row_config(row, variant=None):
    """The config of ablation row `row` (ROWS), with `variant` None or "test"."""
    if row not in ROWS:
        raise ValueError(f"Unknown arbitrary-style ablation row {row!r}; expected one "
                         f"of {', '.join(ROWS)}.")
    config = paintings.get_config("heldout")
    config.train.num_steps = 1500
    config.train.export_saved_model = False
    full = paintings.arbitrary_style(paintings.get_config("heldout"))
    added = ROWS.index(row)
    if added >= 1:
        config.model.keep_flag = True
        config.loss.end_to_end = True
        config.loss.arbitrary_weight = full.loss.arbitrary_weight
        config.loss.photo_style_prob = full.loss.photo_style_prob
    if added >= 2:
        config.data.procedural_prob = full.data.procedural_prob
    if added >= 3:
        config.data.style_zoom_min = full.data.style_zoom_min
        config.data.style_zoom_max = full.data.style_zoom_max
    if variant == "test":
        config = common.test_variant(config)
    elif variant:
        raise ValueError(f"Unknown variant {variant!r} of ablation row {row}; "
                         f"expected 'test'.")
    return config
