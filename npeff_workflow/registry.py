"""The workflow's vocabulary, defined once: tasks, methods and the decomposition file names.

The rules, the scripts and the table makers all read these names from here; the library
(`npeff`) knows none of them. Torch-free: the Snakefile's own process imports it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass



@dataclass(frozen=True)
class Task:
    """One of the paper's tasks (Appendix D): its title in the tables, prompt template
    ({text}, and {label_list} for YAT) and how p(y|x) is formed (npeff.tasks.make_task)."""

    title: str
    template: str
    kind: str  # "label_token", "suffix" or "full_vocab"
    n_labels: int | None = None  # fixed by the task (SST2: 2), else set by its data

    @property
    def labelled(self) -> bool:
        return self.kind != "full_vocab"  # TriviaQA is open-vocabulary: no label, so no LnP


# The paper's four tasks, in the tables' column order.
TASK_REGISTRY = {
    "sst2": Task("SST2", "Review: {text}\nSentiment:", "label_token", n_labels=2),
    "yat": Task("YAT", "Question: {text}\nWhat broad topic is this question about? Choose from:\n"
                       "{label_list}.\nTopic:", "label_token"),
    "clinc150": Task("CLINC150", "Query: {text}\nIntent:", "suffix"),
    "triviaqa": Task("TriviaQA", "Question: {text}\nAnswer:", "full_vocab"),
}
TASKS = tuple(TASK_REGISTRY)
TASK_TITLES = {name: task.title for name, task in TASK_REGISTRY.items()}
LABELLED_TASKS = tuple(name for name, task in TASK_REGISTRY.items() if task.labelled)
# With two labels the LRM-PEF is rank one along the predicted-class gradient, so NPEFF and
# G-NPEFF decompose the same matrices (the perturb_same_as_npeff rule perturbs once).
TWO_LABEL_TASKS = tuple(name for name, task in TASK_REGISTRY.items() if task.n_labels == 2)


def task_spec(name: str):
    """The library's npeff.tasks.TaskSpec of a registered task (imports torch)."""
    from npeff.tasks import TaskSpec

    if name not in TASK_REGISTRY:
        raise ValueError(f"unknown task {name!r}; the workflow's tasks are {list(TASKS)}")
    task = TASK_REGISTRY[name]
    return TaskSpec(name, task.template, task.kind)

# The decomposition methods of Table 1, in its row order: NPEFF, its gradient-only variant,
# gradient clustering and the TopK SAE.
METHODS = ("npeff", "gnpeff", "gc", "sae")
PERTURBED_METHODS = ("npeff", "gnpeff", "gc")  # an SAE latent has no parameter-space direction
NPEFF_METHODS = ("npeff", "gnpeff")  # decomposed by NPEFF (the `decompose` rule); they have H-only steps
METHOD_SIGNALS = {"npeff": "pefs", "gnpeff": "grads"}  # the signals each NPEFF method decomposes
METHOD_RULES = {"npeff": "decompose", "gnpeff": "decompose", "gc": "cluster_gradients", "sae": "train_sae"}
# The ground-truth benchmark's methods: the four, plus NPEFF in a projected space recovered by
# FPC, and APD.
GROUNDTRUTH_METHODS = ("npeff", "npeff_fpc", "gnpeff", "gc", "sae", "apd")
METHOD_TITLES = {"npeff": "NPEFF", "gnpeff": "G-NPEFF", "gc": "GC", "sae": "SAE",
                 "npeff_fpc": "NPEFF + FPC", "apd": "APD"}


# ------------------------------------------------------------------ decomposition names
# A decomposition (and everything made from it: coefficients, tunings, perturbations) is named
# <method>_c<components>_s<seed>, e.g. npeff_c32_s0.
def decomposition_name(method: str, n_components: int, seed: int) -> str:
    return f"{method}_c{int(n_components)}_s{int(seed)}"


def decomposition_wildcards(method: str = "{method}") -> str:
    """The name as a Snakemake wildcard pattern ({C}, {seed}; {method} unless one is given)."""
    return f"{method}_c{{C}}_s{{seed}}"


def decomposition_regex(methods=METHODS) -> str:
    """A regular expression matching the names of `methods`' decompositions."""
    return rf"({'|'.join(map(re.escape, methods))})_c\d+_s\d+"

