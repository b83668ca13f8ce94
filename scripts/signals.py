"""Rules signals and projection_signals (and their shards): projected LRM-PEFs, predicted-class
gradients and final-token activations of one split (npeff_workflow.signals). projection_signals
is signals for Table 4's task that also projects the same gradients into the grid's other points
(params.extra_projections, output `grid`); eps_signals is signals for the EPS grid's task when
the grid's largest EPS is the task's own: it also writes the grid's pass (output `eps`, the first
params.eps_examples examples' rows before the SVD) from the same gradients. A shard job covers
params.example_range only, and the gather rules join the shards (scripts/gather_signals.py)."""
from _common import run_rule  # first: puts the repository on sys.path
from npeff_workflow.signals import collect_signals


def main(*, model_dir, examples, info, outputs, task, split, task_settings, parameters, projection, batch_size,
         model_name, time_objects, device, extra_projections=(), grid=(), example_range=None, eps=None,
         eps_examples=None):
    collect_signals(model_dir=model_dir, examples_path=examples, info_path=info, task=task, split=split,
                    task_settings=task_settings, parameters=parameters, projection=projection,
                    batch_size=batch_size, model_name=model_name, device=device, pefs_path=outputs.pefs,
                    grads_path=outputs.grads, acts_path=outputs.acts, extra_projections=extra_projections,
                    grid_paths=list(grid), example_range=example_range, time_objects=time_objects, eps_path=eps,
                    eps_examples=eps_examples)


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
