"""Analyses of decompositions: tunings, top examples."""
