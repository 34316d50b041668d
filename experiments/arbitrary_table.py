r"""The arbitrary-style table: evaluate.py's results on unseen paintings and on the bank
styles, one row per run (issue 18's ablation rows and full runs).

    python -m experiments.arbitrary_table --anchors=runs/paintings_arbitrary/eval_unseen \
        --runs=runs/ablations_arbitrary/bank_only,runs/ablations_arbitrary/end_to_end \
        --output=runs/ablations_arbitrary/table.md

Each run folder holds two evaluations (README "Arbitrary style" gives the commands):
`eval_unseen/` (--method=encoder,nearest_code,mean_code,identity on the held-out
paintings) and `bank_all/` (--method=ours on the bank styles, held-out photos). Gatys
does not depend on the run, so its Gram distance comes once from --anchors, an
evaluation of the same paintings and photos with --method=...,gatys; the share of the
identity -> Gatys Gram gap is computed against it, as evaluate.py computes it. A
second table splits the bank columns into the collections (--collections) and the
single paintings, whose one image a run can fit closely. With --reference (a run of
today's config, such as `heldout`), a third table reads the bank Gram per style as a
ratio to that run's: the raw mean is decided mostly by the styles with the largest
Gram scale (a black-and-white woodcut's is over ten times a colour painting's), the
ratio is not.
"""
import json
import os

import numpy as np
from absl import app, flags

from evaluation import arbitrary
from experiments import paintings
from storage import atomic

UNSEEN, BANK = "eval_unseen", "bank_all"
HEADER = ("| run | encoder Gram | gap closed | encoder deception | nearest_code Gram | "
          "nearest_code deception | largest keep gate | smallest mean change | "
          "bank Gram | bank deception |")


def read_evaluation(folder):
    """metrics.json of an evaluate.py output folder, as a dict."""
    with open(os.path.join(folder, "metrics.json")) as f:
        return json.load(f)


def run_row(run, anchors):
    """The table's values for one run folder, with anchors = the summaries of
    identity and gatys on the same unseen paintings and photos."""
    unseen = read_evaluation(os.path.join(run, UNSEEN))
    bank = read_evaluation(os.path.join(run, BANK))
    summaries = {name: method["summary"] for name, method in unseen["methods"].items()}
    closed = arbitrary.gram_gap_closed({**summaries, **anchors})
    bank_summary = bank["methods"]["ours"]["summary"]
    return {"run": os.path.basename(os.path.normpath(run)),
            "encoder_gram": summaries["encoder"]["gram_distance"],
            "gap_closed": closed["encoder"],
            "encoder_deception": summaries["encoder"]["deception_rate"],
            "nearest_gram": summaries["nearest_code"]["gram_distance"],
            "nearest_deception": summaries["nearest_code"]["deception_rate"],
            "keep_gate": max(max(gates) for gates in unseen["keep_gates"].values()),
            # Per painting, the mean |output - photo| over the photos.
            "smallest_change": min(style["mean_abs_change"] for style in
                                   unseen["methods"]["encoder"]["per_style"].values()),
            "bank_gram": bank_summary["gram_distance"],
            "bank_deception": bank_summary["deception_rate"]}


def bank_per_style(run):
    """{style: its metrics} of the bank styles in `run`'s bank_all/."""
    return read_evaluation(os.path.join(run, BANK))["methods"]["ours"]["per_style"]


def bank_by_kind(run, collections):
    """{kind: (mean Gram, mean deception)} of the bank styles of `run`'s bank_all/,
    kind "collections" for the style names in `collections`, else "single paintings";
    means over the styles."""
    per_style = bank_per_style(run)
    kinds = {"collections": [s for s in per_style if s in collections],
             "single paintings": [s for s in per_style if s not in collections]}
    return {kind: tuple(float(np.mean([per_style[s][key] for s in styles]))
                        for key in ("gram_distance", "deception_rate"))
            for kind, styles in kinds.items() if styles}


def kinds_markdown(runs, collections):
    """The bank columns split into collections and single paintings, a row per run."""
    lines = ["| run | collections Gram | collections deception | single paintings Gram "
             "| single paintings deception |", "|" + " --- |" * 5]
    for run in runs:
        kinds = bank_by_kind(run, collections)
        # A bank of one kind only (a run on the collections alone) has "-" for the other.
        values = " | ".join(f"{kinds[kind][0]:.4g} | {kinds[kind][1]:.3f}"
                            if kind in kinds else "- | -"
                            for kind in ("collections", "single paintings"))
        lines.append(f"| {os.path.basename(os.path.normpath(run))} | {values} |")
    return "\n".join(lines) + "\n"


def bank_gram_ratios(run, reference):
    """{style: run's bank Gram / reference's} over the bank styles both evaluated."""
    ours, theirs = bank_per_style(run), bank_per_style(reference)
    shared = sorted(set(ours) & set(theirs))
    if not shared:
        raise ValueError(f"{run}/{BANK} and {reference}/{BANK} share no style; expected "
                         f"evaluations of the same bank styles.")
    return {s: ours[s]["gram_distance"] / theirs[s]["gram_distance"] for s in shared}


def ratios_markdown(runs, reference):
    """Per run: the geometric mean over styles of the bank Gram ratio to `reference`
    (1.05 is the issue's +5%), and the style with the largest ratio."""
    name = os.path.basename(os.path.normpath(reference))
    lines = [f"| run | bank Gram / {name}'s, geometric mean over styles | largest "
             f"ratio |", "|" + " --- |" * 3]
    for run in runs:
        ratios = bank_gram_ratios(run, reference)
        worst = max(ratios, key=ratios.get)
        mean = float(np.exp(np.mean(np.log(list(ratios.values())))))
        lines.append(f"| {os.path.basename(os.path.normpath(run))} | {mean:.2f} | "
                     f"{ratios[worst]:.2f} ({worst}) |")
    return "\n".join(lines) + "\n"


def markdown(rows):
    lines = [HEADER, "|" + " --- |" * (HEADER.count("|") - 1)]
    for row in rows:
        lines.append(
            f"| {row['run']} | {row['encoder_gram']:.4g} | {100 * row['gap_closed']:.1f}% "
            f"| {row['encoder_deception']:.3f} | {row['nearest_gram']:.4g} | "
            f"{row['nearest_deception']:.3f} | {row['keep_gate']:.3f} | "
            f"{row['smallest_change']:.3f} | {row['bank_gram']:.4g} | "
            f"{row['bank_deception']:.3f} |")
    return "\n".join(lines) + "\n"


def anchor_summaries(folder):
    """identity's and gatys' summaries from an evaluation that has both."""
    results = read_evaluation(folder)
    missing = {"identity", "gatys"} - set(results["methods"])
    if missing:
        raise ValueError(f"{folder}/metrics.json has no {' or '.join(sorted(missing))} "
                         f"method; expected an evaluation with --method=...,identity,gatys.")
    return {name: results["methods"][name]["summary"] for name in ("identity", "gatys")}


def main(argv):
    del argv
    anchors = anchor_summaries(FLAGS.anchors)
    text = (markdown([run_row(run, anchors) for run in FLAGS.runs]) + "\n"
            + kinds_markdown(FLAGS.runs, set(FLAGS.collections)))
    if FLAGS.reference:
        text += "\n" + ratios_markdown(FLAGS.runs, FLAGS.reference)
    atomic.write_atomically(FLAGS.output, text.encode())
    print(text)


FLAGS = flags.FLAGS
if __name__ == "__main__":
    flags.DEFINE_string("anchors", None, "An evaluate.py output folder with identity and "
                        "gatys on the same unseen paintings and photos.")
    flags.DEFINE_list("runs", [], "Run folders, each with eval_unseen/ and bank_all/.")
    flags.DEFINE_string("output", None, "The markdown table to write.")
    flags.DEFINE_string("reference", None, "A run folder with bank_all/ (today's config "
                        "on the same split): adds the per-style bank Gram ratio to it.")
    flags.DEFINE_list("collections", list(paintings.HELD_OUT_COLLECTIONS),
                      "The bank styles that are collections (a folder of works); the "
                      "others are single paintings.")
    flags.mark_flags_as_required(["anchors", "output"])
    app.run(main)
