"""A stand-in Hugging Face cache for the paper config, built offline: tiny datasets in each hub
repo's schema, stored as `datasets` stores a download in HF_DATASETS_CACHE, and a tiny random
Llama saved where huggingface_hub caches a model repo. With HF_HOME pointing at it and
HF_HUB_OFFLINE=1, the real `datasets.load_dataset` / `from_pretrained` calls load them."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

SST2_NAMES = ["negative", "positive"]
YAHOO_NAMES = ["Society & Culture", "Science & Mathematics", "Health", "Education & Reference",
               "Computers & Internet", "Sports", "Business & Finance", "Entertainment & Music",
               "Family & Relationships", "Politics & Government"]
CLINC_NAMES = ["restaurant_reviews", "play_music", "oos"]  # the real card has 151 intents; same schema

# examples per split in the stand-ins; CLINC150's train split alone is smaller than the config asks
SPLIT_SIZES = {"sst2": {"train": 30}, "yahoo": {"train": 30},
               "clinc": {"train": 12, "validation": 6, "test": 6}, "trivia": {"train": 30}}


def _words(i: int) -> str:
    vocab = ["good", "film", "dull", "plot", "music", "team", "market", "score", "song", "vote", "river", "city"]
    return " ".join(vocab[(i + k * (i % 5 + 1)) % len(vocab)] for k in range(1, 6))


def dataset_tables():
    """(repo id, config name, features, {split: columns}) per dataset, fields as on the hub cards."""
    import datasets as hf
    from datasets import ClassLabel, Features, Sequence, Value

    sst2 = Features({"idx": Value("int32"), "sentence": Value("string"), "label": ClassLabel(names=SST2_NAMES)})
    yahoo = Features({"id": Value("int32"), "topic": ClassLabel(names=YAHOO_NAMES), "question_title": Value("string"),
                      "question_content": Value("string"), "best_answer": Value("string")})
    clinc = Features({"text": Value("string"), "intent": ClassLabel(names=CLINC_NAMES)})
    answer = {k: Value("string") for k in ("matched_wiki_entity_name", "normalized_matched_wiki_entity_name",
                                          "normalized_value", "type", "value")}
    trivia = Features({"question": Value("string"), "question_id": Value("string"),
                       "question_source": Value("string"),
                       "answer": {"aliases": Sequence(Value("string")),
                                  "normalized_aliases": Sequence(Value("string")), **answer}})
    n = SPLIT_SIZES

    def rows(key, split, make):
        offset = sum(n[key][s] for s in list(n[key])[:list(n[key]).index(split)])
        return [make(offset + i) for i in range(n[key][split])]

    def columns(records):
        return {k: [r[k] for r in records] for k in records[0]}

    tables = [
        ("stanfordnlp/sst2", "default", sst2, {s: columns(rows("sst2", s, lambda i: {
            "idx": i, "sentence": _words(i), "label": i % 2})) for s in n["sst2"]}),
        ("community-datasets/yahoo_answers_topics", "yahoo_answers_topics", yahoo, {s: columns(rows("yahoo", s, lambda i: {
            "id": i, "topic": i % len(YAHOO_NAMES), "question_title": _words(i), "question_content": _words(i + 1),
            "best_answer": _words(i + 2)})) for s in n["yahoo"]}),
        ("clinc/clinc_oos", "plus", clinc, {s: columns(rows("clinc", s, lambda i: {
            "text": _words(i), "intent": i % len(CLINC_NAMES)})) for s in n["clinc"]}),
        ("mandarjoshi/trivia_qa", "rc.nocontext", trivia, {s: columns(rows("trivia", s, lambda i: {
            "question": f"Which city is {_words(i)}?", "question_id": f"q{i}", "question_source": "stand-in",
            "answer": {"aliases": ["Paris"], "normalized_aliases": ["paris"], "matched_wiki_entity_name": "",
                       "normalized_matched_wiki_entity_name": "", "normalized_value": "paris",
                       "type": "WikipediaEntity", "value": ["Paris", "Rome", "Oslo"][i % 3]}})) for s in n["trivia"]}),
    ]
    return hf, tables


def write_dataset_cache(cache: Path) -> None:
    """Each dataset as `load_dataset` leaves it after a download: arrow files and dataset_info.json
    in <namespace>___<name>/<config>/<version>/<hash>/ of HF_DATASETS_CACHE (what it reads offline)."""
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.parquet.parquet import Parquet

    hf, tables = dataset_tables()
    for repo, config, features, splits in tables:
        name = repo.split("/")[1]
        with tempfile.TemporaryDirectory() as tmp:
            files = {}
            for split, cols in splits.items():
                hf.Dataset.from_dict(cols, features=features).to_parquet(f"{tmp}/{split}.parquet")
                files[split] = [f"{split}.parquet"]
            builder = Parquet(cache_dir=f"{tmp}/built", config_name=config, dataset_name=name, features=features,
                              data_files=DataFilesDict.from_patterns(files, base_path=tmp))
            builder.download_and_prepare()
            target = cache / repo.replace("/", "___") / config / "0.0.0" / "0123456789abcdef"
            shutil.copytree(builder.cache_dir, target)


def write_local_copy(folder: Path) -> None:
    """stanfordnlp/sst2 as `hf download --repo-type dataset --local-dir` leaves it (parquet files)."""
    hf, tables = dataset_tables()
    repo, _, features, splits = tables[0]
    for split, cols in splits.items():
        (folder / "data").mkdir(parents=True, exist_ok=True)
        hf.Dataset.from_dict(cols, features=features).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")


def write_model_cache(hub_cache: Path, repo: str) -> None:
    """A tiny random Llama and its tokenizer where huggingface_hub caches `repo`'s main revision."""
    from npeff.models import tiny_random_llama

    label_names = SST2_NAMES + YAHOO_NAMES + [n.replace("_", " ") for n in CLINC_NAMES] + ["Negative", "Positive"]
    model, tokenizer = tiny_random_llama(0, label_names)
    commit = "0" * 40
    folder = hub_cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / commit
    model.save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
