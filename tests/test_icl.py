"""The ICL classifier on a hand-computed example, and cached k-shot prompts against plain forwards."""
import numpy as np
import torch

from npeff.analysis.icl import classify, context_text, icl_log_probs, label_classifier, percent_equal
from npeff.models import tiny_random_llama
from npeff.tasks import label_tokens, prompt
from npeff_workflow.registry import task_spec


def test_classifier_matches_a_hand_computed_example():
    # 8 examples, 3 components, top 4 examples per component, threshold 0.75
    scores = np.array([[.9, 0, .1], [.8, 0, .2], [.7, .1, .3], [.6, .2, .4],
                       [.1, .9, .5], [0, .8, .6], [0, .7, .7], [0, .6, .8]], np.float32)
    labels = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    # component 0: top 0,1,2,3 -> labels 0,0,0,1: 75% label 0 -> tuned to 0
    # component 1: top 4,5,6,7 -> labels 1,1,0,1: 75% label 1 -> tuned to 1
    # component 2: top 7,6,5,4 -> labels 1,0,1,1: 75% label 1 -> tuned to 1
    W = label_classifier(scores, labels, 2, top_k=4, threshold=0.75)
    np.testing.assert_array_equal(W, [[1, 0, 0], [0, 1, 1]])
    assert label_classifier(scores, labels, 2, top_k=4, threshold=0.8).sum() == 0
    new = np.array([[1.0, 0.2, 0.3], [0.1, 0.3, 0.1], [0, 0, 0]], np.float32)
    preds, no_evidence = classify(W, new)  # W s = [1, .5], [.1, .4], [0, 0]
    np.testing.assert_array_equal(preds, [0, 1, 0])
    assert no_evidence == 1
    assert abs(percent_equal(preds, [0, 1, 1]) - 200 / 3) < 1e-9


def test_components_without_enough_examples_get_no_label():
    scores = np.array([[1.0, 0], [0.5, 0], [0.2, 0.3]], np.float32)
    W = label_classifier(scores, np.array([0, 0, 1]), 2, top_k=2, threshold=0.75)
    np.testing.assert_array_equal(W, [[1, 0], [0, 0]])  # component 1 has one active example


def test_cached_context_equals_the_plain_forward():
    labels = ["Negative", "Positive"]
    model, tokenizer = tiny_random_llama(0, labels)
    spec = task_spec("sst2")
    context = context_text(spec, [("a fine film", "Positive"), ("dull and long", "Negative")], labels)
    assert context == "Review: a fine film\nSentiment: Positive\n\nReview: dull and long\nSentiment: Negative\n\n"
    texts = ["great fun", "a slow, tired story that goes nowhere", "ok"]
    cached = icl_log_probs(model, tokenizer, spec, context, texts, labels, batch_size=2)
    first = [ids[0] for ids in label_tokens(tokenizer, labels)]
    ctx_ids = tokenizer(context)["input_ids"]
    for i, text in enumerate(texts):
        ids = ctx_ids + tokenizer(prompt(spec, text, labels), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            last = model(input_ids=torch.tensor([ids])).logits[0, -1]
        torch.testing.assert_close(cached[i], torch.log_softmax(last[first], -1), atol=1e-5, rtol=1e-5)
