"""What the perturbation benchmarks read from a finished run: a decomposition, its projection and
operator norm, the held-in examples and the model set up for perturbed forwards (as the perturb rule)."""
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from npeff import io  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff.models import ParameterSelection, load_model  # noqa: E402
from npeff.perturb import FrozenPrefix  # noqa: E402
from npeff.projection import SparseProjection  # noqa: E402
from npeff.tasks import TaskSpec, make_task  # noqa: E402
from npeff_workflow.registry import task_spec  # noqa: E402


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
