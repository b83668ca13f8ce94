"""Task formulations: the model's distribution p(y|x) over r categories (Appendix D).

Each formulation is a callable (model, batch) -> log_probs [b, r], normalised
over the r categories, one batch row per example. Batches are left-padded so
that position -1 is every row's last token. A suffix task's row packs the
prompt and every label after it (`build_batch`): each label attends to the
prompt and to itself only, so the prompt is run once instead of once per label.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch


def lm_logits(model, batch: Mapping[str, torch.Tensor], keep_last: int | None = None,
              keep_positions: torch.Tensor | None = None) -> torch.Tensor:
    """Logits [B, T, V] of a causal LM on a left-padded batch, or of its last `keep_last`
    positions only ([B, keep_last, V]), or of the positions `keep_positions` [K] ([B, K, V]).

    Positions count from each sequence's first real token, as in generation, unless the batch
    gives `position_ids`. A batch with `segment_ids` is a packed suffix batch (`build_batch`):
    it attends through `tree_attention_mask`.
    A batch with `inputs_embeds` [B, T, h] feeds those instead of the token embeddings
    (npeff.perturb.FrozenPrefix: the hidden states entering a later block).
    keep_last skips the unembedding (and its backward) at positions nobody reads,
    a large share of a small model's cost.
    """
    mask = batch["attention_mask"]
    positions = batch["position_ids"] if "position_ids" in batch else (mask.long().cumsum(-1) - 1).clamp_min(0)
    if "segment_ids" in batch:
        attention = getattr(getattr(model, "config", None), "_attn_implementation", "eager")
        if attention not in ("eager", "sdpa"):  # others may drop a 4D mask, and labels would see each other
            raise ValueError(f"packed suffix rows need eager or sdpa attention (a 4D additive mask); the model "
                             f"uses {attention!r}")
        mask = tree_attention_mask(mask, batch["segment_ids"], getattr(model, "dtype", torch.float32))
    extra = {}
    if keep_positions is not None:
        extra["logits_to_keep"] = keep_positions
    elif keep_last:
        extra["logits_to_keep"] = keep_last
    if "inputs_embeds" in batch:
        extra["inputs_embeds"] = batch["inputs_embeds"]
    else:
        extra["input_ids"] = batch["input_ids"]
    return model(attention_mask=mask, position_ids=positions, **extra).logits


def tree_attention_mask(attention_mask: torch.Tensor, segment_ids: torch.Tensor, dtype) -> torch.Tensor:
    """Additive attention mask [B, 1, T, T] of packed suffix rows: a position sees the earlier real
    positions of the prompt (segment 0) and of its own segment, nothing of the other suffixes.

    attention_mask [B, T]: 1 on real tokens; segment_ids [B, T]: 0 on the prompt (and padding),
    k on the k-th label's tokens. A padded position also sees itself, so no softmax row is empty.
    """
    T = segment_ids.shape[-1]
    earlier = torch.ones(T, T, dtype=torch.bool, device=segment_ids.device).tril()  # [Tq, Tk]
    key_segment = segment_ids[..., None, :]  # [B, 1, Tk]
    visible = (key_segment == 0) | (key_segment == segment_ids[..., :, None])  # [B, Tq, Tk]
    allowed = earlier & visible & attention_mask.bool()[..., None, :]
    allowed = allowed | torch.eye(T, dtype=torch.bool, device=segment_ids.device)
    blocked = torch.zeros(allowed.shape, dtype=dtype, device=segment_ids.device)
    return blocked.masked_fill(~allowed, torch.finfo(dtype).min)[..., None, :, :]


class LabelTokenTask:
    """Distribution over the first token of each label (SST2, YAT; Appendix D.1-D.2).

    Selecting the label tokens' logits and renormalising equals conditioning the
    next-token softmax on the label set.
    """

    def __init__(self, label_token_ids: Sequence[int]):
        if len(set(label_token_ids)) != len(label_token_ids):
            raise ValueError(f"label tokens must be distinct, got {list(label_token_ids)}")
        self.label_token_ids = torch.as_tensor(list(label_token_ids), dtype=torch.long)

    def __call__(self, model, batch) -> torch.Tensor:
        last = lm_logits(model, batch, keep_last=1)[:, -1, :]  # [b, V]
        return torch.log_softmax(last[:, self.label_token_ids.to(last.device)].float(), dim=-1)


class FullVocabTask:
    """The next-token distribution over the whole vocabulary (TriviaQA, Appendix D.4)."""

    def __call__(self, model, batch) -> torch.Tensor:
        return torch.log_softmax(lm_logits(model, batch, keep_last=1)[:, -1, :].float(), dim=-1)


class SuffixTask:
    """Log-probability of each label as a suffix of the prompt (CLINC150, Appendix D.3).

    The batch holds one packed row per example (`build_batch`): the prompt, then every label's
    tokens in order, each label attending to the prompt and itself only (`tree_attention_mask`).
    log p(label | prompt) sums its tokens' log-probabilities: the first is predicted at the
    prompt's last position, each later one at the label's previous token; a log_softmax over the
    labels normalises them. Equal, up to rounding, to one sequence per (example, label).
    """

    # the last position is the last label's last token, not the prompt's end
    last_position_is_prompt_end = False

    def __init__(self, label_token_ids: Sequence[Sequence[int]]):
        if not label_token_ids or any(len(ids) == 0 for ids in label_token_ids):
            raise ValueError(f"every label needs at least one token, got {[list(t) for t in label_token_ids]}")
        self.n_labels = len(label_token_ids)
        # over the window of the last S + 1 positions (index 0: the prompt's last token), per suffix token:
        targets, predictors, owners, at = [], [], [], 1
        for label, ids in enumerate(label_token_ids):
            for j, token in enumerate(ids):
                targets.append(int(token))
                predictors.append(0 if j == 0 else at + j - 1)  # the position whose logits predict it
                owners.append(label)
            at += len(ids)
        self.suffix_ids = torch.tensor(targets)  # [S]: the packed row's last S tokens
        # only these window positions' logits score a token (not a label's last token's): unembed those alone
        scoring = sorted(set(predictors))
        self.scoring = torch.tensor(scoring)  # [K]
        self.predictors = torch.tensor([scoring.index(p) for p in predictors])  # [S], indices into scoring
        self.owners = torch.tensor(owners)  # [S]

    def __call__(self, model, batch) -> torch.Tensor:
        if "segment_ids" not in batch:  # unpacked, the labels would attend to each other
            raise ValueError("SuffixTask needs packed rows: build the batch with build_batch or token_batch "
                             "and the labels' token ids")
        S, T = len(self.suffix_ids), batch["attention_mask"].shape[-1]
        device = batch["attention_mask"].device
        positions = self.scoring.to(device) + (T - S - 1)  # [K]: the window is the last S + 1 positions
        logits = lm_logits(model, batch, keep_positions=positions).float()  # [b, K, V]
        log_probs = torch.log_softmax(logits, dim=-1)
        token_lp = log_probs[:, self.predictors.to(device), self.suffix_ids.to(device)]  # [b, S]
        label_lp = token_lp.new_zeros(token_lp.shape[0], self.n_labels).index_add(1, self.owners.to(device),
                                                                                   token_lp)  # [b, r]
        return torch.log_softmax(label_lp, dim=-1)


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
        return SuffixTask(label_tokens(tokenizer, label_names))
    first = [ids[0] for ids in label_tokens(tokenizer, label_names)]
    clashes = {n for n, t in zip(label_names, first) if first.count(t) > 1}
    if clashes:
        raise ValueError(f"task {spec.name}: labels {sorted(clashes)} share their first token, "
                         "so a label-token distribution cannot tell them apart")
    return LabelTokenTask(first)


def build_batch(spec: TaskSpec, tokenizer, texts: Sequence[str], label_names: Sequence[str],
                max_prompt_tokens: int = 256) -> dict[str, torch.Tensor]:
    """Left-padded token batch for `texts`, one row per text (a suffix task's packs its labels: token_batch)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    prompts = [tokenizer(prompt(spec, text, label_names))["input_ids"][-max_prompt_tokens:] for text in texts]
    suffixes = label_tokens(tokenizer, label_names) if spec.kind == "suffix" else None
    return token_batch(prompts, pad, suffixes)


def token_batch(prompts: Sequence[Sequence[int]], pad: int,
                suffixes: Sequence[Sequence[int]] | None = None) -> dict[str, torch.Tensor]:
    """Left-padded batch of token id lists: input_ids, attention_mask [b, T].

    With `suffixes` (a suffix task's labels' token ids), each row packs its prompt and then every
    suffix in order, and the batch adds `segment_ids` (0 on the prompt, k on the k-th suffix) and
    `position_ids` (each suffix's positions continue from the prompt's end) for SuffixTask's tree
    attention: the prompt is run once for all labels."""
    suffixes = suffixes or []
    packed = [token for suffix in suffixes for token in suffix]
    segments = [k + 1 for k, suffix in enumerate(suffixes) for _ in suffix]
    offsets = [j for suffix in suffixes for j in range(len(suffix))]
    rows = [list(ids) + packed for ids in prompts]
    T = max(map(len, rows))

    def left_padded(row_values, fill):
        return torch.tensor([[fill] * (T - len(values)) + values for values in row_values])

    batch = {"input_ids": left_padded(rows, pad), "attention_mask": left_padded([[1] * len(r) for r in rows], 0)}
    if suffixes:
        batch["segment_ids"] = left_padded([[0] * len(ids) + segments for ids in prompts], 0)
        batch["position_ids"] = left_padded([list(range(len(ids))) + [len(ids) + j for j in offsets]
                                             for ids in prompts], 0)
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

