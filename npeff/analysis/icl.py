"""ICL analysis (paper Section 3.3): k-shot contexts, and the coefficient-based label classifier.

The classifier is W [n_labels, C] with W[l, c] = 1 when at least `threshold` of
component c's top examples have ground-truth label l; an example with scores
s [C] is classified as argmax W s (ties, including an all-zero W s, go to the
lowest label index; `classify` counts those "no evidence" examples).
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch

from npeff.analysis.tunings import top_examples
from npeff.tasks import TaskSpec, label_tokens, prompt


# ---------------------------------------------------------------- classifier
def label_classifier(scores: np.ndarray, labels: np.ndarray, n_labels: int, *, top_k: int = 16,
                     threshold: float = 0.75, min_coefficient: float = 0.0) -> np.ndarray:
    """W [n_labels, C] from scores [m, C] and ground-truth labels [m] of the same examples."""
    W = np.zeros((n_labels, scores.shape[1]), np.float32)
    for c, top in enumerate(top_examples(scores, top_k, min_coefficient)):
        if top is None:
            continue
        counts = np.bincount(labels[top], minlength=n_labels)
        best = int(counts.argmax())
        if counts[best] >= threshold * len(top):
            W[best, c] = 1.0
    return W


def classify(W: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, int]:
    """(argmax W s per example [m], number of examples whose W s is all zero)."""
    logits = scores @ W.T  # [m, n_labels]
    return logits.argmax(1), int((logits.max(1) <= 0).sum())


def percent_equal(a: np.ndarray, b: np.ndarray) -> float:
    return 100.0 * float(np.mean(np.asarray(a) == np.asarray(b)))


# ---------------------------------------------------------------- k-shot ICL
def context_text(spec: TaskSpec, shots: Sequence[tuple[str, str]], label_names: Sequence[str]) -> str:
    """The demonstrations, each the task's prompt followed by its label and a blank line."""
    return "".join(f"{prompt(spec, text, label_names)} {label}\n\n" for text, label in shots)


@torch.no_grad()
def icl_log_probs(model, tokenizer, spec: TaskSpec, context: str, texts: Sequence[str],
                  label_names: Sequence[str], batch_size: int = 16) -> torch.Tensor:
    """log p(label | context + prompt(text)) over the labels' first tokens: [m, n_labels].

    The context is run once and its key/value cache reused for every query
    (queries are right-padded after it), so a query costs about a zero-shot forward.
    Context and query are tokenized separately: tokenizing them as one string
    can merge the context's closing blank line with the query's first word.
    """
    if spec.kind != "label_token":
        raise ValueError(f"ICL is implemented for label-token tasks, not {spec.kind!r} ({spec.name})")
    device = next(model.parameters()).device
    label_ids = torch.tensor([ids[0] for ids in label_tokens(tokenizer, label_names)], device=device)
    ctx = torch.tensor([tokenizer(context)["input_ids"]], device=device)  # [1, Tc]
    Tc = ctx.shape[1]
    cache = model(input_ids=ctx, use_cache=True).past_key_values
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = []
    for lo in range(0, len(texts), batch_size):
        queries = [tokenizer(prompt(spec, t, label_names), add_special_tokens=False)["input_ids"]
                   for t in texts[lo:lo + batch_size]]
        B, Tq = len(queries), max(map(len, queries))
        ids = torch.tensor([q + [pad] * (Tq - len(q)) for q in queries], device=device)
        qmask = torch.tensor([[1] * len(q) + [0] * (Tq - len(q)) for q in queries], device=device)
        batch_cache = copy.deepcopy(cache)
        batch_cache.batch_repeat_interleave(B)
        logits = model(input_ids=ids, attention_mask=torch.cat([torch.ones(B, Tc, dtype=qmask.dtype,
                                                                           device=device), qmask], 1),
                       position_ids=Tc + torch.arange(Tq, device=device)[None].expand(B, -1),
                       past_key_values=batch_cache, use_cache=True).logits  # [B, Tq, V]
        last = logits[torch.arange(B, device=device), qmask.sum(1) - 1]  # each query's last real token
        out.append(torch.log_softmax(last[:, label_ids].float(), dim=-1).cpu())
    return torch.cat(out)
