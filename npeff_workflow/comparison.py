"""The reproduced numbers next to the paper's (config/paper_numbers.yaml), and its qualitative claims.

Every table's CSV maps to named cells ("slots", e.g. table1 `npeff/sst2/pred`) by `table_cells`;
`expected_slots` lists the slots a config's tables will have, so the paper's numbers can be held
to the table makers (every paper cell has a slot and every slot of the paper config a number or an
explicit null). `CLAIMS` are the sections' qualitative statements as checks over the cells; each
holds on the paper's own numbers (tested), and comparison.md says which hold on ours.
Torch-free: the workflow and the tests import it.
"""
from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from npeff_workflow.registry import LABELLED_TASKS, METHODS, NPEFF_METHODS, PERTURBED_METHODS, TWO_LABEL_TASKS

Cells = dict[str, dict[str, float | None]]  # "table1" -> slot -> value



def _num(text) -> float | None:
    if text in (None, "", "None"):
        return None
    value = float(text)
    return None if math.isnan(value) else value


def read_rows(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------ our cells from the CSVs
def table_cells(name: str, rows: list[dict]) -> dict[str, float | None]:
    """Slot -> value of one table's (or figure's) CSV rows, as written by its maker."""
    cells = {}
    if name in ("table1", "table9"):
        if name == "table9" and rows:  # the paper has one second model: compare the first extra model's rows
            rows = [r for r in rows if r["model"] == rows[0]["model"]]
        for r in rows:
            cells[f"{r['method']}/{r['task']}/pred"] = _num(r["pred_pct"])
            if r["task"] != "triviaqa":
                cells[f"{r['method']}/{r['task']}/lnp"] = _num(r["lnp_pct"])
    elif name == "table2":
        for r in rows:
            cells[f"{r['method']}/{r['task']}/kl"] = _num(r["kl_ratio"])
            cells[f"{r['method']}/{r['task']}/norm"] = _num(r["norm_ratio"])
    elif name == "table3":
        for r in rows:
            for key in ("accuracy", "similarity_zero_shot", "similarity_icl"):
                cells[f"{r['method']}/{key}"] = _num(r[key])
    elif name == "table4":
        for r in rows:
            cells[f"{r['dim']}/pred"], cells[f"{r['dim']}/lnp"] = _num(r["pred_pct"]), _num(r["lnp_pct"])
    elif name == "table5":
        for r in rows:
            for key, col in (("recon_in", "recon_in"), ("recon_out", "recon_out"), ("pred", "pred_pct"),
                             ("lnp", "lnp_pct")):
                cells[f"{r['task']}/{r['n_components']}/{key}"] = _num(r[col])
    elif name == "table6":
        for i, r in enumerate(rows, 1):
            for key, col in (("pred", "pred_pct"), ("lnp", "lnp_pct"), ("kl", "kl_ratio"), ("norm", "norm_ratio")):
                cells[f"row{i}/{key}"] = _num(r[col])
    elif name == "table7":
        for r in rows:
            for obj in ("pef", "gradient", "activation"):
                cells[f"{r['task']}/{obj}"] = _num(r[obj])
    elif name == "table8":
        for r in rows:
            cells[f"{r['method']}/{r['task']}/step_ms"] = _num(r["step_ms"])
            if r["method"] in NPEFF_METHODS:
                cells[f"{r['method']}/{r['task']}/h_only_step_ms"] = _num(r["h_only_step_ms"])
            cells[f"{r['method']}/{r['task']}/total_s"] = _num(r["total_s"])
    elif name == "table10":
        for r in rows:
            cells[f"{r['method']}/{r['task']}/recon"] = _num(r["recon_loss"])
    elif name in ("table12", "table13"):
        for r in rows:
            cells[f"{r['n_components_1']}-{r['n_components_2']}/percent"] = _num(r["percent"])
    elif name == "figure2":
        for r in rows:
            kind = {"rank_vs_full_rank": f"rank{r['svd_rank']}", "seed_vs_seed": "seed"}.get(
                r["comparison"], "vs_largest_eps")
            cells[f"eps{r['eps']}/{kind}"] = _num(r["similarity"])
    elif name not in ("table11", "figure3"):
        raise ValueError(f"no cells defined for {name!r}")
    return cells


# ------------------------------------------------------------------ the slots a config's tables have
@dataclass
class Layout:
    """What a config's tables hold: tasks, the extra model's tasks and the ablation grids' rows."""

    tasks: list[str]
    icl: bool
    extra_tasks: list[str]  # the first extra model's (Table 9); empty without one
    projection_dims: list[int]
    components: dict[str, list[int]]  # task -> component counts of the n_components grid
    n_seeds: int
    eps_rank: list[tuple[int, int]]


def expected_slots(name: str, layout: Layout) -> set[str]:
    tasks = layout.tasks

    def tuning(task_list):
        return ({f"{m}/{t}/pred" for m in METHODS for t in task_list}
                | {f"{m}/{t}/lnp" for m in METHODS for t in task_list if t in LABELLED_TASKS})

    if name == "table1":
        return tuning(tasks)
    if name == "table2":
        return {f"{m}/{t}/{k}" for m in PERTURBED_METHODS for t in tasks for k in ("kl", "norm")}
    if name == "table3":
        return {f"{m}/{k}" for m in ("zero_shot", "icl") + METHODS
                for k in ("accuracy", "similarity_zero_shot", "similarity_icl")} if layout.icl else set()
    if name == "table4":
        return {f"{d}/{k}" for d in layout.projection_dims for k in ("pred", "lnp")}
    if name == "table5":
        return {f"{t}/{c}/{k}" for t, cs in layout.components.items() for c in cs
                for k in ("recon_in", "recon_out", "pred", "lnp")}
    if name == "table6":
        return {f"row{i}/{k}" for i in range(1, layout.n_seeds + 1) for k in ("pred", "lnp", "kl", "norm")}
    if name == "table7":
        return {f"{t}/{o}" for t in tasks for o in ("pef", "gradient", "activation")}
    if name == "table8":
        return ({f"{m}/{t}/{k}" for m in METHODS for t in tasks for k in ("step_ms", "total_s")}
                | {f"{m}/{t}/h_only_step_ms" for m in NPEFF_METHODS for t in tasks})
    if name == "table9":
        return tuning(layout.extra_tasks)
    if name == "table10":
        return {f"{m}/{t}/recon" for m in PERTURBED_METHODS for t in tasks}
    if name in ("table12", "table13"):
        counts = layout.components.get("sst2" if name == "table12" else "clinc150", [])
        return {f"{a}-{b}/percent" for a, b in itertools.combinations(sorted(counts), 2)}
    if name == "figure2":
        eps_values = sorted({e for e, _ in layout.eps_rank}, reverse=True)
        slots = {f"eps{e}/rank{r}" for e, r in layout.eps_rank} | {f"eps{e}/seed" for e in eps_values}
        return slots | {f"eps{e}/vs_largest_eps" for e in eps_values[1:]}
    if name in ("table11", "figure3"):
        return set()
    raise ValueError(f"no slots defined for {name!r}")


ARTIFACTS = [f"table{n}" for n in range(1, 14)] + ["figure2", "figure3"]


# ------------------------------------------------------------------ qualitative claims
@dataclass
class Claim:
    section: str
    text: str
    check: Callable[[Cells], bool]  # KeyError / TypeError (missing cells) -> not checked
    tables: tuple[str, ...]


def _v(cells: Cells, table: str, slot: str) -> float:
    value = cells[table][slot]
    if value is None:
        raise TypeError(f"{table} {slot} is empty")
    return value


def _tasks(cells: Cells, table: str, method: str, key: str, among=None) -> list[str]:
    """Tasks with a non-empty method/task/key cell (optionally among a given list)."""
    found = []
    for slot, value in cells.get(table, {}).items():
        m, t, k = (slot.split("/") + [None, None])[:3]
        if m == method and k == key and value is not None and (among is None or t in among):
            found.append(t)
    if not found:
        raise KeyError(f"{table}: no {method} {key} cells")
    return found


def _components_rows(cells: Cells, task: str, key: str) -> list[tuple[int, float]]:
    rows = sorted((int(s.split("/")[1]), v) for s, v in cells["table5"].items()
                  if s.startswith(f"{task}/") and s.endswith(f"/{key}") and v is not None)
    if len(rows) < 2:
        raise KeyError(f"table5: fewer than two {task} rows")
    return rows


def _mean_percent(cells: Cells, table: str) -> float:
    values = [v for v in cells[table].values() if v is not None]
    if not values:
        raise KeyError(f"{table}: no percentages")
    return sum(values) / len(values)


def _eps_rows(cells: Cells) -> dict[int, dict[str, float]]:
    rows: dict[int, dict[str, float]] = {}
    for slot, v in cells["figure2"].items():
        if v is not None:
            eps, kind = slot.split("/")
            rows.setdefault(int(eps[3:]), {})[kind] = v
    return rows


def _ranked(row: dict[str, float], eps: int) -> list[tuple[int, float]]:
    return sorted((int(k[4:]), v) for k, v in row.items() if k.startswith("rank") and int(k[4:]) < eps)


CLAIMS = [
    Claim("3.1", "GC components are >= 95% prediction-tuned on SST2, YAT and CLINC150",
          lambda c: all(_v(c, "table1", f"gc/{t}/pred") >= 95
                        for t in _tasks(c, "table1", "gc", "pred", LABELLED_TASKS)),
          ("table1",)),
    Claim("3.1", "NPEFF has the highest LnP fraction on every labelled task",
          lambda c: all(_v(c, "table1", f"npeff/{t}/lnp") >= max(_v(c, "table1", f"{m}/{t}/lnp") for m in METHODS)
                        for t in _tasks(c, "table1", "npeff", "lnp")), ("table1",)),
    Claim("3.1", "GC recovers almost no LnP-tuned components (<= 1%) on any labelled task",
          lambda c: all(_v(c, "table1", f"gc/{t}/lnp") <= 1 for t in _tasks(c, "table1", "gc", "lnp")), ("table1",)),
    Claim("3.1", "G-NPEFF is more prediction-tuned than NPEFF on the many-class tasks (YAT, CLINC150, TriviaQA)",
          lambda c: all(_v(c, "table1", f"gnpeff/{t}/pred") > _v(c, "table1", f"npeff/{t}/pred")
                        for t in _tasks(c, "table1", "npeff", "pred", ("yat", "clinc150", "triviaqa"))), ("table1",)),
    Claim("3.1", "The SAE has the lowest prediction-tuned fraction on every task",
          lambda c: all(_v(c, "table1", f"sae/{t}/pred") <= min(_v(c, "table1", f"{m}/{t}/pred") for m in METHODS)
                        for t in _tasks(c, "table1", "sae", "pred")), ("table1",)),
    Claim("3.2", "KL ratio > Norm ratio for NPEFF on SST2",
          lambda c: _v(c, "table2", "npeff/sst2/kl") > _v(c, "table2", "npeff/sst2/norm"), ("table2",)),
    Claim("3.2", "KL ratio > Norm ratio for NPEFF on YAT",
          lambda c: _v(c, "table2", "npeff/yat/kl") > _v(c, "table2", "npeff/yat/norm"), ("table2",)),
    Claim("3.2", "G-NPEFF's perturbations disrupt top examples more than random ones (KL ratio > 1) on every task",
          lambda c: all(_v(c, "table2", f"gnpeff/{t}/kl") > 1 for t in _tasks(c, "table2", "gnpeff", "kl")),
          ("table2",)),
    Claim("3.2", "NPEFF's KL ratio exceeds GC's on SST2 and YAT",
          lambda c: all(_v(c, "table2", f"npeff/{t}/kl") > _v(c, "table2", f"gc/{t}/kl") for t in ("sst2", "yat")),
          ("table2",)),
    Claim("3.3", "The NPEFF classifier is more accurate than the zero-shot model",
          lambda c: _v(c, "table3", "npeff/accuracy") > _v(c, "table3", "zero_shot/accuracy"), ("table3",)),
    Claim("3.3", "The NPEFF classifier agrees more with ICL than with the zero-shot model",
          lambda c: _v(c, "table3", "npeff/similarity_icl") > _v(c, "table3", "npeff/similarity_zero_shot"),
          ("table3",)),
    Claim("3.3", "The SAE classifier is the least accurate of the four",
          lambda c: _v(c, "table3", "sae/accuracy") <= min(_v(c, "table3", f"{m}/accuracy") for m in METHODS),
          ("table3",)),
    Claim("4", "Pred varies by <= 5 points across projected dims >= 1024",
          lambda c: (lambda v: max(v) - min(v) <= 5)([x for s, x in c["table4"].items() if s.endswith("/pred")
                                                      and int(s.split("/")[0]) >= 1024 and x is not None] or [None]),
          ("table4",)),
    Claim("4", "The smallest projected dim's Pred is at most the largest Pred of the others (it only deteriorates)",
          lambda c: (lambda d: _v(c, "table4", f"{d[0]}/pred") <= max(_v(c, "table4", f"{x}/pred") for x in d[1:]))(
              sorted({int(s.split("/")[0]) for s in c["table4"]})), ("table4",)),
    Claim("4", "Held-in reconstruction loss decreases as the number of components grows (every task)",
          lambda c: all(all(a[1] >= b[1] for a, b in zip(r, r[1:])) for r in
                        [_components_rows(c, t, "recon_in") for t in {s.split("/")[0] for s in c["table5"]}]),
          ("table5",)),
    Claim("4", "The held-out minus held-in gap is larger at the most components than at the fewest (every task)",
          lambda c: all((lambda i, o: o[-1][1] - i[-1][1] >= o[0][1] - i[0][1])(
              _components_rows(c, t, "recon_in"), _components_rows(c, t, "recon_out"))
              for t in {s.split("/")[0] for s in c["table5"]}), ("table5",)),
    Claim("4", "The prediction-tuned fraction is lower at the most components than at the fewest (every task)",
          lambda c: all((lambda r: r[-1][1] < r[0][1])(_components_rows(c, t, "pred"))
                        for t in {s.split("/")[0] for s in c["table5"]}), ("table5",)),
    Claim("4", "Pred varies by <= 5 points across decomposition seeds",
          lambda c: (lambda v: max(v) - min(v) <= 5)([x for s, x in c["table6"].items() if s.endswith("/pred")]),
          ("table6",)),
    Claim("4", "Perturbations are selective (KL ratio > 1) for every seed",
          lambda c: all(x > 1 for s, x in c["table6"].items() if s.endswith("/kl")), ("table6",)),
    # a two-label task's PEF is one row, a multiple of its gradient (README, "rank one"): there the
    # PEF and the gradient, and NPEFF's and G-NPEFF's problems, are one object, and their times tie
    Claim("E", "Per example, a PEF costs more than a gradient (every task with more than two labels), "
          "which costs more than an activation (every task)",
          lambda c: all((t in TWO_LABEL_TASKS or _v(c, "table7", f"{t}/pef") > _v(c, "table7", f"{t}/gradient"))
                        and _v(c, "table7", f"{t}/gradient") > _v(c, "table7", f"{t}/activation")
                        for t in {s.split("/")[0] for s in c["table7"]}), ("table7",)),
    Claim("E", "An NPEFF step takes longer than a G-NPEFF step (every task with more than two labels)",
          lambda c: all(_v(c, "table8", f"npeff/{t}/step_ms") > _v(c, "table8", f"gnpeff/{t}/step_ms")
                        for t in _tasks(c, "table8", "npeff", "step_ms") if t not in TWO_LABEL_TASKS), ("table8",)),
    Claim("E", "Gradient clustering has the smallest total time (every task)",
          lambda c: all(_v(c, "table8", f"gc/{t}/total_s") <= min(_v(c, "table8", f"{m}/{t}/total_s")
                                                                  for m in METHODS)
                        for t in _tasks(c, "table8", "gc", "total_s")), ("table8",)),
    Claim("F", "On the second model NPEFF has the highest LnP fraction on every task",
          lambda c: all(_v(c, "table9", f"npeff/{t}/lnp") >= max(_v(c, "table9", f"{m}/{t}/lnp") for m in METHODS)
                        for t in _tasks(c, "table9", "npeff", "lnp")), ("table9",)),
    Claim("G.1", "Every perturbed decomposition's mean per-example loss is below 1",
          lambda c: bool(c["table10"]) and all(v < 1 for v in c["table10"].values() if v is not None), ("table10",)),
    Claim("H", "Prediction tunings survive splits more often on SST2 than on CLINC150 (mean over pairs)",
          lambda c: _mean_percent(c, "table12") > _mean_percent(c, "table13"), ("table12", "table13")),
    Claim("H", "On SST2 most prediction tunings survive a split (mean over pairs > 50%)",
          lambda c: _mean_percent(c, "table12") > 50, ("table12",)),
    Claim("E", "Within every EPS, the largest reduced SVD rank is at least as similar to full rank as rank 1",
          lambda c: all((lambda r: r[-1][1] >= r[0][1])(_ranked(row, eps))
                        for eps, row in _eps_rows(c).items() if len(_ranked(row, eps)) >= 2), ("figure2",)),
    Claim("E", "Even SVD rank 1 gives a fairly similar decomposition (similarity >= 0.5 for every EPS)",
          lambda c: all(row["rank1"] >= 0.5 for eps, row in _eps_rows(c).items() if "rank1" in row and eps > 1),
          ("figure2",)),
    Claim("E", "Full-rank decompositions grow more similar to the largest EPS's as EPS grows",
          lambda c: (lambda v: all(a[1] <= b[1] for a, b in zip(v, v[1:])) if len(v) >= 2 else None)(
              sorted((eps, row["vs_largest_eps"]) for eps, row in _eps_rows(c).items() if "vs_largest_eps" in row)),
          ("figure2",)),
]


def check_claim(claim: Claim, cells: Cells) -> bool | None:
    """True / False, or None when a cell it needs is missing or empty."""
    try:
        result = claim.check(cells)
        return None if result is None else bool(result)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------ the comparison rows
def compare(paper: Cells, ours: Cells) -> list[dict]:
    """One row per slot of either side: paper value, ours, difference (ours - paper) and ratio."""
    rows = []
    for table in ARTIFACTS:
        slots = list(dict.fromkeys(list(paper.get(table, {})) + list(ours.get(table, {}))))
        for slot in slots:
            p, o = paper.get(table, {}).get(slot), ours.get(table, {}).get(slot)
            rows.append({"table": table, "cell": slot, "paper": p, "ours": o,
                         "difference": o - p if p is not None and o is not None else None,
                         "ratio": o / p if p not in (None, 0) and o is not None else None,
                         "status": ("compared" if p is not None and o is not None else
                                    "not in the paper" if o is not None else
                                    "not reproduced" if p is not None else "empty")})
    return rows


def read_cells(paths: dict[str, Path]) -> Cells:
    """Our cells from the CSVs, e.g. {"table1": results/.../table1.csv, "figure2": .../figure2.csv}."""
    return {name: table_cells(name, read_rows(path)) for name, path in paths.items()}


def layout_from_config(cfg: dict, base_dir: Path) -> Layout:
    """The Layout of a workflow config (before schema defaults: the keys the tables need must be set)."""
    def grid(name):
        path = Path(cfg["ablations"][name]["grid"])
        with open(path if path.is_absolute() else base_dir / path) as f:
            return list(csv.DictReader(f, delimiter="\t"))

    tasks = list(cfg["tasks"])
    components: dict[str, list[int]] = {}
    for row in grid("n_components"):
        components.setdefault(row["task"], []).append(int(row["n_components"]))
    extra = list(cfg.get("extra_models", {}).values())
    return Layout(tasks=tasks, icl=cfg.get("icl", {}).get("task", "sst2") in tasks,
                  extra_tasks=list(extra[0]["tasks"]) if extra else [],
                  projection_dims=[int(r["dim"]) for r in grid("projection_dim")],
                  components={t: sorted(c) for t, c in components.items()}, n_seeds=len(grid("seeds")),
                  eps_rank=[(int(r["eps"]), int(r["svd_rank"])) for r in grid("eps_rank")])
