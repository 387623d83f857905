"""Configuration resolution: recipes, explicit settings over them, and the model a recipe's kwargs belong to."""

from mlpvision.train import resolve_config
from mlpvision.train.config import RECIPES


def test_the_digits_recipe_shapes_its_own_model():
    config = resolve_config({})
    assert config.model == RECIPES["digits"]["model"]
    assert config.model_kwargs == RECIPES["digits"]["model_kwargs"]


def test_another_model_does_not_inherit_the_recipes_model_kwargs():
    config = resolve_config({"model": "mlpv_cyclemlp_b1", "img_size": 32})
    assert config.model_kwargs == {}
    assert config.epochs == RECIPES["digits"]["epochs"]  # the rest of the recipe still applies
    explicit = resolve_config({"model": "mlpv_vip_s7", "img_size": 56, "model_kwargs": {"depths": [1, 1, 1, 1]}})
    assert explicit.model_kwargs == {"depths": [1, 1, 1, 1]}


def test_a_recipe_without_a_model_takes_the_default_model():
    config = resolve_config({"data": "/some/folder"})
    assert config.recipe == "deit"
    assert config.model_kwargs == {}
