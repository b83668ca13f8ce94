"""The torchrun entry point of the decompose rule equals a one-process decomposition."""
import json
import os
import subprocess
import sys

import numpy as np
import torch

from npeff import io
from npeff.decompose import NPEFF
from planted import planted_pefs


def test_torchrun_two_processes_equal_one(tmp_path):
    G, _, _ = planted_pefs(m=90, C=3, d=30, seed=11)
    pefs = io.write_pefs(tmp_path / "p.h5", G, torch.ones(90), torch.log_softmax(torch.randn(90, 3), 1),
                         torch.zeros(90, dtype=torch.long), {"projection_seed": 0})
    kwargs = {"n_components": 3, "n_h_only_steps": 10, "n_joint_steps": 30, "h_only_lr": 1e-3, "joint_lr": 1e-2,
              "chunk_size": 16, "seed": 2}
    out = tmp_path / "d.h5"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    "-m", "npeff.distributed", str(pefs), str(out), json.dumps(kwargs),
                    json.dumps({"method": "npeff"})],
                   check=True, env=env, timeout=300)
    arrays, attrs = io.read_decomposition(out)
    single = NPEFF(3, n_h_only_steps=10, n_joint_steps=30, h_only_lr=1e-3, joint_lr=1e-2, chunk_size=16, seed=2).fit(G)
    assert attrs["n_processes"] == 2 and attrs["projection_seed"] == 0 and attrs["method"] == "npeff"
    np.testing.assert_allclose(arrays["H"], single.H.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(arrays["W"], single.W.numpy(), rtol=1e-4, atol=1e-5)


def test_subprocesses_of_the_rule_scripts_import_npeff_from_the_repository(tmp_path):
    """A torchrun worker started by scripts/decompose.py, from another working directory, with no
    install of npeff: `python -S` skips the site hooks (the editable install's .pth), so npeff
    comes only from PYTHONPATH."""
    import sysconfig
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from _common import subprocess_env

    site_packages = sysconfig.get_paths()["purelib"]  # torch, numpy...: not npeff
    command = [sys.executable, "-S", "-c", "import npeff.distributed, npeff; print(npeff.__file__)"]
    without = subprocess.run(command, cwd=tmp_path, env={**os.environ, "PYTHONPATH": site_packages},
                             capture_output=True, text=True)
    assert without.returncode != 0 and "No module named 'npeff'" in without.stderr
    with_repo = subprocess.run(command, cwd=tmp_path, env=subprocess_env({**os.environ, "PYTHONPATH": site_packages}),
                               capture_output=True, text=True)
    assert with_repo.returncode == 0, with_repo.stderr[-2000:]
    assert Path(with_repo.stdout.strip()).parent.parent == Path(__file__).resolve().parent.parent
