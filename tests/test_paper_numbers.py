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


def test_timing_claims_skip_two_label_tasks_and_still_check_the_others():
    """On SST2 a PEF is one row, a multiple of the gradient: their times tie, so only the multi-row
    tasks decide "a PEF costs more than a gradient" and "an NPEFF step is longer than G-NPEFF's"."""
    pef = next(c for c in CLAIMS if c.text.startswith("Per example, a PEF costs more than a gradient"))
    step = next(c for c in CLAIMS if c.text.startswith("An NPEFF step takes longer"))
    sst2_tie = {"sst2/pef": 0.267, "sst2/gradient": 0.268, "sst2/activation": 0.07}
    assert check_claim(pef, {"table7": {**sst2_tie, "yat/pef": 1.3, "yat/gradient": 0.4, "yat/activation": 0.1}})
    assert check_claim(pef, {"table7": {**sst2_tie, "yat/pef": 0.3, "yat/gradient": 0.4,
                                        "yat/activation": 0.1}}) is False
    assert check_claim(pef, {"table7": {**sst2_tie, "sst2/activation": 0.3}}) is False  # gradient > activation everywhere
    steps = {"npeff/sst2/step_ms": 1.9, "gnpeff/sst2/step_ms": 2.9, "npeff/yat/step_ms": 4.0}
    assert check_claim(step, {"table8": {**steps, "gnpeff/yat/step_ms": 1.9}})
    assert check_claim(step, {"table8": {**steps, "gnpeff/yat/step_ms": 4.1}}) is False
