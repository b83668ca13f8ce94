"""The seam between the library and the workflow: npeff knows no workflow vocabulary, the
workflow's names are defined once (npeff_workflow.registry) and agree with the config schema."""
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from npeff.analysis.selectivity import baseline_without, choose_components, draw_baseline, geometric_mean, norm_ratio
from npeff_workflow import registry

REPO = Path(__file__).resolve().parent.parent

# What only the workflow may say: Snakemake, its config's keys and files, the paper's table ids.
WORKFLOW_WORDS = re.compile(r"snakemake|config key|npeff_workflow|config\[|paper_numbers|"
                            r"\btable\d+\b|\bfigure\d+\b", re.IGNORECASE)


def test_the_library_speaks_no_workflow_vocabulary():
    offending = [f"{path.relative_to(REPO)}:{n}: {line.strip()}"
                 for path in sorted((REPO / "npeff").rglob("*.py"))
                 for n, line in enumerate(path.read_text().splitlines(), 1) if WORKFLOW_WORDS.search(line)]
    assert offending == []


def test_the_schema_accepts_exactly_the_registered_tasks():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    assert tuple(schema["properties"]["tasks"]["properties"]) == registry.TASKS
    extra_model_tasks = schema["properties"]["extra_models"]["additionalProperties"]["properties"]["tasks"]
    assert tuple(extra_model_tasks["items"]["enum"]) == registry.TASKS


def test_decomposition_names_patterns_and_regex_agree():
    name = registry.decomposition_name("gnpeff", 32.0, 1)
    assert name == "gnpeff_c32_s1"
    assert registry.decomposition_wildcards().format(method="gnpeff", C=32, seed=1) == name
    assert registry.decomposition_wildcards("gc").format(C=8, seed=0) == "gc_c8_s0"
    perturbed = re.compile(registry.decomposition_regex(registry.PERTURBED_METHODS))
    assert perturbed.fullmatch(name) and perturbed.fullmatch("gc_c8_s0")
    assert not perturbed.fullmatch("sae_c8_s0") and not perturbed.fullmatch("npeff_c8")


def test_registered_tasks_build_the_library_task_specs():
    spec = registry.task_spec("yat")
    assert spec.name == "yat" and spec.kind == "label_token" and "{label_list}" in spec.template
    assert registry.LABELLED_TASKS == ("sst2", "yat", "clinc150")
    with pytest.raises(ValueError, match="unknown task 'sst5'"):
        registry.task_spec("sst5")


def test_perturbation_draws_are_seeded_sorted_and_without_repeats():
    components = choose_components(np.random.default_rng(3), [2, 5, 7, 11, 13], 3)
    baseline = draw_baseline(np.random.default_rng(3), 50, 20)
    assert components == sorted(set(components)) and len(components) == 3 and set(components) <= {2, 5, 7, 11, 13}
    assert baseline == sorted(set(baseline)) and len(baseline) == 20 and max(baseline) < 50
    assert choose_components(np.random.default_rng(3), [2, 5, 7, 11, 13], 3) == components  # same seed, same draw
    assert choose_components(np.random.default_rng(0), [4, 9], 8) == [4, 9] and choose_components(None, [], 8) == []
    assert draw_baseline(np.random.default_rng(0), 5, 200) == [0, 1, 2, 3, 4]
    assert baseline_without([9, 2, 7, 4], np.array([7, 1, 9])) == [2, 4]  # the batching order is kept


def test_ratio_statistics():
    assert geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    assert geometric_mean([]) is None
    assert geometric_mean([0.0, 1.0]) == pytest.approx(1e-15)  # floored, not -inf
    norms = np.array([4.0, 4.0, 1.0, 1.0, 2.0])
    assert norm_ratio(norms, [0, 1], [2, 3, 4]) == pytest.approx(4.0 / (4.0 / 3))
