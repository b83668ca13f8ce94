"""Rule eps_rank_decompose (Figure 2): NPEFF on the PEFs one (EPS, SVD rank) grid point would give,
derived from the single pass at the grid's largest EPS (npeff.pef.eps_subset, reduce_rank)."""
import torch

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.decompose import NPEFF
from npeff.pef import eps_subset, reduce_rank
from npeff_workflow.settings import npeff_kwargs


def main(*, pefs, outputs, settings, eps, svd_rank, C, seed, device):
    """pefs: the one pass at the grid's largest EPS; settings: the config's `decomposition` section."""
    arrays, attrs = io.read_pefs(pefs)
    G = reduce_rank(eps_subset(torch.from_numpy(arrays["G"]), int(eps)), int(svd_rank))  # [m, rank, d]
    npeff = NPEFF(**npeff_kwargs(settings, C, seed), device=device)
    print(f"EPS {eps}, SVD rank {svd_rank}: decomposing G {tuple(G.shape)} into {C} components")
    result = npeff.fit(G)
    io.write_decomposition(outputs[0], result, {**attrs, **npeff.settings(), "method": "npeff",
                                                "n_eps_rows": int(eps), "svd_rank": int(svd_rank),
                                                "source_file": pefs, "device": device})


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
