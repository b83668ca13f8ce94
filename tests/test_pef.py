"""PEFs of a tiny Llama against brute force, for every row kind and both backends."""
import pytest
import torch

from npeff.models import ParameterSelection, unflatten
from npeff.pef import (_BlockBuffer, _linear_param_blocks, batched_gram, compute_pefs, eps_matrix, eps_subset,
                       final_token_activations, reduce_rank)
from npeff.projection import SparseProjection
from npeff.tasks import FullVocabTask, LabelTokenTask, SuffixTask, lm_logits, token_batch
from tiny_models import left_padded_batch, tiny_llama

VOCAB = 48


@pytest.fixture(scope="module")
def model():
    return tiny_llama(seed=0, vocab=VOCAB)


@pytest.fixture(scope="module")
def batch():
    return left_padded_batch([5, 7, 3, 6], VOCAB, seed=1)


def example_grads(model, batch, task, e, selection=None):
    """Plain autograd, one backward per category: g_y = grad log p_y of example e, and p [r]."""
    params = [p for _, p in (selection or ParameterSelection()).parameters(model)]
    single = {k: v[e:e + 1] for k, v in batch.items()}
    log_probs = task(model, single)[0]
    grads = [torch.cat([g.flatten() for g in torch.autograd.grad(lp, params, retain_graph=True)])
             for lp in log_probs]
    return torch.stack(grads), log_probs.exp().detach()


def brute_force_fisher(model, batch, task, e, selection=None):
    """sum_y p(y) grad log p(y) grad log p(y)^T: [n, n]."""
    g, p = example_grads(model, batch, task, e, selection)
    return (g.T * p) @ g


@pytest.mark.parametrize("backend", ["hooks", "functional"])
def test_lrm_pef_equals_brute_force_fisher_on_a_3_class_task(model, batch, backend):
    task = LabelTokenTask([3, 7, 11])
    out = compute_pefs(model, batch, task, backend=backend)
    assert out.G.shape == (4, 2, ParameterSelection().n_parameters(model))  # rank r - 1, stored exactly
    torch.testing.assert_close(out.log_probs.exp().sum(1), torch.ones(4))
    for e in range(4):
        F = brute_force_fisher(model, batch, task, e)
        torch.testing.assert_close(out.G[e].T @ out.G[e], F, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(out.frob_norms[e].double(), torch.linalg.matrix_norm(F.double()), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("labels", [[3, 7], [3, 7, 11, 20, 5]])
@pytest.mark.parametrize("backend", ["hooks", "functional"])
def test_r_category_pef_is_r_minus_1_exact_rows_and_carries_the_gradient(model, batch, backend, labels):
    """The r LRM rows have rank r - 1: r - 1 backward rows give F and grad log p_argmax exactly,
    equal to the plain path (one backward per category)."""
    task = LabelTokenTask(labels)
    n = ParameterSelection().n_parameters(model)
    out = compute_pefs(model, batch, task, backend=backend, with_gradient=True)
    assert out.G.shape == (4, len(labels) - 1, n) and out.gradient.shape == (4, 1, n)
    for e in range(4):
        g, p = example_grads(model, batch, task, e)
        F = (g.T * p) @ g
        torch.testing.assert_close(out.G[e].T @ out.G[e], F, rtol=1e-4, atol=1e-5)  # float32 rounding
        torch.testing.assert_close(out.frob_norms[e].double(), torch.linalg.matrix_norm(F.double()), rtol=1e-4,
                                   atol=1e-8)
        torch.testing.assert_close(out.gram[e], out.G[e] @ out.G[e].T, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(out.gradient[e, 0], g[p.argmax()], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(out.gradient_norms[e], g[p.argmax()].norm() ** 2, rtol=1e-4, atol=1e-8)
    projection = SparseProjection(n, 64, seed=3, density=4)
    projected = compute_pefs(model, batch, task, projection=projection, with_gradient=True)
    torch.testing.assert_close(projected.G, projection.project(out.G), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(projected.gradient, projection.project(out.gradient), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("rows", ["lrm", "eps", "predicted"])
def test_hooks_and_functional_backends_agree(model, batch, rows):
    kwargs = dict(rows=rows, n_eps_rows=5, eps_seed=3)
    a = compute_pefs(model, batch, FullVocabTask(), backend="hooks", **kwargs)
    b = compute_pefs(model, batch, FullVocabTask(), backend="functional", **kwargs)
    torch.testing.assert_close(a.G, b.G, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a.frob_norms, b.frob_norms, rtol=1e-4, atol=1e-6)


def test_predicted_rows_are_the_argmax_gradient(model, batch):
    task = LabelTokenTask([3, 7, 11, 20])
    out = compute_pefs(model, batch, task, rows="predicted")
    assert out.G.shape[1] == 1
    for e in range(4):
        g, p = example_grads(model, batch, task, e)
        torch.testing.assert_close(out.G[e, 0], g[p.argmax()], rtol=1e-4, atol=1e-6)


def test_eps_converges_to_the_full_fisher(model, batch):
    """Appendix B: E[G~^T G~] = F; the error shrinks like 1/sqrt(r')."""
    task = FullVocabTask()
    F = brute_force_fisher(model, batch, task, 0)
    errors = []
    for n_rows in (4, 64, 1024):
        G = compute_pefs(model, {k: v[:1] for k, v in batch.items()}, task, rows="eps",
                         n_eps_rows=n_rows, eps_seed=1).G[0]
        errors.append((torch.linalg.matrix_norm(G.T @ G - F) / torch.linalg.matrix_norm(F)).item())
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.15, errors


def test_eps_matrix_is_a_scaled_rademacher():
    A = eps_matrix(256, 10, seed=0)
    assert set(A.abs().unique().tolist()) == {1 / 16}
    torch.testing.assert_close(A.T @ A, torch.eye(10), atol=0.25, rtol=0)


def test_svd_reduced_pef_is_the_best_rank_k_approximation(model, batch):
    G = compute_pefs(model, batch, FullVocabTask(), rows="eps", n_eps_rows=8).G  # [4, 8, n]
    G2 = reduce_rank(G, 3)
    assert G2.shape == (4, 3, G.shape[2])
    for e in range(4):
        F = (G[e].T @ G[e]).double()
        vals, vecs = torch.linalg.eigh(F)
        best = (vecs[:, -3:] * vals[-3:]) @ vecs[:, -3:].T
        torch.testing.assert_close((G2[e].T @ G2[e]).double(), best, rtol=1e-4, atol=1e-5)
    same = compute_pefs(model, batch, FullVocabTask(), rows="eps", n_eps_rows=8, svd_rank=3).G
    torch.testing.assert_close(same, G2)
    with pytest.raises(ValueError, match="SVD rank"):
        reduce_rank(G, 9)


def test_an_eps_subset_of_a_larger_pass_equals_the_smaller_pass(model, batch):
    """Figure 2 derives every EPS of its grid from one pass at the largest (npeff.pef.eps_subset)."""
    big = compute_pefs(model, batch, FullVocabTask(), rows="eps", n_eps_rows=8, eps_seed=5)
    for n_rows in (1, 2, 4):
        small = compute_pefs(model, batch, FullVocabTask(), rows="eps", n_eps_rows=n_rows, eps_seed=5).G
        torch.testing.assert_close(eps_subset(big.G, n_rows), small, rtol=1e-4, atol=1e-6)
    # the exact Gram the pass reports is G G^T of its (unprojected) rows: Figure 3's eigenvalues
    torch.testing.assert_close(big.gram, big.G @ big.G.transpose(1, 2), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="EPS subset"):
        eps_subset(big.G, 9)


@pytest.mark.parametrize("K", [1000, 1003, 10])
def test_gram_cut_into_pieces_equals_the_plain_product(K):
    """The GPU's split product (K cut into pieces, zero-padded when it does not divide) is G G^T."""
    block = torch.randn(3, 4, K, generator=torch.Generator().manual_seed(K), dtype=torch.float64)
    plain = block @ block.transpose(1, 2)
    torch.testing.assert_close(batched_gram(block, pieces=7), plain)
    torch.testing.assert_close(batched_gram(block, pieces=1), plain)


@pytest.mark.parametrize("max_elems", [10**6, 2 * 5 * 3 * 7, 3 * 7 * 4, 7 * 2, 1])
def test_weight_gradient_pieces_cover_every_example_and_column_once(max_elems):
    """_linear_param_blocks cuts a weight's per-example gradient [b, R, out*in] into pieces of
    at most max_elems (or one output row of one example): ranges of output rows holding every
    example while one row of every example fits, example chunks after. Put back together, the
    pieces equal sum_t g a^T over both uses of the layer."""
    b, R, t, n_in, n_out = 5, 3, 6, 7, 4
    gen = torch.Generator().manual_seed(0)
    uses = [(torch.randn(b, t, n_in, generator=gen), torch.randn(R, b, t, n_out, generator=gen)) for _ in range(2)]
    expected = sum(torch.einsum("rbto,bti->broi", g, a) for a, g in uses).reshape(b, R, n_out * n_in)
    covered = torch.zeros(b, R, n_out * n_in, dtype=torch.int64)
    got = torch.zeros_like(expected)
    for rows, first, block in _linear_param_blocks(uses, "weight", max_elems, _BlockBuffer()):
        width = block.shape[2]
        assert block.numel() <= max(max_elems, R * n_in)
        assert first % n_in == 0 and width % n_in == 0  # whole output rows
        if max_elems >= b * R * n_in:
            assert (rows.start, rows.stop) == (0, b)  # every example in each piece
        got[rows, :, first:first + width] = block
        covered[rows, :, first:first + width] += 1
    assert bool((covered == 1).all())
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("rows", ["lrm", "eps"])
def test_gradient_blocks_in_small_chunks_equal_one_block(model, batch, rows):
    """Every weight's per-example gradient block is written into one reused buffer: cut into many
    chunks (one example each here), the unprojected rows must still equal the one-chunk result."""
    task, kwargs = LabelTokenTask([3, 7, 11]), ({"n_eps_rows": 4} if rows == "eps" else {})
    whole = compute_pefs(model, batch, task, rows=rows, **kwargs)
    chunked = compute_pefs(model, batch, task, rows=rows, max_block_elems=500, **kwargs)
    torch.testing.assert_close(chunked.G, whole.G)
    torch.testing.assert_close(chunked.frob_norms, whole.frob_norms)


class _LinearUsedTwice(torch.nn.Module):
    """x [b, t, 4] -> logits [b, 3], through the same Linear twice: its per-example gradient is
    the sum of both uses' (the hooks backend adds the second into the first's block)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.inner, self.head = torch.nn.Linear(4, 4), torch.nn.Linear(4, 3)

    def forward(self, batch):
        h = torch.tanh(self.inner(torch.tanh(self.inner(batch["x"]))))
        return self.head(h).mean(1)


def test_a_linear_used_twice_sums_both_uses_into_its_rows():
    model, batch = _LinearUsedTwice(), {"x": torch.randn(3, 5, 4)}

    def task(m, b):
        return torch.log_softmax(m(b), dim=-1)

    out = compute_pefs(model, batch, task, backend="hooks", max_block_elems=8)  # blocks of one example
    for e in range(3):
        F = brute_force_fisher(model, batch, task, e)
        torch.testing.assert_close(out.G[e].T @ out.G[e], F, rtol=1e-4, atol=1e-6)


def test_projection_is_applied_blockwise_as_gradients_are_produced(model, batch):
    task = LabelTokenTask([3, 7, 11])
    n = ParameterSelection().n_parameters(model)
    p = SparseProjection(n, 256, seed=2, density=8)
    full = compute_pefs(model, batch, task)
    projected = compute_pefs(model, batch, task, projection=p, max_block_elems=500)  # many small chunks
    torch.testing.assert_close(projected.G, p.project(full.G), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(projected.frob_norms, full.frob_norms)
    with pytest.raises(ValueError, match="in_dim"):
        compute_pefs(model, batch, task, projection=SparseProjection(n + 1, 16))


@pytest.mark.parametrize("rows,kwargs", [("lrm", {}), ("lrm", {"svd_rank": 1}),
                                          ("eps", {"n_eps_rows": 4, "svd_rank": 2}), ("predicted", {})])
def test_extra_projections_equal_separate_passes(model, batch, rows, kwargs):
    """One pass into several projections (Table 4's grid) gives each one's G exactly as its own pass."""
    task = LabelTokenTask([3, 7, 11])
    n = ParameterSelection().n_parameters(model)
    main, extras = SparseProjection(n, 128, seed=1, density=8), [SparseProjection(n, 32, seed=1, density=4),
                                                                  SparseProjection(n, 64, seed=3, density=8)]
    shared = compute_pefs(model, batch, task, rows=rows, projection=main, extra_projections=extras,
                          max_block_elems=500, **kwargs)
    torch.testing.assert_close(shared.G, compute_pefs(model, batch, task, rows=rows, projection=main, **kwargs).G)
    assert len(shared.extra_G) == len(extras)
    for proj, G in zip(extras, shared.extra_G):
        alone = compute_pefs(model, batch, task, rows=rows, projection=proj, **kwargs).G
        assert G.shape == alone.shape == (batch["input_ids"].shape[0], alone.shape[1], proj.out_dim)
        torch.testing.assert_close(G, alone, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="need a projection"):
        compute_pefs(model, batch, task, extra_projections=extras)
    with pytest.raises(ValueError, match="in_dim"):
        compute_pefs(model, batch, task, projection=main, extra_projections=[SparseProjection(n + 1, 16)])


SUFFIX_PROMPTS = [[5, 9, 2], [7, 1, 4, 4], [3]]
SUFFIX_LABELS = [[12], [30, 31], [8, 40, 41]]


def one_sequence_per_label(model, prompt, labels):
    """The plain suffix scores: one sequence per label, its tokens' log-probs summed, normalised
    over the labels. Returns log_probs [r] (with autograd)."""
    scores = []
    for label in labels:
        ids = torch.tensor([prompt + label])
        log_probs = torch.log_softmax(model(input_ids=ids).logits[0], dim=-1)  # [T, V]
        scores.append(sum(log_probs[len(prompt) - 1 + j, token] for j, token in enumerate(label)))
    return torch.log_softmax(torch.stack(scores), dim=-1)


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_packed_suffix_rows_equal_one_sequence_per_label(attention):
    """CLINC150-style: each packed row runs the prompt once for every label (tree attention).
    In float64 the logits that score a label equal those of its own sequence exactly where that
    sequence has the packed row's length (the model's attention softmax runs in float32, and its
    rounding depends on the row's length); the label log-probs (float32) equal the plain scores
    to float32 rounding."""
    model = tiny_llama(seed=0, vocab=VOCAB).double()
    model.config._attn_implementation = attention
    batch = token_batch(SUFFIX_PROMPTS, 0, SUFFIX_LABELS)
    T, S = batch["input_ids"].shape[1], sum(map(len, SUFFIX_LABELS))
    assert T == 4 + S
    with torch.no_grad():
        packed_logits = lm_logits(model, batch)  # [3, T, V]
        log_probs = SuffixTask(SUFFIX_LABELS)(model, batch)  # [3, r]
        for e, prompt in enumerate(SUFFIX_PROMPTS):
            at = T - S  # the packed row's first suffix position
            for label in SUFFIX_LABELS:
                row = prompt + label
                own = model(input_ids=torch.tensor([row + [0] * (T - len(row))])).logits[0]  # [T, V], right-padded
                predictors = [T - S - 1] + [at + j for j in range(len(label) - 1)]  # first token: the prompt's end
                torch.testing.assert_close(packed_logits[e, predictors], own[len(prompt) - 1:len(row) - 1],
                                           rtol=0, atol=1e-12)
                at += len(label)
            torch.testing.assert_close(log_probs[e].double(), one_sequence_per_label(model, prompt, SUFFIX_LABELS),
                                       rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="at least one token"):
        SuffixTask([[3], []])
    with pytest.raises(ValueError, match="packed rows"):
        SuffixTask(SUFFIX_LABELS)(model, token_batch(SUFFIX_PROMPTS, 0))
    model.config._attn_implementation = "flash_attention_2"
    with pytest.raises(ValueError, match="eager or sdpa"):
        SuffixTask(SUFFIX_LABELS)(model, batch)


@pytest.mark.parametrize("backend", ["hooks", "functional"])
def test_suffix_task_pef_equals_brute_force_over_one_sequence_per_label(model, backend):
    """The PEF of packed rows against sum_y p(y) g_y g_y^T with g_y from the plain one-sequence-per-label scores."""
    batch = token_batch(SUFFIX_PROMPTS, 0, SUFFIX_LABELS)
    out = compute_pefs(model, batch, SuffixTask(SUFFIX_LABELS), backend=backend)
    assert out.G.shape[:2] == (3, 2)  # 3 labels: rank 2, stored exactly
    params = [p for _, p in ParameterSelection().parameters(model)]
    for e, prompt in enumerate(SUFFIX_PROMPTS):
        log_probs = one_sequence_per_label(model, prompt, SUFFIX_LABELS)
        F = 0
        for lp in log_probs:
            g = torch.cat([x.flatten() for x in torch.autograd.grad(lp, params, retain_graph=True)])
            F = F + lp.exp().detach() * torch.outer(g, g)
        torch.testing.assert_close(out.G[e].T @ out.G[e], F, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="last position ends the prompt"):
        compute_pefs(model, batch, SuffixTask(SUFFIX_LABELS), with_activations=True)


def test_parameter_selection(model):
    names = [n for n, _ in ParameterSelection().parameters(model)]
    assert names and not any("embed" in n or "norm" in n for n in names)
    only_mlp = ParameterSelection(include=("*layers.1.mlp.*",))
    assert [n.split(".")[-2] for n, _ in only_mlp.parameters(model)] == ["gate_proj", "up_proj", "down_proj"]
    layout = only_mlp.layout(model)
    vector = torch.arange(only_mlp.n_parameters(model), dtype=torch.float32)
    pieces = unflatten(vector, layout)
    assert pieces["model.layers.1.mlp.up_proj.weight"].shape == model.model.layers[1].mlp.up_proj.weight.shape
    with pytest.raises(ValueError, match="matches no parameter"):
        ParameterSelection(include=("nothing*",)).parameters(model)


def test_a_later_layer_selection_matches_brute_force(model, batch):
    selection = ParameterSelection(include=("*layers.1.*",))
    task = LabelTokenTask([3, 7, 11])
    out = compute_pefs(model, batch, task, selection=selection)
    F = brute_force_fisher(model, batch, task, 2, selection)
    torch.testing.assert_close(out.G[2].T @ out.G[2], F, rtol=1e-4, atol=1e-5)
    assert all(p.requires_grad for p in model.parameters())  # restored afterwards


def test_final_token_activations(model, batch):
    acts = final_token_activations(model, batch)
    assert acts.shape == (4, 16)
    captured = {}
    handle = model.model.layers[-1].register_forward_hook(lambda m, i, o: captured.setdefault("o", o))
    with torch.no_grad():
        single = {k: v[1:2, -7:] for k, v in batch.items()}  # example 1 without its padding
        model(**single)
    handle.remove()
    out = captured["o"][0] if isinstance(captured["o"], tuple) else captured["o"]
    torch.testing.assert_close(acts[1], out[0, -1], rtol=1e-4, atol=1e-5)
    right_padded = {k: v.flip(1) for k, v in batch.items()}
    with pytest.raises(ValueError, match="left-padded"):
        final_token_activations(model, right_padded)


def test_gradient_and_activations_come_from_the_same_pass(model, batch):
    task = LabelTokenTask([3, 7, 11])
    n = ParameterSelection().n_parameters(model)
    p = SparseProjection(n, 128, seed=1, density=8)
    both = compute_pefs(model, batch, task, rows="eps", n_eps_rows=4, svd_rank=2, projection=p,
                        with_gradient=True, with_activations=True)
    pefs = compute_pefs(model, batch, task, rows="eps", n_eps_rows=4, svd_rank=2, projection=p)
    grads = compute_pefs(model, batch, task, rows="predicted", projection=p)
    torch.testing.assert_close(both.G, pefs.G, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(both.frob_norms, pefs.frob_norms)
    torch.testing.assert_close(both.gradient, grads.G, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(both.gradient_norms, grads.frob_norms, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(both.activations, final_token_activations(model, batch))


@pytest.mark.parametrize("backend", ["hooks", "functional"])
def test_two_label_pef_normalised_is_the_predicted_gradients_outer_product(model, batch, backend):
    """Why G-NPEFF's perturbations on SST2 are taken from NPEFF's (rule perturb_same_as_npeff):
    with two labels, G^T G / ||G^T G||_F = g g^T / ||g g^T||_F for g = grad log p_argmax."""
    task = LabelTokenTask([3, 7])
    pefs = compute_pefs(model, batch, task, backend=backend)
    grads = compute_pefs(model, batch, task, backend=backend, rows="predicted")
    for e in range(4):
        F, Fg = pefs.G[e].T @ pefs.G[e], grads.G[e].T @ grads.G[e]  # [n, n]
        torch.testing.assert_close(F / F.norm(), Fg / Fg.norm(), rtol=1e-4, atol=1e-6)
