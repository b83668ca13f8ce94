"""Seeded sparse random projection (paper Appendix A), never materialised.

A [out_dim, in_dim], with s = region_size = out_dim // density: the input is cut
into regions of s consecutive entries, the output into blocks of s consecutive
entries (density blocks when density divides out_dim). Within output block t,
region k is cyclically shifted by a hashed shift(k, t) and multiplied by a hashed
sign flip(k, t) and by hashed per-input signs: output t*s + i takes region k's
entry at offset (i + shift(k, t)) mod s. So every output takes one entry of every
region and every input lands in exactly one output per block: the block
construction of sparse JL (Kane & Nelson 2014), with shifts for its hash. The
scale sqrt(s / out_dim) makes E[<Ax, Ay>] = <x, y> (the last region is
zero-padded, so the expectation holds for every entry); the diagonal terms are
exact (each input lands in density outputs, not in a random number of them).

Why shifts: a region's contribution to a block is then one contiguous
multiply-add, and hashing is per region and block, not per entry. The first
version hashed every (output, region) pair (density hashes per input entry) and
ran ~18x slower on the CPU (README, "The sparse random projection").
Two shifted regions collide on whole diagonals; the per-input signs make those
collisions independent terms, so <Ax, Ay> has the variance of independent hashing.

CPU arrays go through the numba twin (npeff/_cpu_projection.py), CUDA tensors
through the CuPy RawModule kernel (kernels/sparse_projection.cu); both hash
with kernels/sparse_projection_core.cuh, so the matrix is the same.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numba
import numpy as np
import torch

from npeff import _cpu_projection as cpu

KERNEL_DIR = Path(__file__).resolve().parent.parent / "kernels"
VERSION = 2  # of the matrix's construction: 1 hashed every (output, region) pair; 2 shifts regions
_DENSE_LIMIT = 2**28  # entries (1 GiB); dense() is for tests and small references


@dataclass(frozen=True)
class SparseProjection:
    """The seeded sparse projection R^in_dim -> R^out_dim.

    Parameters
    ----------
    in_dim : number of input entries n (e.g. selected model parameters).
    out_dim : projected dimension d.
    seed : defines the matrix; the same seed gives the same matrix on CPU and GPU.
    density : average number of outputs each input entry lands in (paper: 32).
        region_size = max(1, out_dim // density); with out_dim <= density the
        matrix is a dense Rademacher matrix.
    """

    in_dim: int
    out_dim: int
    seed: int = 0
    density: int = 32

    def __post_init__(self):
        for name in ("in_dim", "out_dim", "density"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"SparseProjection.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, (int, np.integer)) or not 0 <= self.seed < 2**63:
            raise ValueError(f"SparseProjection.seed must be an integer in [0, 2**63), got {self.seed!r}")
        if self.out_dim >= 2**32 or self.n_regions >= 2**32:
            raise ValueError("SparseProjection supports out_dim and region counts below 2**32")

    @property
    def region_size(self) -> int:
        return max(1, self.out_dim // self.density)

    @property
    def n_regions(self) -> int:
        return -(-self.in_dim // self.region_size)

    @property
    def scale(self) -> float:
        return math.sqrt(self.region_size / self.out_dim)

    @property
    def key(self) -> int:
        return int(cpu.seed_key(self.seed))

    def attrs(self) -> dict:
        """Everything that defines the matrix, for HDF5 attributes (with the construction's version)."""
        return {**{f"projection_{k}": int(v) for k, v in asdict(self).items()}, "projection_version": VERSION}

    @classmethod
    def from_attrs(cls, attrs) -> "SparseProjection":
        version = int(attrs.get("projection_version", 1))
        if version != VERSION:
            raise ValueError(f"these projected signals were made with version {version} of the sparse projection, "
                             f"this code defines version {VERSION}: a different matrix; recompute them with this code")
        return cls(**{k: int(attrs[f"projection_{k}"]) for k in ("in_dim", "out_dim", "seed", "density")})

    # ------------------------------------------------------------------ apply
    def project(self, x, *, start: int = 0, out=None):
        """A x over the last axis: x [..., length] -> [..., out_dim].

        x holds input columns [start, start + length); projecting the blocks of
        a vector one at a time and summing gives the projection of the whole
        vector. If `out` [..., out_dim] is given the result is added to it.
        Accepts numpy arrays and torch tensors (CPU or CUDA); returns the same kind.
        """
        length = x.shape[-1]
        self._check_block(start, length, "project")
        y = self._apply("forward", x, start, length).reshape(*x.shape[:-1], self.out_dim)
        if out is None:
            return y
        out += y
        return out

    def transpose(self, y, *, start: int = 0, length: int | None = None, out=None):
        """A^T y over the last axis: y [..., out_dim] -> [..., length].

        Returns input columns [start, start + length) (default: all of them). If `out`
        [..., length] (float32, C-contiguous, the same kind and device as y) is given, the
        result is written into it (not added) and `out` is returned: iterations over all n
        parameters (FPC) then reuse one buffer instead of allocating and page-faulting n floats
        per call.
        """
        if y.shape[-1] != self.out_dim:
            raise ValueError(f"transpose expects last axis {self.out_dim}, got shape {tuple(y.shape)}")
        length = self.in_dim - start if length is None else length
        self._check_block(start, length, "transpose")
        if out is not None:
            _check_out(out, (*y.shape[:-1], length), y)
        result = self._apply("transpose", y, start, length, out=out)
        return out if out is not None else result.reshape(*y.shape[:-1], length)

    def _apply(self, direction: str, a, start: int, length: int, out=None):
        """One kernel on `a` flattened to rows: [rows, in_width] -> [rows, out_width], where the
        widths are (length, out_dim) forward and (out_dim, length) transposed. CUDA tensors go
        to the CuPy kernel; everything else to the numba twin. out: transposed only, checked by
        the caller."""
        if isinstance(a, torch.Tensor) and a.is_cuda:
            result = _cuda_apply(self, direction, a.detach().reshape(-1, a.shape[-1]), start, length)
            return result if out is None else out.copy_(result.reshape(out.shape))
        a2 = np.ascontiguousarray(_as_numpy_2d(a, a.shape[-1]))  # [rows, width]
        args = (np.uint64(self.key), np.float32(self.scale))
        tile = max(1, _TILE_FLOATS // self.region_size)
        if direction == "forward":
            result = np.zeros((a2.shape[0], self.out_dim), np.float32)
            cpu.forward(a2, start, self.out_dim, self.region_size, *args, result, numba.get_num_threads(), tile)
        else:
            if out is None:
                result = np.empty((a2.shape[0], length), np.float32)
            else:  # a view of out's memory, [rows, length]
                result = (out.numpy() if isinstance(out, torch.Tensor) else out).reshape(a2.shape[0], length)
            cpu.transpose(a2, start, length, self.region_size, *args, result, numba.get_num_threads(), tile)
        return torch.from_numpy(result) if isinstance(a, torch.Tensor) else result

    def dense(self) -> np.ndarray:
        """The matrix itself, [out_dim, in_dim] float32 (small sizes only)."""
        if self.out_dim * self.in_dim > _DENSE_LIMIT:
            raise ValueError(f"dense() would hold {self.out_dim * self.in_dim} entries (limit {_DENSE_LIMIT})")
        return self.csr().toarray()

    def csr(self):
        """The matrix as a materialised scipy.sparse CSR matrix (references and debugging)."""
        import scipy.sparse

        offsets, signs = cpu.entry_table(np.uint64(self.key), self.out_dim, self.n_regions, self.region_size)
        cols = np.arange(self.n_regions)[None, :] * self.region_size + offsets  # [out_dim, n_regions]
        rows = np.broadcast_to(np.arange(self.out_dim)[:, None], cols.shape)
        keep = cols < self.in_dim  # the padded tail of the last region
        return scipy.sparse.csr_matrix((signs[keep] * np.float32(self.scale), (rows[keep], cols[keep])),
                                       shape=(self.out_dim, self.in_dim), dtype=np.float32)

    def columns(self, indices, device="cpu") -> torch.Tensor:
        """The columns `indices` of A as a sparse COO tensor [out_dim, len(indices)] (float32, coalesced).

        indices: distinct input positions, in any order (the result's columns follow it).
        Costs one pass over the outputs per touched region; used by FPC's working sets."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self.in_dim):
            raise ValueError(f"columns: indices must lie in [0, {self.in_dim})")
        order = np.argsort(indices, kind="stable")
        if indices.size and (np.diff(indices[order]) == 0).any():
            raise ValueError("columns: indices must be distinct")
        rows, positions, signs = cpu.column_entries(np.uint64(self.key), self.out_dim, self.region_size,
                                                    indices[order])
        coo = torch.sparse_coo_tensor(torch.from_numpy(np.stack([rows, order[positions]])),
                                      torch.from_numpy(signs * np.float32(self.scale)), (self.out_dim, indices.size),
                                      dtype=torch.float32, check_invariants=False)
        return coo.coalesce().to(device)

    def _check_block(self, start: int, length: int, what: str) -> None:
        if start < 0 or length < 1 or start + length > self.in_dim:
            raise ValueError(f"{what}: columns [{start}, {start + length}) fall outside the input "
                             f"dimension {self.in_dim} of this projection")


_TILE_FLOATS = 8192  # CPU kernels: the input signs of this many entries' regions are hashed at once (32 KB)


def _check_out(out, shape: tuple, like) -> None:
    """`out` must be a float32 C-contiguous buffer of `shape`, of the same kind (array or tensor,
    and device) as `like`: the kernel writes through it."""
    if isinstance(like, torch.Tensor) != isinstance(out, torch.Tensor):
        raise TypeError(f"out must be a {'torch tensor' if isinstance(like, torch.Tensor) else 'numpy array'} "
                        f"like the input, got {type(out).__name__}")
    device_ok = not isinstance(out, torch.Tensor) or out.device == like.device
    contiguous = out.is_contiguous() if isinstance(out, torch.Tensor) else out.flags.c_contiguous
    dtype_ok = out.dtype == (torch.float32 if isinstance(out, torch.Tensor) else np.float32)
    if tuple(out.shape) != tuple(shape) or not (device_ok and contiguous and dtype_ok):
        raise ValueError(f"out must be a C-contiguous float32 buffer of shape {tuple(shape)} on the input's device, "
                         f"got shape {tuple(out.shape)}, dtype {out.dtype}")


def _as_numpy_2d(a, length: int) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().to("cpu", torch.float32).numpy()
    return np.asarray(a, dtype=np.float32).reshape(-1, length)


# ------------------------------------------------------------------ CUDA path
_MAX_CHUNKS = 256  # forward: at most this many partial outputs per call ([chunks, rows, out_dim] floats)
_MIN_REGIONS_PER_CHUNK = 64  # and at least this many regions hashed per thread
_PARTIAL_FLOATS = 2**26  # and at most 256 MB of partial outputs


@lru_cache(maxsize=None)
def _cuda_module():
    try:
        import cupy
    except ImportError as err:  # pragma: no cover - depends on the machine
        raise ImportError("Projecting CUDA tensors needs CuPy (pip install cupy-cuda12x); "
                          "move the tensor to the CPU to use the numba twin instead") from err
    source = (KERNEL_DIR / "sparse_projection_core.cuh").read_text() + \
        (KERNEL_DIR / "sparse_projection.cu").read_text().replace('#include "sparse_projection_core.cuh"', "")
    return cupy.RawModule(code=source, options=("--std=c++14",))


_THREADS = 128  # per CUDA block
_ROWS_PER_THREAD = 8  # ROWS_PER_THREAD in kernels/sparse_projection.cu


@dataclass(frozen=True)
class _Launch:
    """One kernel launch: the output buffer's shape ([chunks, rows, out_dim] partial sums forward,
    [rows, length] transposed), grid, block and the arguments after (input, output)."""

    kernel: str
    output_shape: tuple
    grid: tuple
    block: tuple
    args: tuple


def _cuda_launch(proj: SparseProjection, direction: str, n_rows: int, start: int, length: int) -> _Launch:
    """The launch configuration, apart from the GPU so a host emulation of the kernels
    (tests/test_projection.py) runs exactly what the GPU runs."""
    common = (np.int64(n_rows), np.int64(length), np.int64(start), np.int64(proj.out_dim),
              np.int64(proj.region_size), np.uint64(proj.key), np.float32(proj.scale))
    row_groups = -(-n_rows // _ROWS_PER_THREAD)
    if direction == "forward":
        # chunks of regions, summed after: enough threads for the GPU, in a fixed order
        k_first = start // proj.region_size
        n_regions = (start + length - 1) // proj.region_size - k_first + 1  # regions the block touches
        max_chunks = max(1, min(_MAX_CHUNKS, _PARTIAL_FLOATS // (n_rows * proj.out_dim)))
        regions_per_chunk = max(_MIN_REGIONS_PER_CHUNK, -(-n_regions // max_chunks))
        n_chunks = -(-n_regions // regions_per_chunk)
        return _Launch("project_forward", (n_chunks, n_rows, proj.out_dim),
                       (-(-proj.out_dim // _THREADS), row_groups, n_chunks), (_THREADS, 1, 1),
                       common + (np.int64(regions_per_chunk),))
    return _Launch("project_transpose", (n_rows, length), (-(-length // _THREADS), row_groups, 1), (_THREADS, 1, 1),
                   common)


def _cuda_apply(proj: SparseProjection, direction: str, a: torch.Tensor, start: int, length: int):
    """Launch one kernel on a [n_rows, *] CUDA tensor; returns a torch tensor."""
    import cupy

    module = _cuda_module()
    a = a.to(torch.float32).contiguous()
    launch = _cuda_launch(proj, direction, a.shape[0], start, length)
    out = torch.empty(launch.output_shape, dtype=torch.float32, device=a.device)
    stream = cupy.cuda.ExternalStream(torch.cuda.current_stream(a.device).cuda_stream)
    with cupy.cuda.Device(a.device.index), stream:
        module.get_function(launch.kernel)(launch.grid, launch.block, (cupy.asarray(a), cupy.asarray(out)) + launch.args)
    return out.sum(0) if direction == "forward" else out
