"""What the model predicts on a task, under the paper's prompt: a check of the task formulation.

For a task's held-out examples of a finished or partial run (results/<config>/data/<task>/heldout.jsonl
and the prepared model), prints the counts of the model's predictions (the argmax of the task's
p(y|x): a label, or the next token for TriviaQA), the chance that 16 random examples share one
prediction, and the greedy continuations of the first few prompts, so one can see whether the
model answers the question or does something else (ends its turn, starts a sentence).

    python benchmarks/task_predictions.py results/default triviaqa [--continuations 6] [--chat-template]

--chat-template scores the model's own chat template around the question instead of the
paper's prompt (an instruct model's native format), to see whether the prompt is the cause.
"""
import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from npeff.analysis.tunings import purity_chance, random_majority_share  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff.models import load_model  # noqa: E402
from npeff.tasks import TaskSpec, build_batch, make_task, prompt  # noqa: E402
from npeff_workflow.registry import task_spec  # noqa: E402


def predictions(model, tokenizer, spec, texts, label_names, batch_size=16) -> np.ndarray:
    """The argmax of the task's p(y|x) for each text [m]."""
    task = make_task(spec, tokenizer, label_names)
    preds = []
    for i in range(0, len(texts), batch_size):
        with torch.no_grad():
            log_probs = task(model, build_batch(spec, tokenizer, texts[i:i + batch_size], label_names))  # [b, r]
        preds += log_probs.argmax(-1).tolist()
    return np.array(preds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a run's results folder, e.g. results/default")
    parser.add_argument("task")
    parser.add_argument("--model", type=Path, default=Path("resources/models/smollm2-135m-instruct"))
    parser.add_argument("--continuations", type=int, default=6)
    parser.add_argument("--chat-template", action="store_true")
    args = parser.parse_args()

    data = args.results / "data" / args.task
    texts = [ex["text"] for ex in read_jsonl(data / "heldout.jsonl")]
    label_names = json.loads((data / "info.json").read_text())["label_names"]
    model, tokenizer = load_model(args.model)
    spec = task_spec(args.task)
    if args.chat_template:  # the question inside the model's chat format, then the prompt's text
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": prompt(spec, t, label_names)}],
                                               tokenize=False, add_generation_prompt=True) for t in texts]
        spec = TaskSpec(spec.name, "{text}", spec.kind)

    preds = predictions(model, tokenizer, spec, texts, label_names)
    name = (lambda p: label_names[p]) if label_names else (lambda p: repr(tokenizer.decode([p])))
    print(f"{args.task}: {len(texts)} held-out examples, prompt {spec.template!r}")
    for pred, count in collections.Counter(preds.tolist()).most_common(8):
        print(f"  {count:5d}  {name(pred)}")
    print(f"P(16 random examples share one prediction) = {purity_chance(preds, 16):.2g}; "
          f"their expected majority share = {random_majority_share(preds, 16):.2f}")
    ids = tokenizer(prompt(spec, texts[0], label_names))["input_ids"]
    print("first prompt's tokens:", [tokenizer.decode([i]) for i in ids])
    for text in texts[:args.continuations]:
        prompt_ids = tokenizer(prompt(spec, text, label_names), return_tensors="pt")["input_ids"]
        out = model.generate(prompt_ids, max_new_tokens=12, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        print(f"  {text[:60]!r} -> {tokenizer.decode(out[0, prompt_ids.shape[1]:])!r}")


if __name__ == "__main__":
    main()
