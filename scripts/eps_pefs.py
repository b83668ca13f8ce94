"""Rule eps_pefs (and its shards): the EPS ablation's one pass (Figures 2-3): PEFs alone, at the
grid's largest EPS, of the first params.n_examples held-in examples, with each PEF's exact Gram
eigenvalues (npeff_workflow.signals)."""
from _common import run_rule  # first: puts the repository on sys.path
from npeff_workflow.signals import collect_signals


def main(*, model_dir, examples, info, outputs, task, split, task_settings, parameters, projection, batch_size,
         model_name, n_examples, device, example_range=None):
    collect_signals(model_dir=model_dir, examples_path=examples, info_path=info, task=task, split=split,
                    task_settings=task_settings, parameters=parameters, projection=projection,
                    batch_size=batch_size, model_name=model_name, device=device, pefs_path=outputs.pefs,
                    n_examples=n_examples, example_range=example_range, eigenvalues=True)


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
