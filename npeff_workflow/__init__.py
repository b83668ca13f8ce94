"""The reproduction workflow's own code, beside `scripts/` and `rules/`: the registry of task,
method and file names (`registry`), the table, figure and comparison makers (`tables`, `figures`,
`comparison`), the ground-truth benchmark driver (`groundtruth`, `toys`) and the readers of the
rules' settings and benchmark files (`settings`). The library `npeff` knows none of it.
"""
