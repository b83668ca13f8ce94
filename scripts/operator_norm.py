"""Rule operator_norm: ||A||_2 of a projection, once for every FPC recovery with it (every task that
shares the projection settings and the model)."""
import json
from pathlib import Path

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff._atomic import atomic_path
from npeff.fpc import spectral_norm
from npeff.projection import SparseProjection


def main(*, pefs, outputs, device):
    """pefs: any PEF file made with the projection (its attributes define it)."""
    _, attrs = io.read_pefs(pefs)
    projection = SparseProjection.from_attrs(attrs)
    norm = spectral_norm(projection, device=device)
    print(f"||A||_2 = {norm:.4f} for {projection}")
    with atomic_path(Path(outputs[0])) as tmp:
        tmp.write_text(json.dumps({"operator_norm": norm, **projection.attrs()}, indent=1))


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
