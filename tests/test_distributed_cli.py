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
    settings = {"n_components": 3, "h_only_steps": 10, "joint_steps": 30, "h_only_lr": 1e-3, "joint_lr": 1e-2,
                "chunk_size": 16, "seed": 2, "method": "npeff"}
    out = tmp_path / "d.h5"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    "-m", "npeff.distributed", str(pefs), str(out), json.dumps(settings)],
                   check=True, env=env, timeout=300)
    arrays, attrs = io.read_decomposition(out)
    single = NPEFF(3, n_h_only_steps=10, n_joint_steps=30, h_only_lr=1e-3, joint_lr=1e-2, chunk_size=16, seed=2).fit(G)
    assert attrs["n_processes"] == 2 and attrs["projection_seed"] == 0
    np.testing.assert_allclose(arrays["H"], single.H.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(arrays["W"], single.W.numpy(), rtol=1e-4, atol=1e-5)
