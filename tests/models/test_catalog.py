"""The weight table: ``mlpvision models --weights`` (table, JSON, the README's markdown) from the registry."""

import json
import re
from pathlib import Path

import timm

from mlpvision.catalog import weight_rows, weights_markdown
from mlpvision.cli import main
from mlpvision.models._weights import WEIGHT_INFO

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_released_weight_is_listed_with_its_provenance(capsys):
    assert main(["models", "--weights", "--json"]) == 0
    rows = {row["tag"]: row for row in json.loads(capsys.readouterr().out)}
    released = {tag for tag in timm.list_pretrained("mlpv_*") if timm.models.get_pretrained_cfg(tag).has_weights}
    by_hand = {f"mlpv_asmlp_{size}.official_in1k" for size in "tsb"}  # OneDrive pages: no download, still released
    assert set(rows) == released | by_hand
    for tag, row in rows.items():
        for field in ("source", "file", "license", "preprocessing", "top1_source", "preprocessing_source", "page"):
            assert row[field], f"{tag}: no {field}"
        assert row["weights_key_source"], f"{tag}: which key the authors' evaluation reads is not cited"


def test_rows_say_what_the_authors_evaluate():
    rows = {row.tag: row for row in weight_rows()}
    b224 = rows["mlpv_repmlpnet_b224.in1k"]
    assert (b224.preprocessing, b224.top1, b224.weights_key) == (
        "224x224, no crop, bilinear, ImageNet mean/std", 80.32, "model")
    assert "test.py:69-70" in b224.preprocessing_source
    assert rows["mlpv_cyclemlp_b1.in1k"].preprocessing.startswith("224x224, crop 0.875, bicubic")
    mixer = rows["mlpv_mixer_b16.goog_in1k"]
    assert mixer.source == "hf-hub:timm/mixer_b16_224.goog_in21k_ft_in1k/model.safetensors"
    assert (mixer.top1, mixer.top1_timm) == (76.44, 76.616)
    assert rows["mlpv_mixer_l16.goog_in1k"].top1_timm == 72.084
    gsam = rows["mlpv_mixer_s16.gsam_in1k"]
    assert gsam.preprocessing == "224x224, resized to size (no crop), bilinear, mean/std 0.5"
    assert {tag: rows[tag].top1 for tag in rows if "sam_in1k" in tag} == {  # GSAM paper Table 1
        "mlpv_mixer_s16.gsam_in1k": 75.0, "mlpv_mixer_s32.gsam_in1k": 68.6, "mlpv_mixer_b32.gsam_in1k": 73.6,
        "mlpv_mixer_b32.sam_in1k": 72.4}
    assert "Table 1" in gsam.top1_source
    asmlp = rows["mlpv_asmlp_t.official_in1k"]  # released on a OneDrive page: listed, fetched by hand
    assert (asmlp.top1, asmlp.weights_key, asmlp.file) == (81.3, "model", "–")
    assert asmlp.source == f"{asmlp.page} (by hand)"
    assert asmlp.page.startswith("https://shanghaitecheducn-my.")
    assert "data/build.py:112-119" in asmlp.preprocessing_source
    assert not any(tag.endswith(".untrained") for tag in rows)  # FF-only large cites a page but released no file
    assert rows["mlpv_vip_s7.in1k"].page == "https://drive.google.com/file/d/1cX6eauDrsGsLSZnqsX7cl0oiKX8Dzv5z/view"
    assert WEIGHT_INFO["mlpv_dynamixer_s.untrained"].weights_key == "state_dict_ema"
    assert not any(tag.endswith("goog_in21k_ft_in1k") for tag in rows)


def test_weights_table_on_the_command_line(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich folds cells to the terminal's width
    assert main(["models", "vip", "--weights"]) == 0
    out = capsys.readouterr().out
    assert "mlpv_vip_s7.in1k" in out
    assert "81.5" in out
    assert main(["models", "nothing_like_this*", "--weights"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no released weight matches" in err


def test_readme_weights_table_is_generated_from_the_registry():
    table = re.search(r"<!-- weights:start -->\n(.*)<!-- weights:end -->", README.read_text(), re.S).group(1)
    assert table == weights_markdown(weight_rows())
