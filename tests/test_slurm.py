"""`snakemake --profile slurm` against a real single-node SLURM cluster (tests/slurm/start.sh).

Runs where the cluster can be brought up: as root on Debian with apt-get (CI, the dev
machines). The tiny config, cut to one task, runs once locally and once through the
project's profile with real sbatch jobs; the outputs must be equal. Overrides on the command
line stand in for what a user edits in slurm/config.yaml (partition, memory, no account), and
`--sdm env-modules` replaces the profile's conda, which cannot be installed here (no rule
declares modules, so nothing is loaded).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("apt-get") is None or os.environ.get("NPEFF_SKIP_SLURM"),
                       reason="needs root and apt-get to bring up a SLURM cluster"),
]
TEST_CLUSTER = ["--default-resources", "slurm_partition=debug", "mem_mb=1000", "runtime=10",
                "--set-resources", "signals:mem_mb=2000", "--set-threads", "signals=2", "decompose=2",
                "fit_coefficients=2", "prepare_model=1", "--slurm-init-seconds-before-status-checks", "2",
                "--slurm-no-account", "--sdm", "env-modules", "--jobs", "2", "--latency-wait", "10"]


def run(args, timeout):
    # timeout -k: Snakemake answers SIGTERM by waiting for its jobs, which a broken status
    # check never reports; SIGKILL 30 s later
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(["timeout", "-k", "30", str(timeout), sys.executable, "-m", "snakemake",
                           "-s", str(REPO / "Snakefile"), *args], cwd=REPO, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def cluster():
    start = subprocess.run(["bash", str(REPO / "tests/slurm/start.sh")], capture_output=True, text=True, timeout=900)
    assert start.returncode == 0, start.stdout[-3000:] + start.stderr[-3000:]
    yield
    subprocess.run(["bash", str(REPO / "tests/slurm/stop.sh")], capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def one_task(tmp_path_factory):
    work = tmp_path_factory.mktemp("slurm")
    cfg = yaml.safe_load((REPO / "tests/workflow/config_tiny.yaml").read_text())
    cfg["tasks"] = {"sst2": cfg["tasks"]["sst2"]}
    cfg["tasks"]["sst2"]["path"] = str(work / "data" / "sst2.jsonl")
    cfg["gpus_per_job"] = 0  # the test node has no GPU: documented CPU fallback
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    subprocess.run([sys.executable, str(REPO / "tests/workflow/make_data.py"), str(work / "data")], check=True)
    return work


def test_profile_runs_real_sbatch_jobs_and_matches_a_local_run(cluster, one_task):
    local, remote = one_task / "local", one_task / "remote"
    cfg = ["--configfile", str(one_task / "config.yaml")]
    # table1 (data, model, signals, NPEFF and baselines, tunings) keeps the scheduler round trips few
    result = run([*cfg, "--cores", "2", "--directory", str(local), "table1"], timeout=900)
    assert result.returncode == 0, result.stdout[-3000:]
    result = run([*cfg, "--cores", "all", "--profile", "slurm", "--directory", str(remote), *TEST_CLUSTER, "table1"],
                 timeout=1500)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "SLURM run ID" in output or "sbatch" in output.lower(), output[-3000:]

    # the jobs went through the scheduler: sacct lists them as completed
    sacct = subprocess.run(["sacct", "-n", "-X", "-P", "-S", "now-2hours", "-o", "JobName,State"],
                           capture_output=True, text=True, check=True).stdout
    assert sum("COMPLETED" in line for line in sacct.splitlines()) >= 5, sacct

    for rel in ("tables/table1.csv", "tiny-llama/tunings/sst2/npeff_c4_s0.csv", "data/sst2/heldout.jsonl"):
        assert (local / "results/tiny" / rel).read_text() == (remote / "results/tiny" / rel).read_text(), rel
    for rel, names in (("tiny-llama/decomp/sst2/npeff_c4_s0.h5", ("W", "H", "loss_history")),
                       ("tiny-llama/pefs/sst2/heldout.h5", ("G",))):
        with h5py.File(local / "results/tiny" / rel) as a, h5py.File(remote / "results/tiny" / rel) as b:
            for name in names:
                np.testing.assert_allclose(a[name][()], b[name][()], rtol=1e-5, atol=1e-6, err_msg=f"{rel}:{name}")


def test_a_gpu_job_on_a_node_without_gpus_is_refused_clearly(cluster, one_task):
    target = "results/tiny/tiny-llama/pefs/sst2/heldin.h5"
    result = run(["--configfile", str(one_task / "config.yaml"), "--config", "gpus_per_job=1", "--cores", "all",
                  "--profile", "slurm", "--directory", str(one_task / "gpu"), *TEST_CLUSTER, target], timeout=600)
    assert result.returncode != 0
    assert "Invalid generic resource (gres) specification" in result.stdout + result.stderr, result.stdout[-3000:]


def test_sharded_signals_run_as_sbatch_jobs_and_gather_to_the_local_unsharded_file(cluster, one_task):
    """SST2's splits cut into shards of 8 examples: one sbatch job per shard (SST2 is Table 4's task,
    so its shards also project into the grid), a gather job, and the same PEFs as one local job."""
    cfg = yaml.safe_load((one_task / "config.yaml").read_text())
    cfg["tasks"]["sst2"]["examples_per_shard"] = 8
    (one_task / "sharded.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/tiny/tiny-llama/pefs/sst2/heldin.h5"
    local, remote = one_task / "local_unsharded", one_task / "sharded"
    result = run(["--configfile", str(one_task / "config.yaml"), "--cores", "2", "--directory", str(local), target],
                 timeout=900)
    assert result.returncode == 0, result.stdout[-3000:]
    test_cluster = list(TEST_CLUSTER)  # a repeated --set-resources would replace the first: extend it
    at = test_cluster.index("--set-resources") + 1
    test_cluster[at:at] = ["projection_signals_shard:mem_mb=2000", "gather_projection_signals:mem_mb=2000"]
    at = test_cluster.index("--set-threads") + 1
    test_cluster[at:at] = ["projection_signals_shard=2"]
    result = run(["--configfile", str(one_task / "sharded.yaml"), "--cores", "all", "--profile", "slurm",
                  "--directory", str(remote), *test_cluster, target], timeout=1500)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # 4 held-in + 4 held-out shards are planned; the target needs the held-in ones and their gather
    assert output.count("rule projection_signals_shard:") >= 4 and "rule gather_projection_signals:" in output
    assert output.count("has been submitted with SLURM jobid") >= 5, output[-3000:]
    with h5py.File(local / target) as a, h5py.File(remote / target) as b:
        for name in ("G", "pef_norms", "log_probs", "preds", "labels", "ids"):
            assert np.array_equal(a[name][()], b[name][()]), name
