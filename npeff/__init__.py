"""npeff: Non-Negative Per-Example Fisher Factorization.

Public API (shapes: m examples, r categories, R rows, n parameters, d projected dims, C components):

    compute_pefs(model, batch, task, ...) -> PEFBatch   G [b, R, d], exact PEF norms, log p(y|x)
    regression_pef_rows(model, inputs [m, i], ...)     -> G [m, o, n or d]: rows of J, F = J^T J
    SparseProjection(in_dim, out_dim, seed, density)   .project(x [..., n]) -> [..., d]; .transpose(y)
    NPEFF(n_components, ...).fit(G [m, R, d])          -> Decomposition(W [m, C], H [C, d], loss history)
    fit_coefficients(G [m, R, d], H [C, d])            -> W [m, C] with H frozen
    fpc_recover(projection, h [d] or [k, d])           -> FPCResult(u [.., n]) sparse parameter-space vectors

Names are imported on first use, so light modules (npeff.data) load without torch, e.g. in
the Snakefile's own process.
"""
import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "NPEFF": "npeff.decompose", "Decomposition": "npeff.decompose", "fit_coefficients": "npeff.decompose",
    "reconstruction_losses": "npeff.decompose", "FPCResult": "npeff.fpc", "fpc_recover": "npeff.fpc",
    "ParameterSelection": "npeff.models", "PEFBatch": "npeff.pef", "compute_pefs": "npeff.pef",
    "final_token_activations": "npeff.pef", "reduce_rank": "npeff.pef", "regression_pef_rows": "npeff.pef",
    "SparseProjection": "npeff.projection",
    "FullVocabTask": "npeff.tasks", "LabelTokenTask": "npeff.tasks", "SuffixTask": "npeff.tasks",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'npeff' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
