"""Verdicts from mean ± std over seeds, against hand-computed cases."""

import pytest

from mlpvision.reproductions import CONTRADICTED, NOT_RESOLVED, REPRODUCED, claim_verdict


def _config(label: str, mean: float, std: float, n: int = 3) -> dict:
    return {"config": label, "test_top1": {"mean": mean, "std": std, "n": n},
            "robustness": {"shift": {"top1": {"mean": mean - 5, "std": std, "n": n},
                                     "change": {"mean": -5.0, "std": 1.0, "n": n}}}}


SUMMARY = {"configs": [_config("A", 60.0, 1.5), _config("B", 56.0, 1.5), _config("C", 58.0, 3.0),
                       _config("D", 50.0, 0.0, n=1)]}


@pytest.mark.parametrize(("a", "b", "expect", "verdict", "difference"), [
    # A − B = 4, standard error √(1.5²/3 + 1.5²/3) = 1.22: resolved (4 > 2.45)
    ("A", "B", "higher", REPRODUCED, "+4.00 ± 1.22"),
    ("A", "B", "lower", CONTRADICTED, "+4.00 ± 1.22"),
    ("A", "B", "equal", CONTRADICTED, "+4.00 ± 1.22"),
    # A − C = 2, standard error √(1.5²/3 + 3²/3) = 1.94: within twice the error
    ("A", "C", "higher", NOT_RESOLVED, "+2.00 ± 1.94"),
    ("A", "C", "equal", REPRODUCED + " (no difference resolved)", "+2.00 ± 1.94"),
])
def test_verdicts(a, b, expect, verdict, difference):
    got, numbers = claim_verdict(SUMMARY, {"text": "t", "a": a, "b": b, "expect": expect})
    assert got == verdict
    assert f"{a} − {b} = {difference} points (n = 3, 3)" == numbers


def test_one_seed_resolves_nothing_and_unknown_names_are_explained():
    verdict, numbers = claim_verdict(SUMMARY, {"text": "t", "a": "A", "b": "D", "expect": "higher"})
    assert verdict == NOT_RESOLVED
    assert numbers == "fewer than 2 finished seeds (n = 3, 1)"
    same, _ = claim_verdict(SUMMARY, {"text": "t", "a": "A", "b": "B", "metric": "change:shift", "expect": "higher"})
    assert same == NOT_RESOLVED  # equal changes: 0 ± 0.82
    with pytest.raises(ValueError, match="names 'E', not a configuration of the sweep"):
        claim_verdict(SUMMARY, {"text": "t", "a": "E", "b": "A", "expect": "higher"})
    with pytest.raises(ValueError, match="expect must be higher, lower or equal"):
        claim_verdict(SUMMARY, {"text": "t", "a": "A", "b": "B", "expect": "better"})
