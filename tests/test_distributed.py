"""Multi-process decomposition (Appendix C.3) equals the single-process result."""
import os
import subprocess
import sys
from pathlib import Path

import torch

from npeff.decompose import NPEFF
from planted import planted_pefs

HERE = Path(__file__).parent


def test_two_gloo_processes_equal_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    init, out = tmp_path / "init", tmp_path / "result"
    procs = [subprocess.Popen([sys.executable, str(HERE / "_distributed_worker.py"), str(r), "2", str(init), str(out)],
                              env=env) for r in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0
    parts = [torch.load(f"{out}.{r}") for r in range(2)]

    G, _, _ = planted_pefs(m=101, C=4, d=40, seed=7)
    single = NPEFF(4, n_h_only_steps=20, n_joint_steps=40, h_only_lr=1e-3, joint_lr=1e-2, chunk_size=16).fit(G)
    torch.testing.assert_close(parts[0]["H"], single.H, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(parts[1]["H"], single.H, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.cat([parts[0]["W"], parts[1]["W"]]), single.W, rtol=1e-4, atol=1e-5)
    assert parts[0]["loss"] == parts[1]["loss"]
    torch.testing.assert_close(torch.tensor(parts[0]["loss"]), torch.tensor(single.loss_history), rtol=1e-4, atol=1e-6)
