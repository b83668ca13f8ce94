"""Rules gather_signals, gather_projection_signals and gather_eps_pefs: a sharded split's signal
files, concatenated in example order into the files one unsharded job writes (pefs, grads, acts,
Table 4's grid points: every named output, each from the input of the same name)."""
from _common import start

start(snakemake)
from npeff import io  # noqa: E402
from npeff.runtime import is_timing_attribute  # noqa: E402

outputs = {key: snakemake.output[key] for key in snakemake.output.keys() if key != "grid"}
outputs.update(zip(snakemake.params.grid_inputs, snakemake.output.get("grid", [])))
for key, out_path in outputs.items():
    # Table 7's timings: measured by the first held-in shard only
    io.concatenate_artifacts(snakemake.input[key], out_path, per_part=is_timing_attribute)
    print(f"{out_path}: {len(snakemake.input[key])} shards")
