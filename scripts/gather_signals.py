"""Rules gather_signals, gather_projection_signals and gather_eps_pefs: a sharded split's signal
files, concatenated in example order into the files one unsharded job writes (pefs, grads, acts,
Table 4's grid points: every named output, each from the input of the same name)."""
from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.runtime import is_timing_attribute


def main(*, inputs, outputs, grid_inputs):
    """inputs: kind -> its shard files in order; outputs: kind -> the gathered file, plus `grid`:
    the Table 4 grid points' files, whose input kinds grid_inputs names in the same order."""
    gathered = {key: path for key, path in outputs.items() if key != "grid"}
    gathered.update(zip(grid_inputs, outputs.get("grid", [])))
    for key, out_path in gathered.items():
        # Table 7's timings: measured by the first held-in shard only
        io.concatenate_artifacts(inputs[key], out_path, per_part=is_timing_attribute)
        print(f"{out_path}: {len(inputs[key])} shards")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
