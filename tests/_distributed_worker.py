"""Worker for test_distributed: fits NPEFF on its slice of the examples under gloo."""
import sys

import torch
import torch.distributed as dist

from npeff.decompose import NPEFF
from planted import planted_pefs


def main(rank: int, world: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    G, _, _ = planted_pefs(m=101, C=4, d=40, seed=7)
    bounds = [0, 60, 101]  # uneven slices on purpose
    mine = G[bounds[rank]:bounds[rank + 1]]
    result = NPEFF(4, n_h_only_steps=20, n_joint_steps=40, h_only_lr=1e-3, joint_lr=1e-2, chunk_size=16).fit(mine)
    torch.save({"W": result.W, "H": result.H, "loss": result.loss_history}, f"{out}.{rank}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
