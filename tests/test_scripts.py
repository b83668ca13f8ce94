"""The rule scripts without Snakemake: each is an importable main(...) with keyword-only inputs,
outputs and parameters, and the shim (scripts/_common.run_rule) feeds it the rule's by name."""
import csv
import importlib
import inspect
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from npeff import io

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))
from _common import rule_arguments  # noqa: E402

SCRIPT_NAMES = sorted(p.stem for p in SCRIPTS.glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_script_imports_without_snakemake_and_has_a_keyword_only_main(name):
    module = importlib.import_module(name)
    parameters = inspect.signature(module.main).parameters.values()
    assert parameters and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    source = (SCRIPTS / f"{name}.py").read_text()
    assert source.count("snakemake") == source.count("run_rule(main, snakemake)") == 1  # only the shim


def _rule(**kinds):
    """A stand-in for the `snakemake` object of a script job: named lists of each kind."""
    from snakemake.iocontainers import Namedlist

    return SimpleNamespace(threads=1, **{kind: Namedlist(fromdict=kinds.get(kind, {}))
                                         for kind in ("input", "output", "params", "wildcards")})


def test_rule_arguments_are_taken_by_name_and_ambiguity_is_an_error():
    def main(*, pefs, outputs, top_k, task, device, grid=()):
        return None

    rule = _rule(input={"pefs": "p.h5"}, output={"csv": "t.csv"}, params={"top_k": 16}, wildcards={"task": "sst2"})
    arguments = rule_arguments(main, rule, device="cpu")
    assert {k: v for k, v in arguments.items() if k != "outputs"} == {"pefs": "p.h5", "top_k": 16, "task": "sst2",
                                                                       "device": "cpu"}
    assert arguments["outputs"].csv == "t.csv"  # `outputs`: the whole output list; `grid` keeps its default
    with pytest.raises(TypeError, match="'task' is named by the rule's"):
        rule_arguments(main, _rule(input={"pefs": "p"}, params={"top_k": 1, "task": {}}, wildcards={"task": "x"}))
    with pytest.raises(TypeError, match="'top_k' is none of the rule's"):
        rule_arguments(main, _rule(input={"pefs": "p"}, wildcards={"task": "x"}))


def _write_perturbations(path, kl_ratios, norm_ratios, with_top=None, top_in_baseline=None):
    """A perturb CSV; without with_top / top_in_baseline, one written before those columns existed."""
    extra = [] if with_top is None else ["kl_ratio_with_top", "n_top_in_baseline"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["component", "kl_ratio", "norm_ratio", "n_baseline"] + extra)
        writer.writeheader()
        for c, (k, n) in enumerate(zip(kl_ratios, norm_ratios)):
            row = {"component": c, "kl_ratio": k, "norm_ratio": n, "n_baseline": 200}
            if with_top is not None:  # n_baseline counts the baseline less the component's top examples
                row.update(kl_ratio_with_top=with_top[c], n_top_in_baseline=top_in_baseline[c],
                           n_baseline=200 - top_in_baseline[c])
            writer.writerow(row)


def test_table2_main_reports_geometric_means_of_the_component_ratios(tmp_path):
    make_table2 = importlib.import_module("make_table2")
    _write_perturbations(tmp_path / "a.csv", [2.0, 8.0], [1.0, 1.0], with_top=[1.0, 4.0], top_in_baseline=[9, 7])
    _write_perturbations(tmp_path / "b.csv", [3.0, 3.0, 3.0], [0.5, 2.0, 1.0])
    outputs = SimpleNamespace(**{kind: str(tmp_path / f"table2.{kind}") for kind in ("csv", "md", "tex")})
    make_table2.main(perturbations=[str(tmp_path / "a.csv"), str(tmp_path / "b.csv")],
                     entries=[{"method": "npeff", "task": "sst2"}, {"method": "gnpeff", "task": "sst2"}],
                     outputs=outputs, top_k=16, magnitude=20.0, model_name="m", config_name="c")
    rows = list(csv.DictReader(open(outputs.csv)))
    assert [(r["method"], r["n_components"]) for r in rows] == [("npeff", "2"), ("gnpeff", "3")]
    assert float(rows[0]["kl_ratio"]) == pytest.approx(4.0) and float(rows[1]["norm_ratio"]) == pytest.approx(1.0)
    assert float(rows[0]["kl_ratio_with_top"]) == pytest.approx(2.0) and rows[1]["kl_ratio_with_top"] == ""
    assert [r["n_baseline"] for r in rows] == ["200", "200"]  # as drawn, before the top examples are left out
    assert float(rows[0]["mean_top_in_baseline"]) == pytest.approx(8.0)
    assert "| NPEFF | 4.00 | 1.00 |" in Path(outputs.md).read_text()


def test_tunings_main_marks_a_component_whose_top_examples_share_the_prediction(tmp_path):
    tunings = importlib.import_module("tunings")
    m, C = 40, 2
    preds = torch.tensor([0] * 20 + [1] * 20)
    log_probs = torch.log_softmax(torch.nn.functional.one_hot(preds, 2).float() * 5, dim=1)
    ids = [f"ex{i}" for i in range(m)]
    io.write_pefs(tmp_path / "heldout.h5", torch.ones(m, 1, 3), torch.ones(m), log_probs, preds, {}, ids)
    W = np.zeros((m, C), dtype=np.float32)
    W[:20, 0] = np.arange(20, 0, -1)  # component 0: the examples predicted 0
    W[::2, 1] = 1.0 + np.arange(20)  # component 1: both predictions
    io.write_coefficients(tmp_path / "coeffs.h5", torch.from_numpy(W), torch.zeros(m), {})
    tunings.main(coefficients=str(tmp_path / "coeffs.h5"), pefs=str(tmp_path / "heldout.h5"),
                 outputs=[str(tmp_path / "tunings.csv")], top_k=16, min_coefficient=0.0)
    rows = list(csv.DictReader(open(tmp_path / "tunings.csv")))
    assert [r["pred_tuned"] for r in rows] == ["True", "False"]


def test_table1_prints_the_chance_figures_and_majority_shares_of_each_task(tmp_path):
    tunings, make_table1 = importlib.import_module("tunings"), importlib.import_module("make_table1")
    m = 40
    preds = torch.tensor([0] * 20 + [1] * 20)
    log_probs = torch.log_softmax(torch.nn.functional.one_hot(preds, 2).float() * 5, dim=1)
    io.write_pefs(tmp_path / "heldout.h5", torch.ones(m, 1, 3), torch.ones(m), log_probs, preds, {"task": "sst2"},
                  [f"ex{i}" for i in range(m)])
    W = np.zeros((m, 1), dtype=np.float32)
    W[:20, 0] = np.arange(20, 0, -1)  # the top 16 are all predicted 0
    io.write_coefficients(tmp_path / "coeffs.h5", torch.from_numpy(W), torch.zeros(m), {})
    tunings.main(coefficients=str(tmp_path / "coeffs.h5"), pefs=str(tmp_path / "heldout.h5"),
                 outputs=[str(tmp_path / "tunings.csv")], top_k=16, min_coefficient=0.0)
    (tmp_path / "info.json").write_text('{"dataset": "d", "stands_in_for": null}')
    outputs = SimpleNamespace(**{k: str(tmp_path / f"table1.{k}") for k in ("csv", "md", "tex")})
    make_table1.main(tunings=[str(tmp_path / "tunings.csv")], infos=[str(tmp_path / "info.json")],
                     outputs=outputs, entries=[{"task": "sst2", "method": "npeff"}], model_name="m",
                     config_name="c", heldout=[str(tmp_path / "heldout.h5")], top_k=16)
    md = Path(outputs.md).read_text()
    assert "| NPEFF | 100.0 |" in md
    # 16 of 40 at random: pure with chance 2 C(20,16) / C(40,16); majority share about 0.6
    line = next(x for x in md.splitlines() if x.startswith("| SST2 | 40 |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert float(cells[2]) == pytest.approx(2 * 4845 / 62852101650, rel=0.05)  # printed to 2 digits
    assert 0.55 < float(cells[4]) < 0.7 and cells[5] == "1.00"


def test_appendix_j_names_next_token_predictions_by_their_decoded_token():
    make_appendix_j = importlib.import_module("make_appendix_j")

    class Tokenizer:  # decodes like a BPE vocabulary with a chat end-of-turn token
        def decode(self, ids):
            return {2: "<|im_end|>", 198: "\n", 378: " The"}[ids[0]]

    name = make_appendix_j.token_name
    assert name(Tokenizer(), 378) == "`' The'` (token 378)"  # quoted: the leading space shows
    assert name(Tokenizer(), 198) == "`'\\n'` (token 198)"
    assert name(Tokenizer(), 2) == "`'<\\|im_end\\|>'` (token 2)"  # pipes escaped for the Markdown table
    assert name(None, 5) == "token 5"


@pytest.mark.parametrize("case", ["same", "other_components", "three_labels"])
def test_perturb_same_as_npeff_copies_npeff_rows_only_when_the_experiment_is_the_same(tmp_path, monkeypatch, case):
    """G-NPEFF's perturbations on a two-label task are NPEFF's rows relabelled when the two
    decompositions agree; otherwise the perturb rule's main runs on G-NPEFF's own decomposition."""
    import json

    import perturb
    import perturb_same_as_npeff
    from npeff.decompose import Decomposition

    gen = torch.Generator().manual_seed(0)
    W, H = torch.rand(40, 4, generator=gen), torch.randn(4, 32, generator=gen)

    def write(name, method, H):
        dec = Decomposition(W=W, H=H, loss_history=[1.0], pef_norms=torch.ones(40), step_seconds=[0.1],
                            n_h_only_steps=0)
        return str(io.write_decomposition(tmp_path / name, dec, {"method": method}))

    npeff_path = write("npeff.h5", "npeff", H)
    gnpeff_path = write("gnpeff.h5", "gnpeff", -H if case != "other_components" else torch.randn(4, 32, generator=gen))
    rows = [{column: f"{column}{i}" for column in perturb.COLUMNS} | {"method": "npeff"} for i in range(3)]
    with open(tmp_path / "npeff.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=perturb.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    labels = ["negative", "positive"] + (["neutral"] if case == "three_labels" else [])
    (tmp_path / "info.json").write_text(json.dumps({"label_names": labels}))
    calls = []
    monkeypatch.setattr(perturb, "main", lambda **kwargs: calls.append(kwargs))
    out = tmp_path / "gnpeff.csv"
    perturb_same_as_npeff.main(npeff_decomposition=npeff_path, npeff_perturbations=str(tmp_path / "npeff.csv"),
                               model_dir="m", operator_norm="o", decomposition=gnpeff_path, pefs="p", examples="e",
                               info=str(tmp_path / "info.json"), outputs=[str(out)],
                               settings={"similarity_threshold": 0.5}, n_components=2, n_baseline=10, top_k=5,
                               min_coefficient=0.0, batch_size=4, task="sst2", device="cpu")
    if case == "same":
        assert not calls
        assert list(csv.DictReader(open(out))) == [{**r, "method": "gnpeff"} for r in rows]
    else:
        assert not out.exists() and len(calls) == 1 and calls[0]["decomposition"] == gnpeff_path
