"""Seeded sparse projection: the matrix it defines, its adjoint, JL behaviour, CPU == GPU."""
import ctypes
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from npeff.decompose import NPEFF
from npeff.projection import KERNEL_DIR, SparseProjection
from planted import match_components, planted_pefs

MASK = (1 << 64) - 1


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def reference_entry(seed, j, k, s):
    """Output j's entry in region k, as kernels/sparse_projection_core.cuh defines it, re-derived
    with Python integers: block t = j // s shifts region k cyclically by shift(k, t)."""
    key = _mix(seed ^ 0x9E3779B97F4A7C15)
    h = _mix(key ^ (((j // s) << 32) | (k & 0xFFFFFFFF)))
    shift, flip = ((h >> 32) * s) >> 32, 1.0 if h & 1 else -1.0
    offset = (j % s + shift) % s
    region_seed = _mix(_mix(key ^ 0xD1B54A32D192ED03) ^ k) & 0xFFFFFFFF
    return offset, flip * (1.0 if _fmix32(offset ^ region_seed) >> 31 else -1.0)


def reference_dense(p: SparseProjection) -> np.ndarray:
    A = np.zeros((p.out_dim, p.in_dim))
    s = p.region_size
    for j in range(p.out_dim):
        for k in range(p.n_regions):
            offset, sign = reference_entry(p.seed, j, k, s)
            if k * s + offset < p.in_dim:
                A[j, k * s + offset] = sign * math.sqrt(s / p.out_dim)
    return A


@pytest.mark.parametrize("in_dim,out_dim,density,seed", [(103, 64, 8, 1), (50, 16, 32, 2**40 + 3), (257, 96, 4, 0),
                                                         (301, 50, 8, 5)])
def test_dense_matrix_is_the_hash_spec(in_dim, out_dim, density, seed):
    p = SparseProjection(in_dim, out_dim, seed=seed, density=density)
    A = p.dense()
    np.testing.assert_allclose(A, reference_dense(p), rtol=1e-6, atol=0)
    s = p.region_size
    nonzero = A != 0
    # every output has one entry per region (bar the padded tail) ...
    assert set(nonzero.sum(1)) <= {p.n_regions, p.n_regions - 1}
    # ... and every input exactly one per output block (the last, shorter block may miss it)
    n_blocks = -(-out_dim // s)
    for t in range(n_blocks):
        per_block = nonzero[t * s:(t + 1) * s].sum(0)
        assert (per_block == 1).all() if out_dim - t * s >= s else (per_block <= 1).all()


def test_structured_vectors_keep_inner_products_within_jl_tolerance():
    """Shifted regions collide on whole diagonals: for vectors with smooth, sign-coherent entries
    (as gradients of one weight matrix often are) those collisions would add up coherently
    without the per-input signs. With them the errors stay at independent hashing's size."""
    n, d = 40_000, 1024
    t = np.arange(n, dtype=np.float64)
    X = np.stack([np.ones(n), np.cos(t / 500), np.sin(t / 37) + 0.5, (t % 512) / 512, np.cos(t / 3000) ** 2])
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    errors = []
    for seed in range(10):
        Y = SparseProjection(n, d, seed=seed, density=8).project(X)
        errors.append((Y @ Y.T - X @ X.T)[np.triu_indices(len(X))])
    # independent hashing: error std <= sqrt(2/d) for unit vectors
    assert np.std(np.concatenate(errors)) < 1.5 * math.sqrt(2 / d)


def test_project_and_transpose_match_the_dense_matrix():
    p = SparseProjection(1000, 64, seed=3, density=8)
    A = p.dense()
    x = np.random.default_rng(0).standard_normal((5, 1000)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((5, 64)).astype(np.float32)
    np.testing.assert_allclose(p.project(x), x @ A.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(p.transpose(y), y @ A, rtol=1e-4, atol=1e-4)
    # adjoint: <A x, y> = <x, A^T y>
    np.testing.assert_allclose((p.project(x) * y).sum(1), (x * p.transpose(y)).sum(1), rtol=1e-4)


def test_blocks_sum_to_the_whole_and_slices_are_consistent():
    p = SparseProjection(777, 40, seed=9, density=4)
    x = torch.randn(3, 777)
    whole = p.project(x)
    acc = torch.zeros(3, 40)
    for lo, hi in [(0, 5), (5, 300), (300, 301), (301, 777)]:
        p.project(x[:, lo:hi], start=lo, out=acc)
    torch.testing.assert_close(acc, whole, rtol=1e-5, atol=1e-5)
    y = torch.randn(2, 40)
    torch.testing.assert_close(p.transpose(y, start=123, length=200), p.transpose(y)[:, 123:323])
    with pytest.raises(ValueError, match="outside"):
        p.project(x[:, :10], start=770)


@pytest.mark.parametrize("n_rows", [1, 2, 7, 20])
@pytest.mark.parametrize("out_dim", [64, 70])
def test_every_kernel_path_matches_the_dense_matrix_on_unaligned_blocks(n_rows, out_dim):
    """One or several rows, on blocks that start and end inside a region, with a full or a
    shorter last output block."""
    p = SparseProjection(5003, out_dim, seed=7, density=4)  # region_size 16 or 17, ~300 regions
    A = p.dense()
    rng = np.random.default_rng(n_rows)
    x = rng.standard_normal((n_rows, 5003)).astype(np.float32)
    y = rng.standard_normal((n_rows, out_dim)).astype(np.float32)
    acc = np.zeros((n_rows, out_dim), np.float32)
    for lo, hi in [(0, 7), (7, 1500), (1500, 1501), (1501, 5003)]:
        np.testing.assert_allclose(p.project(x[:, lo:hi], start=lo), x[:, lo:hi] @ A[:, lo:hi].T,
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(p.transpose(y, start=lo, length=hi - lo), y @ A[:, lo:hi], rtol=1e-4, atol=1e-4)
        p.project(x[:, lo:hi], start=lo, out=acc)
    np.testing.assert_allclose(acc, x @ A.T, rtol=1e-4, atol=1e-4)


def test_transpose_into_a_buffer_equals_a_fresh_result_and_checks_the_buffer():
    p = SparseProjection(1000, 48, seed=2, density=4)
    y = torch.randn(2, 3, 48)  # leading axes are kept
    for out in (torch.full((2, 3, 300), 7.0), np.full((2, 3, 300), 7.0, np.float32)):
        y_in = y if isinstance(out, torch.Tensor) else y.numpy()
        returned = p.transpose(y_in, start=100, length=300, out=out)
        assert returned is out  # written, not added: the 7s are gone
        np.testing.assert_array_equal(np.asarray(out), np.asarray(p.transpose(y_in, start=100, length=300)))
    with pytest.raises(ValueError, match=r"shape \(2, 3, 300\)"):
        p.transpose(y, start=100, length=300, out=torch.zeros(2, 3, 299))
    with pytest.raises(ValueError, match="float32"):
        p.transpose(y, start=100, length=300, out=torch.zeros(2, 3, 300, dtype=torch.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        p.transpose(y, start=100, length=300, out=torch.zeros(2, 300, 3).transpose(1, 2))
    with pytest.raises(TypeError, match="torch tensor"):
        p.transpose(y, start=100, length=300, out=np.zeros((2, 3, 300), np.float32))


def test_types_batching_and_seeds():
    p = SparseProjection(500, 32, seed=4, density=8)
    x = np.random.default_rng(2).standard_normal((2, 3, 500)).astype(np.float32)
    y_np = p.project(x)
    y_t = p.project(torch.from_numpy(x))
    assert isinstance(y_np, np.ndarray) and isinstance(y_t, torch.Tensor) and y_t.shape == (2, 3, 32)
    np.testing.assert_allclose(y_np, y_t.numpy())
    np.testing.assert_allclose(p.project(x[1, 2]), y_np[1, 2], rtol=1e-5, atol=1e-6)
    assert not np.allclose(SparseProjection(500, 32, seed=5, density=8).project(x), y_np)
    assert SparseProjection.from_attrs(p.attrs()) == p


def test_inner_products_are_preserved_within_jl_tolerance():
    n, d = 50_000, 4096
    rng = np.random.default_rng(5)
    X = rng.standard_normal((20, n)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X[10:] = 0.6 * X[:10] + 0.8 * X[10:]  # correlated pairs, true cosine ~0.6
    Y = SparseProjection(n, d, seed=11).project(X)
    errors = Y @ Y.T - X @ X.T
    # sparse JL: error std ~ sqrt(2/d) for unit vectors; 5 sigma bound
    assert np.abs(errors).max() < 5 * math.sqrt(2 / d)
    # unbiased: the mean squared norm over many seeds is the true one
    x = X[0]
    norms = [np.sum(SparseProjection(n, 256, seed=s).project(x) ** 2) for s in range(200)]
    assert abs(np.mean(norms) - 1.0) < 0.03


def test_invalid_arguments_are_reported():
    with pytest.raises(ValueError, match="in_dim"):
        SparseProjection(0, 10)
    with pytest.raises(ValueError, match="seed"):
        SparseProjection(10, 10, seed=-1)
    with pytest.raises(ValueError, match="last axis"):
        SparseProjection(10, 4).transpose(np.zeros(5))


def test_decomposing_projected_pefs_gives_the_unprojected_coefficients():
    """Appendix C.6: W is (approximately) unchanged by the projection, H' ~ H A^T."""
    G, _, H_true = planted_pefs(m=300, C=5, d=3000, seed=6)
    p = SparseProjection(3000, 512, seed=1)
    fit = dict(n_h_only_steps=100, n_joint_steps=300, h_only_lr=1e-3, joint_lr=1e-2, seed=0)
    plain = NPEFF(5, **fit).fit(G)
    projected = NPEFF(5, **fit).fit(p.project(G))
    best, idx = match_components(projected.H, p.project(plain.H))
    assert (best > 0.95).all()
    for j in range(5):
        corr = np.corrcoef(plain.W[:, j].numpy(), projected.W[:, idx[j]].numpy())[0, 1]
        assert corr > 0.95, (j, corr)


# ------------------------------------------------------------ the CUDA sources
HARNESS = r"""
#include "sparse_projection_core.cuh"
extern "C" void entries(npeff_u64 seed, long long out_dim, long long n_regions, long long s,
                        long long* offsets, float* signs) {
    npeff_u64 key = npeff_seed_key(seed);
    for (long long j = 0; j < out_dim; ++j)
        for (long long k = 0; k < n_regions; ++k) {
            npeff_u64 off; float sign;
            npeff_entry(key, j, k, s, &off, &sign);
            offsets[j * n_regions + k] = (long long)off; signs[j * n_regions + k] = sign;
        }
}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_cuda_header_hash_equals_the_cpu_twin(tmp_path):
    """The header the GPU kernel includes, compiled for the host, gives the CPU twin's matrix."""
    (tmp_path / "harness.cpp").write_text(HARNESS)
    lib = tmp_path / "harness.so"
    subprocess.run(["g++", "-O1", "-shared", "-fPIC", f"-I{KERNEL_DIR}", str(tmp_path / "harness.cpp"),
                    "-o", str(lib)], check=True)
    p = SparseProjection(5000, 300, seed=12345, density=16)
    offsets = np.zeros((p.out_dim, p.n_regions), np.int64)
    signs = np.zeros((p.out_dim, p.n_regions), np.float32)
    ctypes.CDLL(str(lib)).entries(ctypes.c_uint64(p.seed), ctypes.c_longlong(p.out_dim),
                                  ctypes.c_longlong(p.n_regions), ctypes.c_longlong(p.region_size),
                                  offsets.ctypes.data_as(ctypes.c_void_p), signs.ctypes.data_as(ctypes.c_void_p))
    from npeff import _cpu_projection as cpu
    ref_offsets, ref_signs = cpu.entry_table(np.uint64(p.key), p.out_dim, p.n_regions, p.region_size)
    np.testing.assert_array_equal(offsets, ref_offsets)
    np.testing.assert_array_equal(signs, ref_signs)


# The kernels compiled for the host: blockIdx / threadIdx become globals and a loop runs every
# thread of the launch's grid in turn. The kernels share no memory between threads (no shared
# memory, no atomics: each writes its own outputs), so this runs exactly their arithmetic.
EMULATOR = r"""
#include <algorithm>
struct npeff_index3 { unsigned int x, y, z; };
static npeff_index3 blockIdx, threadIdx, blockDim;
#define __global__
using std::min;
#include "sparse_projection_core.cuh"
#include "sparse_projection.cu"
extern "C" void emulate(int forward, const float* in, float* out, long long n_rows, long long length,
                        long long start, long long out_dim, long long s, npeff_u64 key, float scale,
                        long long regions_per_chunk, long long gx, long long gy, long long gz, long long threads) {
    blockDim = {(unsigned)threads, 1, 1};
    for (long long z = 0; z < gz; ++z) for (long long y = 0; y < gy; ++y) for (long long x = 0; x < gx; ++x)
        for (long long t = 0; t < threads; ++t) {
            blockIdx = {(unsigned)x, (unsigned)y, (unsigned)z};
            threadIdx = {(unsigned)t, 0, 0};
            if (forward) project_forward(in, out, n_rows, length, start, out_dim, s, key, scale, regions_per_chunk);
            else project_transpose(in, out, n_rows, length, start, out_dim, s, key, scale);
        }
}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
@pytest.mark.parametrize("in_dim,out_dim,density,rows", [(5003, 64, 4, 1), (20_011, 300, 8, 11), (999, 50, 8, 3)])
def test_cuda_kernels_emulated_on_the_host_equal_the_cpu_twin(tmp_path, in_dim, out_dim, density, rows):
    """Every thread of the GPU kernels, with the launch configuration the GPU path uses, on
    whole inputs and on blocks that start and end inside a region."""
    import npeff.projection as projection

    (tmp_path / "emulator.cpp").write_text(EMULATOR)
    lib_path = tmp_path / "emulator.so"
    subprocess.run(["g++", "-O2", "-shared", "-fPIC", "-x", "c++", f"-I{KERNEL_DIR}", str(tmp_path / "emulator.cpp"),
                    "-o", str(lib_path)], check=True)
    lib = ctypes.CDLL(str(lib_path))
    p = SparseProjection(in_dim, out_dim, seed=31, density=density)
    rng = np.random.default_rng(rows)

    def run(direction, a, start, length):
        launch = projection._cuda_launch(p, direction, a.shape[0], start, length)
        out = np.zeros(launch.output_shape, np.float32)
        n_rows, length_, start_, out_dim_, s, key, scale = launch.args[:7]
        rpc = launch.args[7] if direction == "forward" else 0
        lib.emulate(ctypes.c_int(direction == "forward"), np.ascontiguousarray(a).ctypes.data_as(ctypes.c_void_p),
                    out.ctypes.data_as(ctypes.c_void_p), *map(ctypes.c_longlong, (n_rows, length_, start_, out_dim_, s)),
                    ctypes.c_uint64(int(key)), ctypes.c_float(scale), ctypes.c_longlong(int(rpc)),
                    *map(ctypes.c_longlong, launch.grid), ctypes.c_longlong(launch.block[0]))
        return out.sum(0) if direction == "forward" else out

    x = rng.standard_normal((rows, in_dim)).astype(np.float32)
    y = rng.standard_normal((rows, out_dim)).astype(np.float32)
    for lo, hi in [(0, in_dim), (0, 7), (7, in_dim // 2 + 1), (in_dim // 2 + 1, in_dim)]:
        np.testing.assert_allclose(run("forward", x[:, lo:hi], lo, hi - lo), p.project(x[:, lo:hi], start=lo),
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(run("transpose", y, lo, hi - lo), p.transpose(y, start=lo, length=hi - lo),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
def test_cuda_kernels_compile(tmp_path):
    source = tmp_path / "kernels.cu"
    source.write_text((KERNEL_DIR / "sparse_projection_core.cuh").read_text()
                      + (KERNEL_DIR / "sparse_projection.cu").read_text())
    subprocess.run(["nvcc", "-ptx", "-std=c++14", str(source), "-o", str(tmp_path / "kernels.ptx")], check=True)
    ptx = (tmp_path / "kernels.ptx").read_text()
    assert "project_forward" in ptx and "project_transpose" in ptx


def _nvrtc_library():
    """libnvrtc from the pip wheel nvidia-cuda-nvrtc-cu12 (NVRTC is what cupy.RawModule compiles
    with; it needs no GPU), or None."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
    except ModuleNotFoundError:  # no nvidia namespace package at all
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("lib/libnvrtc.so.*"))
    return found[0] if found else None


@pytest.mark.skipif(_nvrtc_library() is None, reason="needs the nvidia-cuda-nvrtc-cu12 wheel")
def test_cuda_kernels_compile_with_nvrtc():
    """The source _cuda_module hands to cupy.RawModule, compiled for a Hopper GPU without one."""
    lib = ctypes.CDLL(str(_nvrtc_library()))
    source = ((KERNEL_DIR / "sparse_projection_core.cuh").read_text()
              + (KERNEL_DIR / "sparse_projection.cu").read_text()).encode()
    program = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(program), source, b"kernels.cu", 0, None, None) == 0
    options = (ctypes.c_char_p * 2)(b"--std=c++14", b"--gpu-architecture=compute_90")
    status = lib.nvrtcCompileProgram(program, 2, options)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(program, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(program, log)
    assert status == 0, log.value.decode()
    lib.nvrtcGetPTXSize(program, ctypes.byref(size))
    ptx = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetPTX(program, ptx)
    assert b".entry project_forward" in ptx.value and b".entry project_transpose" in ptx.value


def _cupy_cuda():
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cupy_cuda(), reason="needs CUDA and CuPy")
@pytest.mark.parametrize("in_dim,out_dim,density,rows", [(100_003, 1024, 32, 1), (250_000, 8192, 32, 13), (999, 50, 8, 9), (30_000, 20_000, 1, 3)])
def test_cupy_kernel_equals_cpu_twin(in_dim, out_dim, density, rows):
    p = SparseProjection(in_dim, out_dim, seed=77, density=density)
    x = torch.randn(rows, in_dim)
    y = torch.randn(rows, out_dim)
    torch.testing.assert_close(p.project(x.cuda()).cpu(), p.project(x), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(p.transpose(y.cuda()).cpu(), p.transpose(y), rtol=1e-4, atol=1e-4)
    split = in_dim // 2 + 1  # a block boundary inside a region
    acc = torch.zeros(rows, out_dim, device="cuda")
    p.project(x[:, :split].cuda(), out=acc)
    p.project(x[:, split:].cuda(), start=split, out=acc)
    torch.testing.assert_close(acc.cpu(), p.project(x), rtol=1e-4, atol=1e-4)
    block = p.transpose(y.cuda(), start=split, length=in_dim - split)  # [rows, in_dim - split]
    torch.testing.assert_close(block.cpu(), p.transpose(y)[:, split:], rtol=1e-4, atol=1e-4)
