"""The signals pass batches examples by length; what it stores must not depend on that."""
import json

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
