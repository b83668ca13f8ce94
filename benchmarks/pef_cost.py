"""Per-example cost model of a whole-model PEF, each stage beside its floor, in one run.

For the default's model and each task (one batch of its held-in examples from a finished or
partial run: results/<config>/data/<task>/heldin.jsonl), times:
  forward            one forward pass (no grad), as GFLOP/s of its linear layers over the batch's
                     (padded) tokens beside a plain matmul of the model's MLP shape: the
                     perturbations' floor (they are forwards only);
  fwd+bwd per row    one forward + one full backward per gradient row the PEF is made of (EPS
                     or exact LRM rows, before the SVD keeps svd_rank): the floor of any exact PEF;
  PEF                compute_pefs as the signals rule runs it, split by stage (forward,
                     backward, per-example weight gradients, Gram, projection);
  memory read        summing a [rows, n] float32 tensor (the projection's floor: it must read
                     every gradient entry once);
  A u, A^T y         one row through the whole projection and back (FPC's and the operator
                     norm's passes), against reading (writing) one n-vector.
It prints seconds per example and the ratios the goals are stated in (PEF / fwd+bwd per row,
projection / memory read), so it reads the same on any machine.

    python benchmarks/pef_cost.py results/default [--tasks sst2 yat] [--batch 8] [--device cuda]
        [--architecture benchmarks/architectures/smollm2-360m.json] [--max-block-elems 67108864]

--architecture times a randomly initialised model of that config.json's architecture instead of
the prepared model (no step's cost depends on the weights' values), with the prepared model's
tokenizer: for the paper's SmolLM2-360M (Table 7), or a machine that has only the tokenizer.

The batch is the task's batch size in the config (as the signals rule runs it) unless --batch is given,
cut from the middle of the examples' length order as the signals pass cuts its batches: the
projection hashes its matrix once per call and reuses it for every row of the batch.
"""
import argparse
import json
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import config_selection, cpu_model, timed, typical_batch  # noqa: E402
from npeff.cpu_linear import onednn_linear, onednn_available  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff.models import load_model, random_model  # noqa: E402
from npeff.pef import compute_pefs  # noqa: E402
from npeff.projection import SparseProjection  # noqa: E402
from npeff.runtime import device_name  # noqa: E402
from npeff.tasks import build_batch, make_task  # noqa: E402
from npeff_workflow.registry import task_spec  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="results/<config> with data/<task>/heldin.jsonl")
    ap.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    ap.add_argument("--resources", type=Path, default=Path("resources"))
    ap.add_argument("--tasks", nargs="*", help="default: every task of the config")
    ap.add_argument("--batch", type=int, help="examples per call (default: the task's batch size)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--architecture", type=Path, help="a config.json: time random weights of this architecture")
    ap.add_argument("--max-block-elems", type=int, help="elements per per-example gradient block "
                    "(default: npeff.pef.BLOCK_ELEMS for the device)")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: skipping the GPU benchmark")
        return
    cfg = yaml.safe_load(args.config.read_text())
    model_name = cfg["model"]["name"]
    if args.architecture:
        model, tokenizer = random_model(args.architecture, args.resources / "models" / model_name, device=args.device)
        model_name = f"{args.architecture.stem} (random weights)"
    else:
        model, tokenizer = load_model(args.resources / "models" / model_name, args.device)
    selection = config_selection(cfg)
    n = selection.n_parameters(model)
    proj_cfg = cfg["projection"]
    projection = SparseProjection(n, proj_cfg["dim"], seed=proj_cfg["seed"], density=proj_cfg["density"])
    print(f"{model_name}, {n:,} parameters, projection to {proj_cfg['dim']} at density {proj_cfg['density']}; "
          f"device {device_name(args.device)}{'' if args.device == 'cuda' else ', ' + cpu_model()}")
    single_row_passes(projection, args.device)
    matmul = matmul_gflops(model, args.device)
    for task_name in args.tasks or list(cfg["tasks"]):
        tcfg = cfg["tasks"][task_name]
        info = json.loads((args.results / "data" / task_name / "info.json").read_text())
        batch_size = args.batch or tcfg.get("batch_size", cfg["batch_size"])
        spec = task_spec(task_name)
        examples = read_jsonl(args.results / "data" / task_name / "heldin.jsonl")
        chosen = typical_batch(spec, tokenizer, [ex["text"] for ex in examples], info["label_names"], batch_size)
        examples = [examples[i] for i in chosen]
        task = make_task(spec, tokenizer, info["label_names"])
        batch = {k: v.to(args.device) for k, v in
                 build_batch(spec, tokenizer, [ex["text"] for ex in examples], info["label_names"]).items()}
        b = len(examples)
        rows = "eps" if tcfg.get("eps_rows") else "lrm"
        pef_kwargs = dict(rows=rows, n_eps_rows=tcfg.get("eps_rows"), eps_seed=proj_cfg["seed"],
                          svd_rank=tcfg.get("svd_rank"), projection=projection, selection=selection,
                          max_block_elems=args.max_block_elems)
        R = compute_pefs(model, batch, task, **pef_kwargs).G.shape[1]  # rows stored per example
        # the floor counts the gradient rows the PEF is made of (EPS rows, or the exact LRM rows),
        # not the rows kept after the SVD: those cost no backward of their own
        R_formed = compute_pefs(model, batch, task, **{**pef_kwargs, "svd_rank": None}).G.shape[1]

        def forward():
            with torch.no_grad():
                task(model, batch)

        def forward_backward_per_row():  # one example at a time: R backwards of a full gradient
            for i in range(b):
                one = {k: v[i:i + 1] for k, v in batch.items()}
                for _ in range(R_formed):
                    model.zero_grad(set_to_none=True)
                    task(model, one)[0].logsumexp(-1).backward()

        stages = {}

        def pef():
            stages.clear()
            compute_pefs(model, batch, task, timings=stages, **pef_kwargs)

        sync = torch.cuda.synchronize if args.device == "cuda" else None
        grads = torch.randn(R_formed, n, device=args.device)  # [R_formed, n]: the rows the projection reads
        t_fwd = timed(forward, repeat=2, sync=sync) / b
        t_floor = timed(forward_backward_per_row, repeat=1, sync=sync) / b
        t_pef = timed(pef, repeat=2, sync=sync) / b
        t_read = timed(lambda: grads.sum(), repeat=2, sync=sync)
        per_stage = {k: v / b for k, v in stages.items()}
        tokens = batch["attention_mask"].numel()  # padded positions cost what real ones do
        forward_gflops = 2 * linear_weights(model) * tokens / (t_fwd * b) / 1e9
        print(f"\n{task_name}: {R_formed} gradient row(s) per example, {R} kept, batch {b}")
        print(f"  forward {forward_gflops:.0f} GFLOP/s = {forward_gflops / matmul:.2f}x a plain matmul "
              f"({matmul:.0f} GFLOP/s; {tokens / len(batch['attention_mask']):.0f} tokens per sequence)")
        print(f"  forward {t_fwd:.3f} s | fwd+bwd per row {t_floor:.3f} s | PEF {t_pef:.3f} s "
              f"= {t_pef / t_floor:.2f}x the fwd+bwd floor (goal <= 1.5x)")
        print("  PEF stages: " + ", ".join(f"{k} {v:.3f} s" for k, v in per_stage.items()))
        if "projection" in per_stage:
            print(f"  projection {per_stage['projection']:.3f} s vs reading the rows {t_read:.3f} s = "
                  f"{per_stage['projection'] / t_read:.1f}x (goal <= 3x)")
        del grads


def linear_weights(model) -> int:
    """Weights of the model's nn.Linear layers but the unembedding (which the tasks apply to the
    last positions only): a forward costs 2 flops per such weight per token, plus attention."""
    head = model.get_output_embeddings()
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head)


def matmul_gflops(model, device: str) -> float:
    """GFLOP/s of one plain [512 tokens, hidden] x [hidden, intermediate] product, the MLP's shape,
    by the fastest library at hand: torch's matmul (MKL on the CPU) or, on the CPU, oneDNN, which
    the model's layers use there (npeff.cpu_linear; MKL runs AVX2 kernels on AMD CPUs)."""
    hidden, inner = model.config.hidden_size, model.config.intermediate_size
    a, w = torch.randn(512, hidden, device=device), torch.randn(inner, hidden, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else None
    products = {"torch matmul": lambda: [a @ w.T for _ in range(20)]}
    if device != "cuda" and onednn_available():
        products["oneDNN"] = lambda: [onednn_linear(a, w, None) for _ in range(20)]
    rates = {name: 2 * 512 * hidden * inner * 20 / timed(fn, repeat=3, sync=sync) / 1e9
             for name, fn in products.items()}
    print("plain matmul of the MLP's shape: " + ", ".join(f"{name} {r:.0f} GFLOP/s" for name, r in rates.items()))
    return max(rates.values())


def single_row_passes(projection: SparseProjection, device: str) -> None:
    """A u and A^T y for one row over every selected parameter (FPC, operator norm, perturbations)."""
    sync = torch.cuda.synchronize if device == "cuda" else None
    u = torch.randn(projection.in_dim, device=device)  # [n]
    y = torch.randn(projection.out_dim, device=device)  # [d]
    projection.project(u[:1000]), projection.transpose(y, length=1000)  # compile outside the clock
    t_read = timed(lambda: u.sum(), repeat=3, sync=sync)
    t_write = timed(lambda: u.fill_(1.0), repeat=3, sync=sync)
    t_forward = timed(lambda: projection.project(u), repeat=2, sync=sync)
    t_transpose = timed(lambda: projection.transpose(y), repeat=2, sync=sync)
    print(f"\none row: A u {t_forward:.3f} s = {t_forward / t_read:.0f}x reading u ({t_read:.4f} s); "
          f"A^T y {t_transpose:.3f} s = {t_transpose / t_write:.0f}x writing u ({t_write:.4f} s)")


if __name__ == "__main__":
    main()
