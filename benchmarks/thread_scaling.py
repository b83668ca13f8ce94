"""Does a 2-core machine finish the default sooner with one 2-thread job at a time, or two 1-thread jobs?

The rules take `threads_per_job` threads (2 unless a config says otherwise), so on 2 cores
Snakemake runs one job at a time. This times the two workloads that take 83% of the default's
job seconds, on one batch of typical length from each of two tasks' held-in examples:
  forward   the perturb rule's perturbed forwards (no grad);
  PEF       the signals rule's compute_pefs (forward, per-row backwards, projection);
each task's job timed two ways, as examples per second over about --seconds of passes:
  alone     one job with 2 threads (what the workflow does);
  at once   the two tasks' jobs together, each with 1 thread (what threads_per_job: 1 gives).
Each job at once does a fraction of its alone speed; the two fractions' sum is how much more
(above 1) or less work two 1-thread jobs do than one 2-thread job. Each process loads the model
before the clock starts; the concurrent two start together. The same task twice is the kindest
pairing (the same memory traffic twice); a run pairs whatever jobs are ready, e.g. SST2's
signals with TriviaQA's.

    python benchmarks/thread_scaling.py results/default [--tasks sst2 triviaqa] [--seconds 30]
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


def _worker(args, task_name: str, threads: int, workload: str, barrier, results) -> None:
    """Loads the model, waits for the others, then runs passes of `workload` for about
    args.seconds (at least one); puts examples per second."""
    import numba
    import torch

    from npeff.data import read_jsonl
    from bench_core import config_selection, typical_batch
    from npeff.models import load_model
    from npeff.pef import compute_pefs
    from npeff.projection import SparseProjection
    from npeff.tasks import build_batch, make_task
    from npeff_workflow.registry import task_spec

    torch.set_num_threads(threads)
    numba.set_num_threads(threads)  # the CPU projection's kernel, as scripts/_common.start sets it
    cfg = yaml.safe_load(Path(args.config).read_text())
    model, tokenizer = load_model(Path(args.resources) / "models" / cfg["model"]["name"], "cpu")
    tcfg = cfg["tasks"][task_name]
    info = json.loads((Path(args.results) / "data" / task_name / "info.json").read_text())
    spec = task_spec(task_name)
    texts = [ex["text"] for ex in read_jsonl(Path(args.results) / "data" / task_name / "heldin.jsonl")]
    size = tcfg.get("batch_size", cfg["batch_size"])
    chosen = [texts[i] for i in typical_batch(spec, tokenizer, texts, info["label_names"], size)]
    batch = build_batch(spec, tokenizer, chosen, info["label_names"])
    task = make_task(spec, tokenizer, info["label_names"])
    selection = config_selection(cfg)
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
    start, passes = time.perf_counter(), 0
    while passes == 0 or time.perf_counter() - start < args.seconds:
        run()
        passes += 1
    results.put((task_name, passes * len(chosen) / (time.perf_counter() - start)))


def rates(args, tasks: list[str], threads: int, workload: str) -> list[tuple[str, float]]:
    """(task, examples per second) of one process per task, `threads` threads each, run at once."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(len(tasks)), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(args, task, threads, workload, barrier, results)) for task in tasks]
    for p in procs:
        p.start()
    done = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return done


def main():
    from bench_core import cpu_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", help="results/<config> with data/<task>/heldin.jsonl and info.json")
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--resources", default="resources")
    ap.add_argument("--tasks", nargs=2, default=["sst2", "sst2"], help="the two jobs' tasks")
    ap.add_argument("--seconds", type=float, default=30.0, help="timed passes per process last about this long")
    args = ap.parse_args()
    a, b = args.tasks
    print(f"jobs: {a} and {b}, ~{args.seconds:.0f} s of passes over a batch each; CPU: {cpu_model()}, "
          f"{mp.cpu_count()} logical CPUs")
    for workload in ("forward", "PEF"):
        alone = {task: rates(args, [task], 2, workload)[0][1] for task in dict.fromkeys((a, b))}
        together = rates(args, [a, b], 1, workload)
        fractions = [rate / alone[task] for task, rate in together]
        print(f"{workload}: examples/s alone with 2 threads " + ", ".join(f"{t} {r:.2f}" for t, r in alone.items())
              + " | at once with 1 thread each " + ", ".join(f"{t} {r:.2f}" for t, r in together)
              + f" -> fractions {fractions[0]:.2f} + {fractions[1]:.2f} = {sum(fractions):.2f} (above 1: at once does more)")


if __name__ == "__main__":
    main()
