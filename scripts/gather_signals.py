"""Rules gather_signals, gather_projection_signals and gather_eps_pefs: a sharded split's signal
files, concatenated in example order into the files one unsharded job writes (pefs, grads, acts,
Table 4's grid points: every named output, each from the input of the same name)."""
from _common import start

start(snakemake)
from npeff import io  # noqa: E402

TIMINGS = ("seconds_per_example_pef", "seconds_per_example_gradient", "seconds_per_example_activation",
           "timing_device")  # measured by the first held-in shard only (Table 7)
outputs = {key: snakemake.output[key] for key in snakemake.output.keys() if key != "grid"}
outputs.update(zip(snakemake.params.grid_inputs, snakemake.output.get("grid", [])))
for key, out_path in outputs.items():
    io.concatenate_artifacts(snakemake.input[key], out_path, per_part_attrs=TIMINGS)
    print(f"{out_path}: {len(snakemake.input[key])} shards")
