"""Baselines the paper compares NPEFF with: gradient clustering and TopK SAEs (Section 3.1)."""
