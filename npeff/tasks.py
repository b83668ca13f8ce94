"""Task formulations: the model's distribution p(y|x) over r categories (Appendix D).

Each formulation is a callable (model, batch) -> log_probs [b, r], normalised
over the r categories, plus `sequences_per_example`: how many rows of the
token batch belong to one example (1, or r for suffix tasks). Batches are
left-padded so that position -1 is every prompt's last token.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch


def lm_logits(model, batch: Mapping[str, torch.Tensor], keep_last: int | None = None) -> torch.Tensor:
    """Logits [B, T, V] of a causal LM on a left-padded batch, or of its last `keep_last`
    positions only ([B, keep_last, V]).

    Positions count from each sequence's first real token, as in generation.
    A batch with `inputs_embeds` [B, T, h] feeds those instead of the token embeddings
    (npeff.perturb.FrozenPrefix: the hidden states entering a later block).
    keep_last skips the unembedding (and its backward) at positions nobody reads,
    a large share of a small model's cost.
    """
    mask = batch["attention_mask"]
    positions = (mask.long().cumsum(-1) - 1).clamp_min(0)
    extra = {"logits_to_keep": keep_last} if keep_last else {}
    if "inputs_embeds" in batch:
        extra["inputs_embeds"] = batch["inputs_embeds"]
    else:
        extra["input_ids"] = batch["input_ids"]
    return model(attention_mask=mask, position_ids=positions, **extra).logits


class LabelTokenTask:
    """Distribution over the first token of each label (SST2, YAT; Appendix D.1-D.2).

    Selecting the label tokens' logits and renormalising equals conditioning the
    next-token softmax on the label set.
    """

    sequences_per_example = 1

    def __init__(self, label_token_ids: Sequence[int]):
        if len(set(label_token_ids)) != len(label_token_ids):
            raise ValueError(f"label tokens must be distinct, got {list(label_token_ids)}")
        self.label_token_ids = torch.as_tensor(list(label_token_ids), dtype=torch.long)

    def __call__(self, model, batch) -> torch.Tensor:
        last = lm_logits(model, batch, keep_last=1)[:, -1, :]  # [b, V]
        return torch.log_softmax(last[:, self.label_token_ids.to(last.device)].float(), dim=-1)


class FullVocabTask:
    """The next-token distribution over the whole vocabulary (TriviaQA, Appendix D.4)."""

    sequences_per_example = 1

    def __call__(self, model, batch) -> torch.Tensor:
        return torch.log_softmax(lm_logits(model, batch, keep_last=1)[:, -1, :].float(), dim=-1)


class SuffixTask:
    """Log-probability of each label as a suffix of the prompt (CLINC150, Appendix D.3).

    The batch holds, example-major, one row per (example, label): prompt tokens
    followed by the label's tokens, and `suffix_mask` [B, T] marking the label
    tokens. log p(label | prompt) sums the suffix tokens' log-probabilities;
    a log_softmax over the labels normalises them.
    """

    def __init__(self, n_labels: int):
        self.sequences_per_example = n_labels

    def __call__(self, model, batch) -> torch.Tensor:
        # suffixes end every row (left padding): only the last L + 1 positions matter
        L = int(batch["suffix_mask"].sum(1).max())
        logits = lm_logits(model, batch, keep_last=L + 1).float()  # [B, L+1, V]
        log_probs = torch.log_softmax(logits[:, :-1], dim=-1)  # predicts the last L tokens
        targets = batch["input_ids"][:, -L:]
        token_lp = log_probs.gather(-1, targets[..., None])[..., 0]  # [B, L]
        suffix_lp = (token_lp * batch["suffix_mask"][:, -L:]).sum(-1)  # [B]
        return torch.log_softmax(suffix_lp.reshape(-1, self.sequences_per_example), dim=-1)


@dataclass(frozen=True)
class TaskSpec:
    """A task: its prompt template and how p(y|x) is formed (the workflow's registry holds the
    paper's four, Appendix D)."""

    name: str
    template: str  # {text}, and {label_list} for a template that lists the labels
    kind: str  # "label_token", "suffix" or "full_vocab"


def prompt(spec: TaskSpec, text: str, label_names: Sequence[str]) -> str:
    return spec.template.format(text=text, label_list="\n".join(label_names))


def label_tokens(tokenizer, label_names: Sequence[str]) -> list[list[int]]:
    """Token ids of each label with its leading space (the SmolLM2 tokenizer puts spaces first)."""
    return [tokenizer(" " + name, add_special_tokens=False)["input_ids"] for name in label_names]


def make_task(spec: TaskSpec, tokenizer, label_names: Sequence[str]):
    """The formulation of Appendix D for this task and label set."""
    if spec.kind == "full_vocab":
        return FullVocabTask()
    if not label_names:
        raise ValueError(f"task {spec.name} needs label names")
    if spec.kind == "suffix":
        return SuffixTask(len(label_names))
    first = [ids[0] for ids in label_tokens(tokenizer, label_names)]
    clashes = {n for n, t in zip(label_names, first) if first.count(t) > 1}
    if clashes:
        raise ValueError(f"task {spec.name}: labels {sorted(clashes)} share their first token, "
                         "so a label-token distribution cannot tell them apart")
    return LabelTokenTask(first)


def build_batch(spec: TaskSpec, tokenizer, texts: Sequence[str], label_names: Sequence[str],
                max_prompt_tokens: int = 256) -> dict[str, torch.Tensor]:
    """Left-padded token batch for `texts`; for suffix tasks one row per (text, label)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows, masks = [], []
    suffixes = label_tokens(tokenizer, label_names) if spec.kind == "suffix" else [[]]
    for text in texts:
        ids = tokenizer(prompt(spec, text, label_names))["input_ids"][-max_prompt_tokens:]
        for suffix in suffixes:
            rows.append(ids + suffix)
            masks.append([0] * len(ids) + [1] * len(suffix))
    T = max(map(len, rows))
    batch = {
        "input_ids": torch.tensor([[pad] * (T - len(r)) + r for r in rows]),
        "attention_mask": torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows]),
    }
    if spec.kind == "suffix":
        batch["suffix_mask"] = torch.tensor([[0] * (T - len(m)) + m for m in masks])
    return batch


def length_order(spec: TaskSpec, tokenizer, texts: Sequence[str], label_names: Sequence[str],
                 max_prompt_tokens: int = 256) -> list[int]:
    """Indices of `texts` from the shortest prompt to the longest (stable, as build_batch counts tokens).

    Batches cut from this order hold examples of similar length, so left padding wastes little:
    batches of 16 in file order are ~40% padding tokens on the SST2 stand-in, ~3% sorted, and a
    padded position costs as much forward and backward work as a real one."""
    lengths = [min(len(tokenizer(prompt(spec, text, label_names))["input_ids"]), max_prompt_tokens)
               for text in texts]
    return sorted(range(len(texts)), key=lengths.__getitem__)

