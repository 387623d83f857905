"""The model table: every registered name with counts measured from the code and its family from the registry."""

from mlpvision.catalog import markdown_table, model_rows
from mlpvision.models import FAMILIES

from .conftest import reference_rows


def test_rows_are_measured_and_named_by_family():
    rows = {row.name: row for row in model_rows("*_ccs")}
    assert sorted(rows) == ["mlpv_mixer_b16_ccs", "mlpv_resmlp_36_ccs"]
    expected = {row["name"]: int(row["params_total"]) for row in reference_rows(("ccs",))}
    assert {name: row.params for name, row in rows.items()} == expected
    assert {row.family for row in rows.values()} == {"ccs"}
    assert rows["mlpv_mixer_b16_ccs"].arxiv == "2106.14882"


def test_every_family_has_rows_and_the_table_has_one_line_per_row():
    rows = model_rows()
    assert {row.family for row in rows} == set(FAMILIES)
    assert len(markdown_table(rows).splitlines()) == len(rows) + 2
