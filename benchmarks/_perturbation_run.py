"""What the perturbation benchmarks read from a finished run: a decomposition, its projection and
operator norm, the held-in examples and the model set up for perturbed forwards (as the perturb rule);
and what two of them share: their command-line arguments for a run, and the KL of every held-in
example under a perturbation along a component's direction as the perturb rule recovers it."""
import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from npeff import io  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff.models import ParameterSelection, load_model  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from npeff.perturb import (FrozenPrefix, encode_texts, kl_divergence, perturbed, reject_similar,  # noqa: E402
                           unit_direction)
from npeff.projection import SparseProjection  # noqa: E402
from npeff.tasks import TaskSpec, make_task  # noqa: E402
from npeff_workflow.registry import task_spec  # noqa: E402
from npeff_workflow.settings import recover_direction  # noqa: E402


@dataclass
class PerturbationRun:
    decomposition: dict  # W [m, C] held-in coefficients, H [C, d]
    projection: SparseProjection
    operator_norm: float
    examples: list[dict]  # the held-in examples, in W's order
    labels: list[str] | None
    spec: TaskSpec
    task: object  # (model, batch) -> log-probs [b, r]
    selection: ParameterSelection
    prefix: FrozenPrefix  # the model, with the unperturbed blocks' outputs cached
    tokenizer: object


def load_perturbation_run(results: Path, model_name: str, resources: Path, task_name: str,
                          name: str) -> PerturbationRun:
    """results/<config>, the model's name in the config, the resources folder, task and decomposition name."""
    M = results / model_name
    decomposition, attrs = io.read_decomposition(M / "decomp" / task_name / f"{name}.h5")
    projection = SparseProjection.from_attrs(attrs)
    norm_file = M / "perturb" / f"operator_norm_dim{projection.out_dim}_density{projection.density}_seed{projection.seed}.json"
    labels = json.loads((results / "data" / task_name / "info.json").read_text())["label_names"]
    model, tokenizer = load_model(resources / "models" / model_name)
    selection = ParameterSelection(tuple(attrs["param_include"]), tuple(attrs["param_exclude"]))
    spec = task_spec(task_name)
    return PerturbationRun(decomposition, projection, json.loads(norm_file.read_text())["operator_norm"],
                           read_jsonl(results / "data" / task_name / "heldin.jsonl"), labels, spec,
                           make_task(spec, tokenizer, labels), selection, FrozenPrefix(model, selection), tokenizer)


def add_run_arguments(ap: argparse.ArgumentParser) -> None:
    """The arguments that name a finished run's decomposition and how to batch its held-in examples."""
    ap.add_argument("results", type=Path, help="results/<config>")
    ap.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="the run's config")
    ap.add_argument("--model", default="smollm2-135m-instruct", help="the model's name in the config")
    ap.add_argument("--resources", type=Path, default=Path("resources"))
    ap.add_argument("--task", default="sst2")
    ap.add_argument("--name", default="npeff_c32_s0")
    ap.add_argument("--batch-size", type=int, default=16)


class HeldInKL:
    """KL(perturbed || original) of every held-in example of a run (in its file order), the
    unperturbed forwards taken once."""

    def __init__(self, run: PerturbationRun, batch_size: int):
        self.run = run
        self.batches = encode_texts(run.prefix, run.spec, run.tokenizer, [ex["text"] for ex in run.examples],
                                    run.labels, batch_size)
        self.originals = [run.prefix.run(run.task, b) for b in self.batches]  # log-probs [b, r] each

    def rule_direction(self, H: torch.Tensor, component: int, settings: dict) -> torch.Tensor:
        """The perturb rule's direction [n] for row `component` of H [C, d]: rejected from the
        dissimilar rows, recovered by the config's FPC, scaled to the config's magnitude
        (settings: the config's `perturbation` section)."""
        target = reject_similar(H, component, settings["similarity_threshold"])
        recovered = recover_direction(self.run.projection, target, settings["fpc"], self.run.operator_norm)
        return unit_direction(recovered.u, settings["magnitude"])

    def __call__(self, delta: torch.Tensor) -> np.ndarray:
        """KL [m] with delta [n] added to the selected parameters."""
        run = self.run
        with perturbed(run.prefix.model, run.selection, delta):
            return torch.cat([kl_divergence(run.prefix.run(run.task, b), o)
                              for b, o in zip(self.batches, self.originals)]).numpy()
