"""Toy models with planted mechanisms, for scoring decompositions against ground truth (issue 7).
Kept torch-free at import, so the workflow can check toy specs (npeff_workflow.toys) at parse time."""
