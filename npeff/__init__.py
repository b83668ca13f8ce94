"""npeff: Non-Negative Per-Example Fisher Factorization.

Public API (shapes: m examples, r categories, R rows, n parameters, d projected dims, C components):

    compute_pefs(model, batch, task, ...) -> PEFBatch   G [b, R, d], exact PEF norms, log p(y|x)
    SparseProjection(in_dim, out_dim, seed, density)   .project(x [..., n]) -> [..., d]; .transpose(y)
    NPEFF(n_components, ...).fit(G [m, R, d])          -> Decomposition(W [m, C], H [C, d], loss history)
    fit_coefficients(G [m, R, d], H [C, d])            -> W [m, C] with H frozen
    fpc_recover(projection, h [d] or [k, d])           -> FPCResult(u [.., n]) sparse parameter-space vectors
"""
__version__ = "0.1.0"

from npeff.decompose import NPEFF, Decomposition, fit_coefficients, reconstruction_losses  # noqa: E402
from npeff.fpc import FPCResult, fpc_recover  # noqa: E402
from npeff.models import ParameterSelection  # noqa: E402
from npeff.pef import PEFBatch, compute_pefs, final_token_activations, reduce_rank  # noqa: E402
from npeff.projection import SparseProjection  # noqa: E402
from npeff.tasks import FullVocabTask, LabelTokenTask, SuffixTask  # noqa: E402

__all__ = [
    "NPEFF", "Decomposition", "fit_coefficients", "reconstruction_losses", "FPCResult", "fpc_recover",
    "ParameterSelection", "PEFBatch", "compute_pefs", "final_token_activations", "reduce_rank",
    "SparseProjection", "FullVocabTask", "LabelTokenTask", "SuffixTask",
]
