"""The published recipes: each resolves, validates, has a source for every value, and builds its optimiser,
scheduler and augmentation; ``mlpvision recipes`` lists them."""

import dataclasses
import json
import re

import numpy as np
import pytest
import timm.data
import yaml
from PIL import Image
from timm.optim import Lamb

from mlpvision.cli import main
from mlpvision.train import TrainConfig, resolve_config
from mlpvision.train.module import ImageClassifier
from mlpvision.train.recipes import RECIPES, REFERENCES, SOURCES

from ..conftest import tiny_model

PUBLISHED = ("mixer", "mixer_finetune", "resmlp", "resmlp_cifar", "gmlp", "ffonly", "vip", "dynamixer", "smlpnet",
             "cyclemlp", "repmlpnet", "ccs", "s2mlp", "deit")
# a file and line, a paper section, table or appendix, an issue, a README command, or this project's measurement
SOURCE_FORM = re.compile(r"\.(py|md|sh):\d+|§\d|Table \d|App\. [A-Z]|#\d+|README|measured|mlpvision|^vit_jax|paper")


def _config(name: str, **overrides) -> TrainConfig:
    return resolve_config({"recipe": name, "data": "digits" if name == "digits" else "folder", **overrides})


def test_every_family_has_its_published_recipe():
    assert set(PUBLISHED) <= set(RECIPES)
    assert set(REFERENCES) == set(RECIPES)


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_value_names_its_source_and_a_real_setting(name):
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(RECIPES[name]) <= fields
    assert SOURCES[name].keys() == RECIPES[name].keys()
    for key, source in SOURCES[name].items():
        assert SOURCE_FORM.search(source), f"{name}.{key}: {source!r} names no file:line, section or issue"


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_resolves_validates_and_builds_its_optimiser_and_schedule(name):
    config = _config(name)
    config.validate()
    for key, value in RECIPES[name].items():
        assert getattr(config, key) == value
    model = tiny_model(config.model)
    module = ImageClassifier(model, config, num_classes=10, steps_per_epoch=50)
    setup = module.configure_optimizers()
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    group = optimizer.param_groups[0]
    if config.opt_eps is not None:
        assert group["eps"] == config.opt_eps
    warmup = config.warmup_steps if config.warmup_steps is not None else config.warmup_epochs * 50
    total = config.epochs * 50
    scheduler.step_update(num_updates=0)
    assert group["lr"] == pytest.approx(config.warmup_lr)
    scheduler.step_update(num_updates=warmup // 2)  # linear warm-up: half-way to the scaled peak
    assert group["lr"] == pytest.approx(config.warmup_lr + (config.resolved_lr - config.warmup_lr) / 2, rel=1e-6)
    scheduler.step_update(num_updates=total)
    assert group["lr"] == pytest.approx(config.min_lr, abs=1e-12)


def test_the_optimisers_are_the_papers():
    lamb = ImageClassifier(tiny_model("mlpv_resmlp_12"), _config("resmlp"), 10, 10).configure_optimizers()
    assert isinstance(lamb["optimizer"], Lamb)
    sgd = ImageClassifier(tiny_model("mlpv_mixer_b16"), _config("mixer_finetune"), 10, 10).configure_optimizers()
    assert type(sgd["optimizer"]).__name__ == "SGD"
    assert sgd["optimizer"].param_groups[0]["momentum"] == 0.9


def test_the_learning_rate_scales_linearly_from_the_papers_batch():
    assert _config("resmlp", batch_size=256).resolved_lr == pytest.approx(5e-3 * 256 / 2048)
    assert _config("resmlp", batch_size=256, devices=8).resolved_lr == pytest.approx(5e-3)
    assert _config("vip", batch_size=256, devices=8).resolved_lr == pytest.approx(2e-3)  # ViP README's 2e-3
    assert _config("mixer", batch_size=512, grad_accum_steps=8).resolved_lr == pytest.approx(1e-3)


def test_mixer_warms_up_over_10k_updates_then_decays_linearly():
    config = _config("mixer", epochs=100)  # 100 epochs of 1000 updates: warm-up to 10k, linear decay to 100k
    setup = ImageClassifier(tiny_model("mlpv_mixer_b16"), config, 10, 1000).configure_optimizers()
    group, scheduler = setup["optimizer"].param_groups[0], setup["lr_scheduler"]["scheduler"]
    lrs = []
    for update in (5_000, 10_000, 55_000, 100_000):
        scheduler.step_update(num_updates=update)
        lrs.append(group["lr"])
    peak = config.resolved_lr
    assert lrs == pytest.approx([peak / 2, peak, peak / 2, 0.0], abs=1e-12)


@pytest.mark.parametrize("policy", sorted({recipe.get("aa", TrainConfig.aa) or "" for recipe in RECIPES.values()}))
def test_every_augmentation_policy_builds_and_runs(policy):
    transform = timm.data.create_transform(input_size=(3, 32, 32), is_training=True, auto_augment=policy or None)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    for _ in range(20):  # each call draws other operations and magnitudes
        assert transform(image).shape == (3, 32, 32)


def test_recipes_command_prints_the_table_and_json(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich folds headers on a narrow terminal
    assert main(["recipes"]) == 0
    table = capsys.readouterr().out
    for column in ("recipe", "model", "optimiser", "lr rule", "epochs", "warm-up", "augmentation", "source"):
        assert column in table
    for name in RECIPES:
        assert name in table
    assert main(["recipes", "--json"]) == 0
    rows = {row["recipe"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows.keys() == RECIPES.keys()
    assert rows["mixer"]["warm-up"] == "10,000 steps"
    assert rows["deit"]["augmentation"].endswith("aug-repeats 3")  # deit main.py:107
    assert "aug-repeats" not in rows["gmlp"]["augmentation"]
    assert rows["small"]["model"].endswith("at 64×64")
    assert rows["resmlp"]["settings"]["opt"] == "lamb"
    assert rows["resmlp"]["sources"]["opt"] == "deit#106: optimizer lamb"


@pytest.mark.parametrize(("argv", "message"), [
    (["--warmup-steps", "-1"], "--warmup-steps must be a finite number ≥ 0, got -1"),
    (["--opt-eps", "0"], "--opt-eps must be a finite number > 0, got 0.0"),
    (["--decay-rate", "-2"], "--decay-rate must be a finite number > 0, got -2.0"),
])
def test_bad_schedule_values_are_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main(["train", "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_the_new_schedule_flags_reach_the_run(tmp_path):
    run = tmp_path / "run"
    argv = ["train", "--out", str(run), "--epochs", "1", "--warmup-steps", "3", "--sched", "poly",
            "--decay-rate", "1", "--opt-eps", "1e-6", "--model-kwargs", "patch_size=2", "depth=1", "embed_dim=16"]
    assert main(argv) == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert (saved["warmup_steps"], saved["decay_rate"], saved["opt_eps"]) == (3, 1.0, 1e-6)


def test_a_warm_up_longer_than_the_run_is_one_line(capsys, tmp_path):
    argv = ["train", "--recipe", "mixer", "--data", "digits", "--out", str(tmp_path / "run"), "--epochs", "2",
            "--img-size", "8", "--model-kwargs", "patch_size=2", "depth=1", "embed_dim=16"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the warm-up (10000 updates) fills all" in err
    assert err.count("\n") == 1
