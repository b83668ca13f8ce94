"""The signals pass batches examples by length; what it stores must not depend on that."""
import json

import pytest
import torch

from npeff import io
from npeff.models import DEFAULT_EXCLUDE, ParameterSelection, load_model, prepare_model
from npeff.pef import compute_pefs
from npeff.projection import SparseProjection
from npeff.tasks import build_batch, length_order, make_task
from npeff_workflow.registry import task_spec
from npeff_workflow.signals import collect_signals

LABELS = ["Negative", "Positive"]
TEXTS = ["the film is great and bold and the music is lovely", "dull", "a sharp funny story",
         "the band", "awful tired weak flat news story of the year", "great", "the match was boring",
         "lovely moving film"]


class _WordCounter:
    """Stands in for a tokenizer: one token per word."""

    def __call__(self, text):
        return {"input_ids": text.split()}


def test_length_order_sorts_by_prompt_tokens_and_keeps_ties_in_file_order():
    spec = task_spec("sst2")
    texts = ["a b c", "a", "a b", "x", "a b c d"]
    order = length_order(spec, _WordCounter(), texts, LABELS)
    assert order == [1, 3, 2, 0, 4]
    assert length_order(spec, _WordCounter(), texts, LABELS, max_prompt_tokens=1) == [0, 1, 2, 3, 4]


def test_signals_in_length_order_store_every_example_as_computed_alone(tmp_path):
    """Batches of 3 cut from the length order mix the file's positions; each stored row (PEF,
    norm, log-probs, gradient, activation) must be that example's own, in the file's order."""
    model_dir = tmp_path / "model"
    prepare_model(model_dir, "tiny_random", seed=0, label_names=LABELS)
    examples = tmp_path / "heldin.jsonl"
    examples.write_text("".join(json.dumps({"id": f"e{i}", "text": t, "label": i % 2}) + "\n"
                                for i, t in enumerate(TEXTS)))
    info = tmp_path / "info.json"
    info.write_text(json.dumps({"dataset": "synthetic", "stands_in_for": "SST2", "label_names": LABELS}))
    out = {k: tmp_path / f"{k}.h5" for k in ("pefs", "grads", "acts")}
    projection = {"dim": 64, "density": 8, "seed": 0}
    collect_signals(model_dir=model_dir, examples_path=examples, info_path=info, task="sst2", task_settings={},
                    parameters={"include": ["*"], "exclude": list(DEFAULT_EXCLUDE)}, projection=projection,
                    batch_size=3, model_name="tiny", split="heldin", device="cpu", pefs_path=out["pefs"],
                    grads_path=out["grads"], acts_path=out["acts"])
    pefs, _ = io.read_pefs(out["pefs"])
    grads, _ = io.read_pefs(out["grads"])
    acts, _ = io.read_artifact(out["acts"], "activations")
    assert [i.decode() if isinstance(i, bytes) else i for i in pefs["ids"]] == [f"e{i}" for i in range(len(TEXTS))]

    model, tokenizer = load_model(model_dir)
    spec = task_spec("sst2")
    order = length_order(spec, tokenizer, TEXTS, LABELS)
    assert order != sorted(order)  # the test only means something if the batches were reordered
    selection = ParameterSelection()
    proj = SparseProjection(selection.n_parameters(model), projection["dim"], seed=0, density=projection["density"])
    task = make_task(spec, tokenizer, LABELS)
    for i, text in enumerate(TEXTS):
        alone = compute_pefs(model, build_batch(spec, tokenizer, [text], LABELS), task, projection=proj,
                             selection=selection, with_gradient=True, with_activations=True)
        close = dict(rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(torch.from_numpy(pefs["G"][i]), alone.G[0], **close)
        torch.testing.assert_close(torch.tensor(pefs["pef_norms"][i]), alone.frob_norms[0], **close)
        torch.testing.assert_close(torch.from_numpy(pefs["log_probs"][i]), alone.log_probs[0], **close)
        torch.testing.assert_close(torch.from_numpy(grads["G"][i]), alone.gradient[0], **close)
        torch.testing.assert_close(torch.from_numpy(acts["acts"][i]), alone.activations[0], **close)


def test_the_eps_grid_pass_taken_from_the_signals_pass_equals_its_own_pass(tmp_path):
    """eps_signals: the held-in signals pass also writes the EPS grid's pass (the first examples'
    rows before the task's SVD). The task's own PEFs must be what a plain pass writes, and the
    grid's file what the separate eps_pefs pass writes (up to the rounding of other batches)."""
    model_dir = tmp_path / "model"
    prepare_model(model_dir, "tiny_random", seed=0, label_names=[])
    examples = tmp_path / "heldin.jsonl"
    examples.write_text("".join(json.dumps({"id": f"e{i}", "text": t, "label": 0}) + "\n" for i, t in enumerate(TEXTS)))
    info = tmp_path / "info.json"
    info.write_text(json.dumps({"dataset": "synthetic", "stands_in_for": "TriviaQA", "label_names": []}))
    common = dict(model_dir=model_dir, examples_path=examples, info_path=info, task="triviaqa",
                  parameters={"include": ["*"], "exclude": list(DEFAULT_EXCLUDE)},
                  projection={"dim": 64, "density": 8, "seed": 0}, model_name="tiny", split="heldin", device="cpu")
    task_settings = {"eps_rows": 4, "svd_rank": 2}
    with_eps = {k: tmp_path / f"{k}.h5" for k in ("pefs", "grads", "acts", "eps")}
    collect_signals(**common, task_settings=task_settings, batch_size=3, pefs_path=with_eps["pefs"],
                    grads_path=with_eps["grads"], acts_path=with_eps["acts"], eps_path=with_eps["eps"], eps_examples=5)
    plain = {k: tmp_path / f"plain_{k}.h5" for k in ("pefs", "grads", "acts")}
    collect_signals(**common, task_settings=task_settings, batch_size=3, pefs_path=plain["pefs"],
                    grads_path=plain["grads"], acts_path=plain["acts"])
    ours, ours_attrs = io.read_pefs(with_eps["pefs"])
    reference, reference_attrs = io.read_pefs(plain["pefs"])
    for key in ("G", "pef_norms", "log_probs"):
        assert (ours[key] == reference[key]).all(), key  # the same batches: bitwise
    assert ours["G"].shape[1] == 2 and ours_attrs == reference_attrs and ours_attrs["svd_rank"] == 2
    assert (io.read_pefs(with_eps["grads"])[0]["G"] == io.read_pefs(plain["grads"])[0]["G"]).all()

    separate = tmp_path / "eps_separate.h5"  # what rule eps_pefs computes: its own batches of the first 5
    collect_signals(**common, task_settings={**task_settings, "svd_rank": None}, batch_size=2, pefs_path=separate,
                    n_examples=5, eigenvalues=True)
    grid, grid_attrs = io.read_pefs(with_eps["eps"])
    expected, expected_attrs = io.read_pefs(separate)
    assert list(grid["ids"]) == list(expected["ids"]) and len(grid["ids"]) == 5
    assert grid["G"].shape == (5, 4, 64)  # full rank: the EPS rows before the SVD
    for key in ("G", "pef_norms", "log_probs", "gram_eigenvalues"):  # float32 rounding, which depends on the batch
        scale = float(abs(expected[key]).max())
        torch.testing.assert_close(torch.from_numpy(grid[key]), torch.from_numpy(expected[key]), rtol=1e-4,
                                   atol=1e-5 * scale)
    assert grid_attrs == expected_attrs
    with pytest.raises(ValueError, match="eps_path needs EPS rows"):
        collect_signals(**{**common, "task": "sst2"}, task_settings={}, batch_size=3, pefs_path=tmp_path / "x.h5",
                        eps_path=tmp_path / "y.h5", eps_examples=5)
