"""Toy models with planted mechanisms, for scoring decompositions against ground truth (issue 7).
Kept torch-free at import, so the workflow can check toy specs (npeff.toy.specs) at parse time."""
