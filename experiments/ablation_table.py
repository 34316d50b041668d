r"""The ablation table: evaluate.py's metrics of a set of runs, one row per run.

    python -m experiments.ablation_table --runs=runs/ablations --output=runs/ablations/table

`--runs` takes run workdirs and folders of runs (every sub-folder holding a
config.json), comma-separated. Each run is evaluated with method "ours" exactly as
`python evaluate.py --model=<run> --output=<run>/eval_ablation` would (its metrics
stay there), unless that folder's metrics.json is newer than the run's newest
checkpoint, in which case it is reused. Then table.md and table.csv are written
atomically to --output: variant (the run folder's name), steps, content SSIM,
style (Gram) distance, Frechet distance, deception rate and ms/image; the per-pair
metrics (SSIM, Gram distance, deception) carry their standard error over the pairs
(`<key>_se` in the csv, "mean ± se" in markdown), so a reader can tell a difference
between variants from the spread of the evaluation itself. All runs must
have been evaluated on the same content and style images, image size and VGG19
features, else the numbers would not be comparable and the table is refused.
"""
import csv
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from storage import checkpoints as checkpoints_lib  # noqa: E402
from storage import workdir as workdir_lib  # noqa: E402

EVAL_FOLDER = "eval_ablation"
# (csv key, markdown header, summary key of evaluate.py, format)
COLUMNS = (("content_ssim", "content SSIM", "ssim_y", "{:.3f}"),
           ("style_distance", "style distance (Gram)", "gram_distance", "{:.4g}"),
           ("fd", "FD", "fd", "{:.4g}"),
           ("deception_rate", "deception rate", "deception_rate", "{:.3f}"),
           ("ms_per_image", "ms/image", "ms_per_image", "{:.1f}"))
# Table key -> column of evaluate.py's metrics.csv (one row per pair) it averages.
PER_PAIR = {"content_ssim": "ssim_y", "style_distance": "gram_distance",
            "deception_rate": "deceived"}
# Settings every run of one table must share.
SHARED_SETTINGS = ("content_dir", "style_dir", "image_size", "max_contents")


def find_runs(paths):
    """Run workdirs (folders with a config.json) among `paths` and their sub-folders,
    sorted by name within each path."""
    runs = []
    for path in paths:
        if os.path.exists(workdir_lib.config_path(path)):
            runs.append(path)
            continue
        if not os.path.isdir(path):
            raise ValueError(f"--runs entry {path!r} is neither a run workdir (with a "
                             f"config.json) nor a folder of runs.")
        found = sorted(os.path.join(path, name) for name in os.listdir(path)
                       if os.path.exists(workdir_lib.config_path(
                           os.path.join(path, name))))
        if not found:
            raise ValueError(f"--runs entry {path!r} holds no run (no sub-folder with "
                             f"a config.json).")
        runs.extend(found)
    return runs


def trained_steps(run):
    """(steps of the newest checkpoint, its index file's mtime) of `run`."""
    prefix = checkpoints_lib.latest_checkpoint(run)
    if prefix is None:
        raise ValueError(f"Run {run} has no checkpoint to evaluate.")
    return int(prefix.rsplit("-", 1)[1]), os.path.getmtime(prefix + ".index")


def evaluate_run(run, max_contents=0, batch_size=4, reevaluate=False):
    """evaluate.py's results for `run` (method "ours"), reused when up to date."""
    from evaluation import evaluator
    output = os.path.join(run, EVAL_FOLDER)
    metrics_path = os.path.join(output, "metrics.json")
    _, checkpoint_time = trained_steps(run)
    if (not reevaluate and os.path.exists(metrics_path)
            and os.path.getmtime(metrics_path) > checkpoint_time):
        with open(metrics_path) as f:
            results = json.load(f)
        if results["settings"]["max_contents"] == max_contents:
            return results
    options = evaluator.Options(output=output, model=run, methods=("ours",),
                                max_contents=max_contents, batch_size=batch_size)
    results, rows = evaluator.evaluate(options)
    evaluator.write_results(output, results, rows)
    return results


def pair_standard_errors(run):
    """{key_se: standard error of the mean over the evaluated pairs} for PER_PAIR."""
    with open(os.path.join(run, EVAL_FOLDER, "metrics.csv")) as f:
        pairs = [row for row in csv.DictReader(f) if row["method"] == "ours"]
    errors = {}
    for key, column in PER_PAIR.items():
        values = np.array([_as_number(row[column]) for row in pairs])
        errors[f"{key}_se"] = (float(values.std(ddof=1) / np.sqrt(len(values)))
                               if len(values) > 1 else float("nan"))
    return errors


def _as_number(text):
    """A metrics.csv cell as a float; `deceived` is written as True/False."""
    if text in ("True", "False"):
        return float(text == "True")
    return float(text)


def check_comparable(results_by_run):
    """Raises ValueError when two runs were evaluated on different settings."""
    (first_run, first), *others = results_by_run.items()
    reference = _comparable_settings(first)
    for run, results in others:
        settings = _comparable_settings(results)
        for key, value in settings.items():
            if value != reference[key]:
                raise ValueError(
                    f"Runs {first_run} and {run} were evaluated with different {key} "
                    f"({reference[key]!r} vs {value!r}); their metrics are not "
                    f"comparable. Train ablations from one base config.")


def _comparable_settings(results):
    settings = results["settings"]
    return {**{key: settings[key] for key in SHARED_SETTINGS},
            "vgg weights": settings["vgg"]["weights_description"]}


def table_rows(results_by_run, steps_by_run):
    rows = []
    for run, results in results_by_run.items():
        summary = results["methods"]["ours"]["summary"]
        rows.append({"variant": os.path.basename(os.path.normpath(run)),
                     "steps": steps_by_run[run],
                     **{key: summary[summary_key]
                        for key, _, summary_key, _ in COLUMNS},
                     **pair_standard_errors(run)})
    return rows


def markdown(rows, fd_name):
    header = ["variant", "steps"] + [fd_name if key == "fd" else label
                                     for key, label, _, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        cells = [row["variant"], str(row["steps"])] + [
            fmt.format(row[key]) + (f" ± {fmt.format(row[key + '_se'])}"
                                    if key in PER_PAIR else "")
            for key, _, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(output, rows, fd_name):
    """table.md and table.csv in `output`, each written atomically."""
    from storage import atomic
    os.makedirs(output, exist_ok=True)
    atomic.write_atomically(os.path.join(output, "table.md"),
                               markdown(rows, fd_name).encode())
    atomic.write_csv(os.path.join(output, "table.csv"), rows)


def make_table(paths, output, max_contents=0, batch_size=4, reevaluate=False):
    """Evaluates the runs under `paths` and writes the table; returns its rows."""
    runs = find_runs(paths)
    results_by_run = {run: evaluate_run(run, max_contents, batch_size, reevaluate)
                      for run in runs}
    check_comparable(results_by_run)
    rows = table_rows(results_by_run, {run: trained_steps(run)[0] for run in runs})
    fd_name = next(iter(results_by_run.values()))["settings"]["fd_name"]
    write_table(output, rows, fd_name)
    return rows, fd_name


def define_flags():
    """The command line's flags: defined only when run as a script, so importing this
    module (tests) does not clash with other entry points' flags of the same name."""
    flags.DEFINE_list("runs", None, "Run workdirs and/or folders of runs.")
    flags.DEFINE_string("output", None, "Folder for table.md and table.csv.")
    flags.DEFINE_integer("max_contents", 0, "Use only the first N content images (0: "
                         "all), for every run alike.")
    flags.DEFINE_integer("batch_size", 4, "Pairs per batch.")
    flags.DEFINE_bool("reevaluate", False, "Evaluate every run again even when its "
                      "eval_ablation/metrics.json is up to date.")
    flags.mark_flags_as_required(["runs", "output"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    values = flags.FLAGS
    rows, fd_name = make_table(values.runs, values.output, values.max_contents,
                               values.batch_size, values.reevaluate)
    print(markdown(rows, fd_name))
    print(f"Wrote table.md and table.csv to {values.output}.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
