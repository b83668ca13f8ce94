"""config/paper_numbers.yaml against the table makers' slots, and the claims against the paper's own numbers."""
from pathlib import Path

import pytest
import yaml

from npeff_workflow.comparison import ARTIFACTS, CLAIMS, check_claim, compare, expected_slots, layout_from_config

REPO = Path(__file__).resolve().parent.parent
PAPER_NUMBERS = yaml.safe_load((REPO / "config" / "paper_numbers.yaml").read_text())


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_every_paper_cell_has_a_slot_and_every_slot_a_paper_entry(artifact):
    layout = layout_from_config(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()), REPO)
    assert set(PAPER_NUMBERS[artifact] or {}) == expected_slots(artifact, layout)


def test_every_number_the_paper_prints_is_there():
    """Counted by hand from the paper: Tables 1-10, 12, 13, Figure 2 and the two accuracies and three
    EPS similarities its text gives."""
    reported = sum(v is not None for table in PAPER_NUMBERS.values() for v in (table or {}).values())
    assert reported == 28 + 24 + 14 + 12 + 48 + 12 + 12 + 40 + 16 + 12 + 10 + 10 + 18


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.text[:50] for c in CLAIMS])
def test_each_claim_holds_on_the_papers_own_numbers(claim):
    assert check_claim(claim, {k: v or {} for k, v in PAPER_NUMBERS.items()}) is True


def test_a_claim_fails_when_the_numbers_contradict_it_and_is_unchecked_without_them():
    claim = next(c for c in CLAIMS if c.text.startswith("KL ratio > Norm ratio for NPEFF on SST2"))
    assert check_claim(claim, {"table2": {"npeff/sst2/kl": 0.5, "npeff/sst2/norm": 0.9}}) is False
    assert check_claim(claim, {"table2": {"npeff/sst2/kl": None, "npeff/sst2/norm": 0.9}}) is None
    assert check_claim(claim, {}) is None


def test_compare_reports_differences_and_missing_sides():
    rows = compare({"table1": {"a": 10.0, "b": 5.0}}, {"table1": {"a": 12.0, "c": 1.0}})
    by_cell = {r["cell"]: r for r in rows}
    assert by_cell["a"]["difference"] == pytest.approx(2.0) and by_cell["a"]["status"] == "compared"
    assert by_cell["b"]["status"] == "not reproduced" and by_cell["c"]["status"] == "not in the paper"
