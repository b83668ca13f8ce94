"""Writes the tiny test config's datasets: small synthetic JSONL files, one per task."""
import json
import random
import sys
from pathlib import Path

WORDS = {
    0: ["dull", "boring", "weak", "flat", "tired", "awful"],
    1: ["great", "moving", "sharp", "funny", "bold", "lovely"],
    2: ["music", "album", "band"], 3: ["match", "goal", "team"], 4: ["market", "shares", "bank"],
}


def sentences(labels, n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(labels)
        words = [rng.choice(WORDS[label]) for _ in range(3)] + [rng.choice(["film", "news", "story"])]
        rng.shuffle(words)
        rows.append({"id": str(i), "text": "the " + " ".join(words), "label": labels.index(label)})
    return rows


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {"sst2": sentences([0, 1], 64, 0), "yat": sentences([2, 3, 4], 64, 1),
            "clinc150": sentences([2, 3, 4], 48, 2),
            "triviaqa": [{"id": str(i), "text": f"what is the {w} of the story", "label": -1}
                         for i, w in enumerate(["name", "color", "year", "place", "team", "band"] * 11)]}
    for task, rows in data.items():
        (out / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
