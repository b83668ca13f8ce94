"""Toy models with planted mechanisms, for scoring decompositions against ground truth (issue 7)."""
