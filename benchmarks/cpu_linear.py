"""The model's linear layers through torch's F.linear (MKL) and through oneDNN (npeff.cpu_linear), on this CPU.

    python benchmarks/cpu_linear.py results/default [--tasks sst2 yat] [--rounds 3]

Prints, in one process and alternated round by round (this machine's speed drifts):
  1. GFLOP/s of each distinct linear shape of the model over 480 tokens (16 sequences of 30,
     SST2's typical batch), through F.linear and through oneDNN;
  2. per task, one no-grad forward of a typical batch (the perturbations' unit of work) and one
     compute_pefs call (the signals rule's), with the layers plain and patched, and the largest
     difference between the two paths' outputs.
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
from npeff.models import load_model  # noqa: E402
from npeff.pef import compute_pefs  # noqa: E402
from npeff.projection import SparseProjection  # noqa: E402
from npeff.tasks import build_batch, make_task  # noqa: E402
from npeff_workflow.registry import task_spec  # noqa: E402


def unpatched(model):
    """Takes the oneDNN forwards off the model's layers; returns them, for `repatch`."""
    return {m: m.__dict__.pop("forward") for m in model.modules() if "forward" in m.__dict__}


def repatch(saved):
    for module, forward in saved.items():
        module.forward = forward


def shape_table(model, rounds: int):
    head = model.get_output_embeddings()
    shapes = sorted({tuple(m.weight.shape) for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head})
    print("linear shape [out, in] over 480 tokens: GFLOP/s through F.linear (MKL) | oneDNN")
    for out_dim, in_dim in shapes:
        x, w = torch.randn(480, in_dim), torch.randn(out_dim, in_dim)
        flops = 2 * 480 * in_dim * out_dim
        plain = min(timed(lambda: torch.nn.functional.linear(x, w), repeat=5) for _ in range(rounds))
        fast = min(timed(lambda: onednn_linear(x, w, None), repeat=5) for _ in range(rounds))
        print(f"  [{out_dim}, {in_dim}]: {flops / plain / 1e9:.0f} | {flops / fast / 1e9:.0f} "
              f"({plain / fast:.2f}x)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="results/<config> with data/<task>/heldin.jsonl")
    ap.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    ap.add_argument("--resources", type=Path, default=Path("resources"))
    ap.add_argument("--tasks", nargs="*", help="default: every task of the config")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not onednn_available():
        print("this torch has no oneDNN: nothing to compare")
        return
    cfg = yaml.safe_load(args.config.read_text())
    model, tokenizer = load_model(args.resources / "models" / cfg["model"]["name"], "cpu")
    print(f"{cfg['model']['name']} on {cpu_model()}, {torch.get_num_threads()} threads")
    shape_table(model, args.rounds)
    selection = config_selection(cfg)
    projection = SparseProjection(selection.n_parameters(model), cfg["projection"]["dim"],
                                  seed=cfg["projection"]["seed"], density=cfg["projection"]["density"])
    for task_name in args.tasks or list(cfg["tasks"]):
        tcfg = cfg["tasks"][task_name]
        info = json.loads((args.results / "data" / task_name / "info.json").read_text())
        spec = task_spec(task_name)
        texts = [ex["text"] for ex in read_jsonl(args.results / "data" / task_name / "heldin.jsonl")]
        chosen = typical_batch(spec, tokenizer, texts, info["label_names"], cfg["batch_size"])
        batch = build_batch(spec, tokenizer, [texts[i] for i in chosen], info["label_names"])
        task = make_task(spec, tokenizer, info["label_names"])
        pef_kwargs = dict(rows="eps" if tcfg.get("eps_rows") else "lrm", n_eps_rows=tcfg.get("eps_rows"),
                          eps_seed=cfg["projection"]["seed"], svd_rank=tcfg.get("svd_rank"),
                          projection=projection, selection=selection)

        def forward():
            with torch.no_grad():
                return task(model, batch)

        def pef():
            return compute_pefs(model, batch, task, **pef_kwargs).G

        times = {("forward", "plain"): [], ("forward", "oneDNN"): [], ("PEF", "plain"): [], ("PEF", "oneDNN"): []}
        outputs = {}
        for _ in range(args.rounds):
            for path in ("plain", "oneDNN"):
                saved = unpatched(model) if path == "plain" else {}
                times["forward", path].append(timed(forward, repeat=2))
                times["PEF", path].append(timed(pef, repeat=1))
                outputs[path] = (forward(), pef())
                repatch(saved)
        b = len(chosen)
        print(f"\n{task_name}: batch {b} x {batch['input_ids'].shape[1]} tokens; seconds per example, best of "
              f"{args.rounds} alternated rounds")
        for stage in ("forward", "PEF"):
            plain, fast = min(times[stage, "plain"]) / b, min(times[stage, "oneDNN"]) / b
            print(f"  {stage}: F.linear {plain:.4f} s | oneDNN {fast:.4f} s = {plain / fast:.2f}x faster")
        (lp_plain, g_plain), (lp_fast, g_fast) = outputs["plain"], outputs["oneDNN"]
        print(f"  largest |log p| difference {(lp_fast - lp_plain).abs().max():.2e}; PEF rows differ by "
              f"{float((g_fast - g_plain).norm() / g_plain.norm()):.2e} relative")


if __name__ == "__main__":
    main()
