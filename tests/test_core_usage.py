"""benchmarks/core_usage.py: cores held over time, read back from a Snakemake log."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# a 2-thread job for 10 s, then two 1-thread jobs: one from 10 s to 20 s, one from 12 s to 20 s
LOG = """Building DAG of jobs...
[Mon Dec  7 10:00:00 2026]
localrule signals:
    output: a
    jobid: 3
    threads: 2
[Mon Dec  7 10:00:10 2026]
Finished jobid: 3 (Rule: signals)
1 of 3 steps (33%) done
Select jobs to execute...
[Mon Dec  7 10:00:10 2026]
localrule perturb:
    output: b
    jobid: 1
[Mon Dec  7 10:00:12 2026]
localrule perturb:
    output: c
    jobid: 2
[Mon Dec  7 10:00:20 2026]
Finished jobid: 1 (Rule: perturb)
[Mon Dec  7 10:00:20 2026]
Finished jobid: 2 (Rule: perturb)
"""


def test_cores_held_and_the_stretch_with_a_free_core(tmp_path):
    (tmp_path / "run.log").write_text(LOG)
    out = subprocess.run([sys.executable, str(REPO / "benchmarks/core_usage.py"), str(tmp_path / "run.log"),
                          "--min-gap", "2"], capture_output=True, text=True, check=True).stdout
    assert "3 jobs, 20 s wall" in out
    assert "seconds with n cores held: 0: 0, 1: 2, 2: 18" in out
    assert "core-seconds left free: 2 (5% of 2 cores)" in out
    assert "at   0.2 min,    2 s with a core free; running: perturb" in out
