"""Does a 2-core machine finish the default sooner with one 2-thread job at a time, or two 1-thread jobs?

The rules ask for 2 threads, so on 2 cores Snakemake runs one job at a time. This times the two
workloads that take 83% of the default's job seconds, on one batch of a task's held-in examples:
  forward   the perturb rule's perturbed forwards (no grad);
  PEF       the signals rule's compute_pefs (forward, per-row backwards, projection);
as throughput (examples per second) of
  1 job x 2 threads     what the workflow does now,
  1 job x 1 thread      one core,
  2 jobs x 1 thread     two processes at once, each with one thread (what `threads: 1` would give),
and prints the ratio of the last to the first: above 1, two 1-thread jobs finish the work sooner.
Each process loads the model before the clock starts; the two concurrent ones start together.

    python benchmarks/thread_scaling.py results/default [--task sst2] [--repeat 3]
"""
import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _worker(args, threads: int, workload: str, barrier, results) -> None:
    """Loads the model, waits for the others, then times `repeat` passes of `workload`."""
    import numba
    import torch

    from npeff.data import read_jsonl
    from npeff.models import ParameterSelection, load_model
    from npeff.pef import compute_pefs
    from npeff.projection import SparseProjection
    from npeff.tasks import build_batch, length_order, make_task
    from npeff_workflow.registry import task_spec

    torch.set_num_threads(threads)
    numba.set_num_threads(threads)  # the CPU projection's kernel, as scripts/_common.start sets it
    cfg = yaml.safe_load(Path(args.config).read_text())
    model, tokenizer = load_model(Path(args.resources) / "models" / cfg["model"]["name"], "cpu")
    tcfg = cfg["tasks"][args.task]
    info = json.loads((Path(args.results) / "data" / args.task / "info.json").read_text())
    spec = task_spec(args.task)
    texts = [ex["text"] for ex in read_jsonl(Path(args.results) / "data" / args.task / "heldin.jsonl")]
    order = length_order(spec, tokenizer, texts, info["label_names"])
    size = tcfg.get("batch_size", cfg["batch_size"])
    middle = max(0, len(order) // 2 - size // 2)  # a batch of typical length
    chosen = [texts[i] for i in order[middle:middle + size]]
    batch = build_batch(spec, tokenizer, chosen, info["label_names"])
    task = make_task(spec, tokenizer, info["label_names"])
    params = cfg.get("parameters", {})
    selection = ParameterSelection(tuple(params.get("include", ["*"])), *(
        [tuple(params["exclude"])] if "exclude" in params else []))
    proj = cfg["projection"]
    projection = SparseProjection(selection.n_parameters(model), proj["dim"], seed=proj["seed"],
                                  density=proj["density"])

    def forward():
        with torch.no_grad():
            task(model, batch)

    def pef():
        compute_pefs(model, batch, task, rows="eps" if tcfg.get("eps_rows") else "lrm",
                     n_eps_rows=tcfg.get("eps_rows"), eps_seed=proj["seed"], svd_rank=tcfg.get("svd_rank"),
                     projection=projection, selection=selection)

    run = {"forward": forward, "PEF": pef}[workload]
    run()  # warm-up (and the projection's compilation) outside the clock
    barrier.wait()
    start = time.perf_counter()
    for _ in range(args.repeat):
        run()
    results.put((len(chosen) * args.repeat, time.perf_counter() - start))


def throughput(args, n_jobs: int, threads: int, workload: str) -> float:
    """Examples per second of n_jobs processes with `threads` threads each, run at once."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(n_jobs), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(args, threads, workload, barrier, results)) for _ in range(n_jobs)]
    for p in procs:
        p.start()
    done = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(n for n, _ in done) / max(seconds for _, seconds in done)


def main():
    from bench_core import cpu_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", help="results/<config> with data/<task>/heldin.jsonl and info.json")
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--resources", default="resources")
    ap.add_argument("--task", default="sst2")
    ap.add_argument("--repeat", type=int, default=3, help="passes over the batch per process")
    args = ap.parse_args()
    print(f"{args.task}, CPU: {cpu_model()}, {mp.cpu_count()} logical CPUs")
    for workload in ("forward", "PEF"):
        one_two = throughput(args, 1, 2, workload)
        one_one = throughput(args, 1, 1, workload)
        two_one = throughput(args, 2, 1, workload)
        print(f"{workload}: examples/s  1 job x 2 threads {one_two:.2f} | 1 job x 1 thread {one_one:.2f} | "
              f"2 jobs x 1 thread {two_one:.2f}  -> 2 x 1 thread / 1 x 2 threads = {two_one / one_two:.2f}")


if __name__ == "__main__":
    main()
