r"""Quality in bfloat16: the same model painting in float32 and in mixed_bfloat16, and
runs trained in either precision, compared from their files.

    python -m experiments.precision_quality --model=runs/quickstart \
        --runs=runs/quickstart,runs/quickstart_seed1,runs/quickstart_bf16

prints (1) for each content photo of the model's demo data, max and mean |bf16 -
fp32| of the painting in every style (in 1/255 units), and (2) for each run, its
final loss terms (the mean of the last `--last` logged values up to the last step
every run has logged, so runs still training compare at the same step) and its
eval/* metrics at that step. The run-to-run spread of two float32 seeds is the yard
stick for the bfloat16 run.
"""
import glob
import os

import numpy as np
from absl import app, flags

import painting
from storage import workdir as workdir_lib
from training import summaries

_MODEL = flags.DEFINE_string("model", None, "A run's workdir or export folder.")
_RUNS = flags.DEFINE_list("runs", [], "Workdirs to compare (first: the reference).")
_LAST = flags.DEFINE_integer("last", 4, "Logged values averaged for the final terms.")
_MAX_SIZE = flags.DEFINE_integer("max_size", 512, "Long side of the painted photos.")

TERMS = ("loss/G/style", "loss/G/content", "loss/G/adv", "loss/G/total",
         "loss/D/total")


def painting_difference(model_path, content_paths, max_size=512):
    """{content name: (max |d|, mean |d|, share of values with |d| > 2/255)}, d in
    [0, 1] units between the model painting in mixed_bfloat16 and in float32, over
    every style of the model."""
    painters = {name: painting.load(model_path, precision=name)
                for name in ("float32", "mixed_bfloat16")}
    results = {}
    for path in content_paths:
        content = painting.load_content(path, max_size)
        differences = []
        for style in painters["float32"].names:
            plan = painters["float32"].plan(styles=[style])
            fp32, bf16 = (painters[name].paint(content, plan) for name in painters)
            differences.append(np.abs(bf16 - fp32))
        stacked = np.stack(differences)
        results[os.path.basename(path)] = (float(stacked.max()), float(stacked.mean()),
                                           float(np.mean(stacked > 2 / 255)))
    return results


def last_common_step(scalars_per_run, tag="loss/G/total"):
    return min(max(scalars[tag]) for scalars in scalars_per_run.values())


def final_terms(scalars, step, last=4):
    """Each TERMS tag's mean over its last `last` logged values up to `step`."""
    terms = {}
    for tag in TERMS:
        values = [value for logged, value in sorted(scalars.get(tag, {}).items())
                  if logged <= step]
        terms[tag] = float(np.mean(values[-last:])) if values else float("nan")
    return terms


def eval_metrics(scalars, step):
    """Each eval/* tag's value at its last evaluation up to `step`."""
    metrics = {}
    for tag, values in scalars.items():
        logged = [s for s in values if s <= step]
        if tag.startswith("eval/") and logged:
            metrics[tag] = values[max(logged)]
    return metrics


def compare_runs(workdirs, last=4):
    """(step, {workdir: {tag: value}}): final terms and eval metrics of every run at
    the last step all of them have logged."""
    scalars = {workdir: summaries.read_scalars(workdir) for workdir in workdirs}
    step = last_common_step(scalars)
    return step, {workdir: {**final_terms(values, step, last),
                            **eval_metrics(values, step)}
                  for workdir, values in scalars.items()}


def comparison_markdown(step, table):
    tags = sorted({tag for row in table.values() for tag in row})
    names = [os.path.basename(os.path.normpath(workdir)) for workdir in table]
    lines = [f"At step {step}:", "", "| tag | " + " | ".join(names) + " |",
             "| --- |" + " --- |" * len(names)]
    for tag in tags:
        lines.append(f"| {tag} | " + " | ".join(
            f"{row.get(tag, float('nan')):.4g}" for row in table.values()) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    if _MODEL.value:
        contents = sorted(glob.glob(os.path.join(
            workdir_lib.demo_data_dir(_MODEL.value), "content", "*")))
        differences = painting_difference(_MODEL.value, contents, _MAX_SIZE.value)
        print("| content | max abs bf16 - fp32 (1/255) | mean (1/255) | share > 2/255 |")
        print("| --- | --- | --- | --- |")
        for name, (largest, mean, above) in differences.items():
            print(f"| {name} | {255 * largest:.2f} | {255 * mean:.3f} | "
                  f"{100 * above:.2f}% |")
        overall = max(largest for largest, _, _ in differences.values())
        print(f"\nmax over all contents and styles: {255 * overall:.2f}/255\n")
    if _RUNS.value:
        print(comparison_markdown(*compare_runs(_RUNS.value, _LAST.value)))


if __name__ == "__main__":
    app.run(main)
