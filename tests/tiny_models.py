"""Tiny models built in-process for the tests (no download, no weights on disk)."""
from __future__ import annotations

import torch


def tiny_llama(seed: int = 0, vocab: int = 48):
    """A randomly initialised 2-layer Llama with a few thousand parameters."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         tie_word_embeddings=True, attn_implementation="eager")
    model = LlamaForCausalLM(config).eval()
    # random init is tiny (std 0.02); larger weights give non-degenerate distributions
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.normal_(0, 0.3)
    return model


def left_padded_batch(lengths, vocab: int, seed: int = 0):
    """Random token ids with left padding: {'input_ids', 'attention_mask'} [b, T]."""
    gen = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.randint(1, vocab, (len(lengths), T), generator=gen)
    mask = torch.zeros((len(lengths), T), dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, T - n:] = 1
        ids[i, :T - n] = 0
    return {"input_ids": ids, "attention_mask": mask}
