"""Timings of the npeff core, each beside a plain reference measured in the same run.

    python benchmarks/bench_core.py [--quick] [--device cpu|cuda] [--out benchmarks/out/core.json]

1. Decomposition step (Algorithm 1, joint step) vs a bare pair of matmuls with the same flops.
2. Projection throughput (input elements / s) of the CPU twin or CUDA kernel vs a materialised
   dense matrix and a materialised scipy CSR matrix, on sizes where those fit.
3. Per-example PEF time on a SmolLM2-135M-shaped Llama (random weights: timing does not depend
   on their values) vs the naive path: one backward per row and example, the full gradient
   concatenated, then projected.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from npeff.decompose import pef_frobenius_norms, step_pass
from npeff.models import ParameterSelection, random_model
from npeff.pef import compute_pefs
from npeff.projection import SparseProjection
from npeff.tasks import LabelTokenTask, length_order


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo's "model name"), for printing beside wall times."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def config_selection(cfg: dict) -> ParameterSelection:
    """The parameter selection a config's `parameters` section names (as the workflow reads it)."""
    params = cfg.get("parameters", {})
    return ParameterSelection(tuple(params.get("include", ["*"])), *(
        [tuple(params["exclude"])] if "exclude" in params else []))


def typical_batch(spec, tokenizer, texts: list[str], label_names, size: int) -> list[int]:
    """Indices of `size` texts from the middle of their length order: a batch of typical
    length, cut as the signals pass cuts its batches."""
    order = length_order(spec, tokenizer, texts, label_names)
    middle = max(0, len(order) // 2 - size // 2)
    return list(order[middle:middle + size])


def timed(fn, repeat: int = 3, sync=None) -> float:
    """Best wall time of `repeat` calls after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        if sync:
            sync()
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        best = min(best, time.perf_counter() - start)
    return best


def bench_decomposition(device: str, quick: bool) -> dict:
    m, r, d, C = (1000, 2, 8192, 128) if quick else (4000, 2, 16192, 256)
    G = torch.randn(m, r, d, device=device)
    H = torch.randn(C, d, device=device) * 1e-3
    W = torch.rand(m, C, device=device)
    norms = pef_frobenius_norms(G)
    sync = torch.cuda.synchronize if device == "cuda" else None
    step = timed(lambda: step_pass(G, norms, W, H, update_w=True, eps=1e-12, chunk_size=m, device=device), sync=sync)
    flat = G.reshape(-1, d)
    reference = timed(lambda: (flat @ H.T).T @ flat, sync=sync)  # B = G H^T and T2's [C, m r] x [m r, d]
    return {"m": m, "r": r, "d": d, "C": C, "step_s": step, "bare_matmuls_s": reference,
            "gflop": 4 * m * r * d * C / 1e9}


def bench_projection(device: str, quick: bool) -> list[dict]:
    rows_out = []
    n, d = (100_000, 1024) if quick else (200_000, 1024)  # a dense matrix still fits
    proj = SparseProjection(n, d, seed=0, density=32)
    dense = torch.from_numpy(proj.dense())
    csr = proj.csr() if device == "cpu" else None
    for rows in (1, 8, 32):
        x = torch.randn(rows, n, device=device)
        sync = torch.cuda.synchronize if device == "cuda" else None
        ours = timed(lambda: proj.project(x), sync=sync)
        entry = {"n": n, "d": d, "density": 32, "rows": rows, "ours_s": ours,
                 "ours_input_elems_per_s": rows * n / ours}
        dm = dense.to(device)
        entry["dense_matmul_s"] = timed(lambda: x @ dm.T, sync=sync)
        if csr is not None:
            xn = x.numpy()
            entry["scipy_csr_s"] = timed(lambda: (csr @ xn.T).T)
        entry["ours_transpose_s"] = timed(lambda: proj.transpose(torch.randn(rows, d, device=device)), sync=sync)
        rows_out.append(entry)
    return rows_out


def smollm2_135m_shaped(device: str):
    """SmolLM2-135M's architecture with random weights (benchmarks/architectures/smollm2-135m.json)."""
    model, _ = random_model(Path(__file__).parent / "architectures" / "smollm2-135m.json", device=device)
    return model


def naive_pefs(model, batch, task, params, proj):
    """One backward per (example, row); the full n-vector concatenated, then projected."""
    out = []
    for e in range(batch["input_ids"].shape[0]):
        single = {k: v[e:e + 1] for k, v in batch.items()}
        log_probs = task(model, single)[0]
        scalars = log_probs.exp().detach().sqrt() * log_probs
        rows = [torch.cat([g.flatten() for g in torch.autograd.grad(s, params, retain_graph=True)])
                for s in scalars]
        out.append(proj.project(torch.stack(rows)))
    return torch.stack(out)


def bench_pef(device: str, quick: bool) -> list[dict]:
    model = smollm2_135m_shaped(device)
    b, T = (4, 24) if quick else (8, 32)
    gen = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(1, 49152, (b, T), generator=gen).to(device),
             "attention_mask": torch.ones((b, T), dtype=torch.long, device=device)}
    task = LabelTokenTask([17, 29])  # 2 labels, as SST2
    results = []
    layer_sets = {"last 2 layers": ("*layers.28.*", "*layers.29.*"), "last 8 layers": tuple(f"*layers.{i}.*" for i in range(22, 30))}
    for label, include in layer_sets.items():
        selection = ParameterSelection(include=include)
        n = selection.n_parameters(model)
        proj = SparseProjection(n, 8192, seed=0, density=32)
        sync = torch.cuda.synchronize if device == "cuda" else None
        ours = timed(lambda: compute_pefs(model, batch, task, projection=proj, selection=selection), repeat=1, sync=sync)
        params = [p for _, p in selection.parameters(model)]
        for name, p in model.named_parameters():
            p.requires_grad_(any(p is q for q in params))
        naive = timed(lambda: naive_pefs(model, batch, task, params, proj), repeat=1, sync=sync)
        for p in model.parameters():
            p.requires_grad_(True)
        results.append({"selection": label, "n_params": n, "batch": b, "tokens": T, "rows": 2, "d": 8192,
                        "ours_s_per_example": ours / b, "naive_s_per_example": naive / b})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--out", default="benchmarks/out/core.json")
    args = parser.parse_args()
    report = {"device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu",
              "threads": torch.get_num_threads()}
    report["decomposition"] = bench_decomposition(args.device, args.quick)
    print("decomposition step:", json.dumps(report["decomposition"]))
    report["projection"] = bench_projection(args.device, args.quick)
    for row in report["projection"]:
        print("projection:", json.dumps(row))
    report["pef"] = bench_pef(args.device, args.quick)
    for row in report["pef"]:
        print("pef:", json.dumps(row))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
