"""The paper config's hub loading, offline: a stand-in Hugging Face cache (tests/hub_standin.py)
read through the real `datasets` and `transformers` code with HF_HUB_OFFLINE=1."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("datasets")
import hub_standin  # noqa: E402

from npeff import io  # noqa: E402
from npeff.data import DatasetError, load_dataset, split_examples  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
MODEL_ID = PAPER["model"]["id"]

# split sizes on the hub cards of the repos and splits npeff.data reads
HUB_CARD_EXAMPLES = {"sst2": 67_349, "yat": 1_400_000, "clinc150": 15_250 + 3_100 + 5_500, "triviaqa": 138_384}


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf")
    hub_standin.write_dataset_cache(home / "datasets")
    hub_standin.write_model_cache(home / "hub", MODEL_ID)
    return home


@pytest.fixture
def offline(hf_home, monkeypatch):
    for name, value in {"HF_HOME": str(hf_home), "HF_DATASETS_CACHE": str(hf_home / "datasets"),
                        "HF_HUB_CACHE": str(hf_home / "hub"), "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(name, value)
    import datasets.config
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", hf_home / "datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_paper_counts_fit_the_hub_splits_the_loader_reads():
    for task, n in HUB_CARD_EXAMPLES.items():
        assert PAPER["tasks"][task]["n_examples"] <= n, task


def test_clinc150_is_drawn_from_all_three_splits(offline):
    data = load_dataset("hub:clinc_oos")
    sizes = hub_standin.SPLIT_SIZES["clinc"]
    assert len(data.examples) == sum(sizes.values())  # more than the train split alone
    split_examples(data.examples, sizes["train"] + 4, 0.2, seed=0)  # the CLINC150 count that train alone fails
    assert data.label_names == [n.replace("_", " ") for n in hub_standin.CLINC_NAMES]


def test_each_hub_dataset_maps_fields_and_labels(offline):
    sst2 = load_dataset("hub:sst2")
    assert sst2.label_names == ["Negative", "Positive"]
    assert {ex["label_name"] for ex in sst2.examples} == {"Negative", "Positive"}
    yahoo = load_dataset("hub:yahoo_answers_topics")
    assert yahoo.label_names == hub_standin.YAHOO_NAMES
    assert all(ex["label_name"] == yahoo.label_names[ex["label"]] for ex in yahoo.examples)
    trivia = load_dataset("hub:trivia_qa")
    assert trivia.label_names == [] and {ex["label_name"] for ex in trivia.examples} == {"Paris", "Rome", "Oslo"}
    assert all(ex["label"] == -1 and ex["text"].startswith("Which city") for ex in trivia.examples)


def test_a_local_copy_of_a_dataset_repo(tmp_path, offline):
    hub_standin.write_local_copy(tmp_path / "sst2")
    data = load_dataset("hub:sst2", path=tmp_path / "sst2")
    assert len(data.examples) == hub_standin.SPLIT_SIZES["sst2"]["train"]
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset("hub:sst2", path=tmp_path / "missing")


def test_an_uncached_dataset_says_what_to_do(tmp_path, offline, monkeypatch):
    import datasets.config
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path)
    with pytest.raises(DatasetError, match="stanfordnlp/sst2.*HF_ENDPOINT"):
        load_dataset("hub:sst2")


def test_the_paper_config_prepares_and_runs_signals_offline(hf_home, tmp_path):
    """prepare_model, every prepare_task and one signals job of config/paper.yaml, sizes turned
    down, through the hub loaders and Snakemake, with no network."""
    cfg = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    cfg.pop("extra_models")
    cfg["projection"] = {"dim": 64, "density": 4, "seed": 0}
    cfg["batch_size"] = 4
    sizes = {"sst2": 20, "yat": 20, "clinc150": 20, "triviaqa": 20}  # CLINC150: above its 12 train examples
    for task, n in sizes.items():
        cfg["tasks"][task].update(n_examples=n, n_components=2)
        cfg["tasks"][task].pop("projection_dim", None)
    cfg["ablations"] = yaml.safe_load((REPO / "tests" / "workflow" / "config_tiny.yaml").read_text())["ablations"]
    (tmp_path / "paper_small.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("HF_DATASETS_CACHE", None), env.pop("HF_HUB_CACHE", None)
    results = Path("results") / "paper"
    targets = [str(results / "data" / t / "heldin.jsonl") for t in sizes]
    targets.append(str(results / "smollm2-360m" / "pefs" / "sst2" / "heldout.h5"))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
                             str(tmp_path / "paper_small.yaml"), "--cores", "2", *targets],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    for task, n in sizes.items():
        info = json.loads((tmp_path / results / "data" / task / "info.json").read_text())
        assert info["n_heldin"] + info["n_heldout"] == n and info["stands_in_for"] == ""
    pefs, attrs = io.read_pefs(tmp_path / results / "smollm2-360m" / "pefs" / "sst2" / "heldout.h5")
    assert pefs["G"].shape == (4, 1, 64) and attrs["model"] == "smollm2-360m"
