"""Rule eps_rank_decompose (Figure 2): NPEFF on the PEFs one (EPS, SVD rank) grid point would give,
derived from the single pass at the grid's largest EPS (npeff.pef.eps_subset, reduce_rank)."""
import torch
from _common import start

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff.decompose import NPEFF  # noqa: E402
from npeff.pef import eps_subset, reduce_rank  # noqa: E402
from npeff_workflow.settings import npeff_kwargs  # noqa: E402

w = snakemake.wildcards
arrays, attrs = io.read_pefs(snakemake.input[0])
G = reduce_rank(eps_subset(torch.from_numpy(arrays["G"]), int(w.eps)), int(w.svd_rank))  # [m, rank, d]
npeff = NPEFF(**npeff_kwargs(snakemake.params.settings, w.C, w.seed), device=device)
print(f"EPS {w.eps}, SVD rank {w.svd_rank}: decomposing G {tuple(G.shape)} into {w.C} components")
result = npeff.fit(G)
io.write_decomposition(snakemake.output[0], result, {**attrs, **npeff.settings(), "method": "npeff",
                                                     "n_eps_rows": int(w.eps), "svd_rank": int(w.svd_rank),
                                                     "source_file": snakemake.input[0], "device": device})
