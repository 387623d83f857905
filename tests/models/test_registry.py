"""Registration: every spec name is creatable through timm, and importing mlpvision replaces no timm model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch

import mlpvision
from mlpvision.cli import main
from mlpvision.models import FAMILIES, PREFIX, family_of

from ..conftest import reference_rows

NAMES = [row["name"] for row in reference_rows()]


def test_registered_names_are_the_spec_names():
    assert sorted(mlpvision.list_models()) == sorted(NAMES)
    assert all(name.startswith(PREFIX) for name in mlpvision.list_models())


def test_list_models_filters():
    assert mlpvision.list_models("mlpv_res*") == ["mlpv_resmlp_12", "mlpv_resmlp_24", "mlpv_resmlp_36",
                                                  "mlpv_resmlp_36_ccs", "mlpv_resmlp_b24"]
    assert "mlpv_gmlp_s16" in mlpvision.list_models("*gmlp*")


def test_import_replaces_no_timm_entrypoint():
    """In a fresh interpreter: every entry point timm had is still timm's own after ``import mlpvision``."""
    script = (
        "import json, timm\n"
        "from timm.models import _registry as r\n"
        "before = dict(r._model_entrypoints)\n"
        "import mlpvision\n"
        "after = r._model_entrypoints\n"
        "changed = [k for k in before if after[k] is not before[k]]\n"
        "added = sorted(set(after) - set(before))\n"
        "print(json.dumps(dict(changed=changed, added=added, timm_mixer=after['mixer_b16_224'].__module__)))\n"
    )
    result = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                       check=True).stdout)
    assert result["changed"] == []
    assert sorted(result["added"]) == sorted(NAMES)
    assert result["timm_mixer"] == "timm.models.mlp_mixer"


@pytest.mark.parametrize("name", NAMES)
def test_timm_create_model_and_pretrained_cfg(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    cfg = model.pretrained_cfg
    assert cfg["architecture"] == name
    for key in ("input_size", "mean", "std", "crop_pct", "interpolation", "classifier", "first_conv",
                "paper_ids", "paper_name", "origin_url", "license", "notes"):
        assert cfg.get(key), f"{name}: pretrained_cfg lacks {key}"
    assert cfg["classifier"] + ".weight" in model.state_dict()
    assert cfg["first_conv"] + ".weight" in model.state_dict()


WEIGHTS = {  # names whose released weights must be reachable through pretrained=True
    "mlpv_mixer_b16": "hf_hub_id", "mlpv_mixer_l16": "hf_hub_id", "mlpv_resmlp_12": "url",
    "mlpv_resmlp_24": "url", "mlpv_resmlp_36": "url", "mlpv_resmlp_b24": "url", "mlpv_gmlp_s16": "hf_hub_id",
    "mlpv_ffonly_tiny": "url", "mlpv_ffonly_base": "url",
}


@pytest.mark.parametrize(("name", "source"), WEIGHTS.items())
def test_released_weights_have_a_location(name, source):
    tagged = timm.list_pretrained(f"{name}.*")
    assert tagged, f"{name} has no pretrained tag"
    with torch.device("meta"):
        cfg = timm.create_model(name).pretrained_cfg
    assert cfg.get(source), f"{name}: default tag {cfg['tag']} has no {source}"
    assert cfg["custom_load"], "weights must go through the model's own loader"


@pytest.mark.parametrize(("pattern", "expected"), [
    ("*_ccs", ["mlpv_mixer_b16_ccs", "mlpv_resmlp_36_ccs"]),
    ("*b16", ["mlpv_gmlp_b16", "mlpv_mixer_b16"]),
    ("res*", ["mlpv_resmlp_12", "mlpv_resmlp_24", "mlpv_resmlp_36", "mlpv_resmlp_36_ccs", "mlpv_resmlp_b24"]),
    ("dynamixer", ["mlpv_dynamixer_l", "mlpv_dynamixer_m", "mlpv_dynamixer_s"]),
])
def test_list_models_reads_a_wildcard_or_a_word_as_the_cli_does(pattern, expected, capsys):
    """One rule for the library and the command line: a wildcard against the name with or without the prefix."""
    assert mlpvision.list_models(pattern) == expected
    assert main(["models", pattern, "--json"]) == 0
    assert [row["name"] for row in json.loads(capsys.readouterr().out)] == expected


def test_families_are_the_family_files():
    """Every module of ``mlpvision.models`` not starting with ``_`` is a family, and registers names under it."""
    files = sorted(p.stem for p in Path(mlpvision.models.__file__).parent.glob("*.py") if not p.stem.startswith("_"))
    assert list(FAMILIES) == files
    assert all(timm.list_models(module=family) for family in FAMILIES)
    assert {family_of(name) for name in NAMES} == set(FAMILIES)
