"""Rule operator_norm: ||A||_2 of a projection, once for every FPC recovery with it (every task that
shares the projection settings and the model)."""
import json
from pathlib import Path

from _common import start

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff._atomic import atomic_path  # noqa: E402
from npeff.fpc import spectral_norm  # noqa: E402
from npeff.projection import SparseProjection  # noqa: E402

_, attrs = io.read_pefs(snakemake.input[0])
projection = SparseProjection.from_attrs(attrs)
norm = spectral_norm(projection, device=device)
print(f"||A||_2 = {norm:.4f} for {projection}")
with atomic_path(Path(snakemake.output[0])) as tmp:
    tmp.write_text(json.dumps({"operator_norm": norm, **projection.attrs()}, indent=1))
