"""The workflow's config checks without Snakemake (npeff_workflow.config): one place, every fault
named by its key."""
from pathlib import Path

import pytest
import yaml

from npeff_workflow.config import ablation_task, check_config, model_name_errors, read_grid

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "config" / "schema.yaml"
TINY = REPO / "tests" / "workflow" / "config_tiny.yaml"


def test_the_shipped_configs_pass():
    for path in (REPO / "config" / "config.yaml", REPO / "config" / "paper.yaml", TINY):
        check_config(yaml.safe_load(path.read_text()), SCHEMA)


def test_every_fault_is_reported_at_once_with_its_key():
    cfg = yaml.safe_load(TINY.read_text())
    cfg["tasks"]["sst2"]["n_examples"] = -5
    cfg["projection"]["dim"] = "big"
    with pytest.raises(ValueError) as error:
        check_config(cfg, SCHEMA)
    message = str(error.value)
    assert "config key 'tasks.sst2.n_examples'" in message and "config key 'projection.dim'" in message


def test_model_names_that_clash_are_named():
    cfg = {"name": "x", "model": {"name": "m"}, "tasks": {"sst2": {}},
           "extra_models": {"m": {"tasks": ["sst2"]}, "tables": {"tasks": ["sst2"]}, "r": {"tasks": ["yat"]}}}
    errors = list(model_name_errors(cfg))
    assert any("'extra_models.m'" in e and "main model's name" in e for e in errors)
    assert any("'tables' is also a folder of results/x/" in e for e in errors)
    assert any("'extra_models.r.tasks': ['yat'] not among" in e for e in errors)


def test_grids_are_read_checked_and_cut_to_the_config_tasks(tmp_path):
    grid = tmp_path / "grid.tsv"
    grid.write_text("task\tn_components\nsst2\t8\nyat\t4\nsst2\t16\n")
    df = read_grid("n_components", "grid.tsv", grid, ["sst2"], heldin_count=lambda task: 100)
    assert df.values.tolist() == [["sst2", "8"], ["sst2", "16"]]
    with pytest.raises(ValueError, match=r"'ablations.n_components.grid' \(grid.tsv\): 16 components for task sst2"):
        read_grid("n_components", "grid.tsv", grid, ["sst2"], heldin_count=lambda task: 10)
    grid.write_text("eps\tsvd_rank\n4\t8\n")
    with pytest.raises(ValueError, match="svd_rank must not exceed eps"):
        read_grid("eps_rank", "grid.tsv", grid, ["sst2"], heldin_count=lambda task: 10)
    assert ablation_task({"ablations": {"seeds": {"task": "yat"}}, "tasks": {"sst2": {}}}, "seeds") is None
    with pytest.raises(ValueError, match="'ablations.seeds.task': 'sst5' is none of"):
        ablation_task({"ablations": {"seeds": {"task": "sst5"}}, "tasks": {}}, "seeds")
