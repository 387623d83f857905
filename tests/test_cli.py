"""The command line, called in-process, and the README kept in step with it."""

import json
import re
from pathlib import Path

from mlpvision.catalog import markdown_table, model_rows
from mlpvision.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_models_json(capsys):
    assert main(["models", "mlpv_gmlp*", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["mlpv_gmlp_b16", "mlpv_gmlp_s16", "mlpv_gmlp_ti16"]
    assert rows[2]["params"] == 5_867_328
    assert rows[2]["family"] == "gmlp"


def test_models_by_a_word_of_the_name(capsys):
    assert main(["models", "dynamixer", "--json"]) == 0
    names = [row["name"] for row in json.loads(capsys.readouterr().out)]
    assert names == ["mlpv_dynamixer_l", "mlpv_dynamixer_m", "mlpv_dynamixer_s"]


def test_models_table(capsys):
    assert main(["models", "mlpv_resmlp_12"]) == 0
    out = capsys.readouterr().out
    assert "mlpv_resmlp_12" in out
    assert "15,350,872" in out


def test_unknown_pattern_is_one_line_and_exit_2(capsys):
    assert main(["models", "nothing_like_this*"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no mlpvision model matches" in err


def test_readme_model_table_is_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- models:start -->\n(.*)<!-- models:end -->", readme, re.S).group(1)
    assert table == markdown_table(model_rows())


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line for line in readme.splitlines() if "pytest" in line and line.startswith("python3 -m venv"))
    assert command in ci


def test_models_written_to_a_file_keep_whole_lines(capsys):
    """Output that is not a terminal (a pipe, a file, capsys) is not cut to rich's default 80 columns."""
    assert main(["models", "*_ccs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if "mlpv_resmlp_36_ccs" in line)
    assert "ResMLP-36 + CCS (G=8)" in row
    assert "derived from the CCS paper Alg. 1 on ResMLP-S36" in row
    assert len(row) > 80
