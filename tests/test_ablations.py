"""The ablation configs (each is what --dry_run accepts and one training step of its
:test variant) and the ablation table script on tiny runs."""
import csv
import glob
import os

import numpy as np
import pytest

from experiments import ablation_table
from tests.helpers import REPO, SHARED_DATA, read_scalars
from training import config_check, loop

ABLATIONS = sorted(os.path.basename(path)[:-3] for path in
                   glob.glob(os.path.join(REPO, "experiments", "ablations", "[a-z]*.py")))


def load(name, variant=None):
    module = __import__(f"experiments.ablations.{name}", fromlist=["get_config"])
    return module.get_config(variant)


def flatten(config, prefix=""):
    flat = {}
    for key, value in config.items():
        if hasattr(value, "items"):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_the_ablations_are_the_documented_set():
    assert ABLATIONS == sorted([
        "adaptive_balance", "base", "ema", "hinge", "lsgan", "multiscale_d",
        "no_adversarial", "no_r1", "single_stage", "spectral_norm", "vgg_d"])


@pytest.mark.parametrize("name", [n for n in ABLATIONS if n != "base"])
def test_each_ablation_changes_only_its_own_keys(name):
    base, variant = flatten(load("base")), flatten(load(name))
    assert base.keys() == variant.keys()
    changed = {key for key in base if base[key] != variant[key]}
    assert 1 <= len(changed) <= 2, changed
    # Every ablation keeps the data, the VGG features and the run length: the
    # table compares like with like.
    assert not any(key.startswith(("data.", "vgg.")) or key == "train.num_steps"
                   for key in changed)


@pytest.mark.parametrize("name", ABLATIONS)
def test_each_ablation_config_is_valid_and_trains_1500_steps(name):
    """What `train.py --config=experiments/ablations/<name>.py --dry_run` does, in
    this process (test_train runs the command line itself): the config validates,
    and the config it prints trains 1500 steps."""
    config = load(name)
    config_check.validate(config)
    assert "num_steps: 1500" in str(config)


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    """name -> workdir of one training step of the ablation's :test variant (on the
    real data), trained once per module."""
    if not (SHARED_DATA / "MANIFEST.csv").exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    runs = {}

    def run(name):
        if name not in runs:
            config = load(name, "test")
            config.data.content_dir = str(SHARED_DATA / "content")
            config.data.style_dir = str(SHARED_DATA / "collections")
            config.train.num_steps = 1
            workdir = str(tmp_path_factory.mktemp(name))
            loop.train_and_evaluate(config, workdir)
            runs[name] = workdir
        return runs[name]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("name", ABLATIONS)
def test_one_training_step_of_the_test_variant(name, one_step_run):
    workdir = one_step_run(name)
    assert os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-1.index"))
    assert os.path.exists(os.path.join(workdir, "export", "generator.keras"))
    scalars = read_scalars(workdir)
    # Stage 2 from the first step, except for the perceptual-only ablation.
    assert ("loss/G/adv" in scalars) == (name != "no_adversarial")


@pytest.mark.slow
def test_ablation_table_on_tiny_runs(one_step_run, tmp_path):
    paths = [one_step_run("base"), one_step_run("hinge")]
    output = str(tmp_path / "table")
    rows, fd_name = ablation_table.make_table(paths, output, max_contents=2,
                                              batch_size=2)
    assert [row["variant"] for row in rows] == [os.path.basename(p) for p in paths]
    for row in rows:
        assert row["steps"] == 1
        assert 0.0 <= row["deception_rate"] <= 1.0 and -1.0 <= row["content_ssim"] <= 1.0
        assert row["style_distance"] > 0 and row["fd"] >= 0 and row["ms_per_image"] > 0
    with open(os.path.join(output, "table.csv")) as f:
        table = list(csv.DictReader(f))
    assert [row["variant"] for row in table] == [row["variant"] for row in rows]
    assert float(table[0]["fd"]) == pytest.approx(rows[0]["fd"])
    with open(os.path.join(output, "table.md")) as f:
        lines = f.read().splitlines()
    assert fd_name in lines[0] and "content SSIM" in lines[0] and len(lines) == 4
    # Per-pair metrics carry their standard error over the evaluated pairs.
    with open(os.path.join(paths[0], ablation_table.EVAL_FOLDER, "metrics.csv")) as f:
        deceived = [row["deceived"] == "True" for row in csv.DictReader(f)]
    assert len(deceived) == 8  # 2 photos x 4 styles
    assert rows[0]["deception_rate_se"] == pytest.approx(
        np.std(deceived, ddof=1) / np.sqrt(len(deceived)))
    assert rows[0]["content_ssim_se"] > 0 and rows[0]["style_distance_se"] > 0
    assert f"{rows[0]['content_ssim']:.3f} ± {rows[0]['content_ssim_se']:.3f}" in lines[2]
    # Each run's evaluation is kept in the run and reused while it is up to date.
    metrics = os.path.join(paths[0], ablation_table.EVAL_FOLDER, "metrics.json")
    written = os.path.getmtime(metrics)
    again, _ = ablation_table.make_table(paths, output, max_contents=2, batch_size=2)
    assert os.path.getmtime(metrics) == written and again == rows


def test_pair_standard_errors_by_hand(tmp_path):
    folder = tmp_path / ablation_table.EVAL_FOLDER
    folder.mkdir()
    (folder / "metrics.csv").write_text(
        "method,ssim_y,gram_distance,deceived\n"
        "ours,0.5,10,True\nours,0.7,10,False\nours,0.9,10,True\n"
        "identity,1.0,99,False\n")  # another method's row is not counted
    errors = ablation_table.pair_standard_errors(str(tmp_path))
    # ssim: variance ((0.2^2) * 2) / 2 = 0.04; deceived: mean 2/3, variance 1/3.
    assert errors["content_ssim_se"] == pytest.approx(np.sqrt(0.04 / 3))
    assert errors["deception_rate_se"] == pytest.approx(1 / 3)
    assert errors["style_distance_se"] == 0.0


def test_ablation_table_refuses_incomparable_runs():
    def results(image_size):
        return {"settings": {"content_dir": "c", "style_dir": "s", "max_contents": 0,
                             "image_size": image_size,
                             "vgg": {"weights_description": "random(seed=0)"}}}
    ablation_table.check_comparable({"a": results(96), "b": results(96)})
    with pytest.raises(ValueError, match="Runs a and b .* different image_size"):
        ablation_table.check_comparable({"a": results(96), "b": results(128)})


def test_find_runs_expands_folders_and_rejects_others(tmp_path):
    for name in ("b", "a"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "config.json").write_text("{}")
    (tmp_path / "runs" / "notes").mkdir()
    assert ablation_table.find_runs([str(tmp_path / "runs")]) == [
        str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "b")]
    with pytest.raises(ValueError, match="holds no run"):
        ablation_table.find_runs([str(tmp_path / "runs" / "notes")])
    with pytest.raises(ValueError, match="neither a run workdir"):
        ablation_table.find_runs([str(tmp_path / "missing")])
