"""Toy models with planted mechanisms (TMS, residual MLPs) and APD, for scoring decompositions
against ground truth (issue 7)."""
