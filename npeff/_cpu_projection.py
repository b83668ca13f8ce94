"""CPU twin of kernels/sparse_projection.cu, compiled with numba.

The hashes below are line-for-line copies of kernels/sparse_projection_core.cuh;
tests/test_projection.py compiles that header with g++ and checks both agree
entry for entry, so the CPU and GPU matrices are the same matrix.

Why the kernels are fast: within an output block every region is one cyclic shift, so
a region's contribution to a block is a contiguous multiply-add of s floats (vectorised,
in L1), and the hashing is per region, not per entry: one 64-bit hash per (region,
block) and one 32-bit hash per input (vectorised), shared by every row of a call.
"""
from __future__ import annotations

import numba
import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SIGN_DOMAIN = np.uint64(0xD1B54A32D192ED03)
_LOW32 = np.uint64(0xFFFFFFFF)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_ONE = np.uint64(1)


@numba.njit(cache=True, inline="always")
def mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(cache=True, inline="always")
def fmix32(h):
    # every step cast back to 32 bits: numba widens uint32 arithmetic to 64 bits
    h = np.uint32(h ^ (h >> np.uint32(16)))
    h = np.uint32(h * np.uint32(0x85EBCA6B))
    h = np.uint32(h ^ (h >> np.uint32(13)))
    h = np.uint32(h * np.uint32(0xC2B2AE35))
    return np.uint32(h ^ (h >> np.uint32(16)))


@numba.njit(cache=True)
def seed_key(seed):
    return mix64(np.uint64(seed) ^ _GOLDEN)


@numba.njit(cache=True, inline="always")
def sign_key(key):
    return mix64(key ^ _SIGN_DOMAIN)


@numba.njit(cache=True, inline="always")
def shift(key, k, t, region_size):
    """(cyclic shift in [0, region_size), sign) of region k within output block t."""
    h = mix64(key ^ ((np.uint64(t) << _S32) | (np.uint64(k) & _LOW32)))
    return (np.int64(((h >> _S32) * np.uint64(region_size)) >> _S32),
            np.float32(2.0) * np.float32(h & _ONE) - np.float32(1.0))


@numba.njit(cache=True, inline="always")
def input_sign(region_seed, offset):
    """Sign of the input at `offset` of the region whose sign seed is `region_seed`."""
    return np.float32(np.int32(fmix32(np.uint32(offset) ^ region_seed) >> np.uint32(31)) * 2 - 1)


@numba.njit(cache=True, inline="always")
def region_sign_seed(skey, k):
    return np.uint32(mix64(skey ^ np.uint64(k)) & _LOW32)


@numba.njit(cache=True, inline="always")
def region_parameters(key, skey, k, region_size, signs, shifts, flips):
    """Region k's input signs [region_size] and its shift and sign in every output block."""
    seed = region_sign_seed(skey, k)
    for o in range(region_size):
        signs[o] = input_sign(seed, o)
    for t in range(shifts.shape[0]):
        shifts[t], flips[t] = shift(key, k, t, region_size)


@numba.njit(cache=True)
def entry_table(key, out_dim, n_regions, region_size):
    """Dense (offset, sign) tables [out_dim, n_regions]; for tests and references."""
    skey = sign_key(key)
    offsets = np.empty((out_dim, n_regions), np.int64)
    signs = np.empty((out_dim, n_regions), np.float32)
    for k in range(n_regions):
        seed = region_sign_seed(skey, k)
        for j in range(out_dim):
            b, flip = shift(key, k, j // region_size, region_size)
            offsets[j, k] = (j % region_size + b) % region_size
            signs[j, k] = flip * input_sign(seed, offsets[j, k])
    return offsets, signs


@numba.njit(cache=True, inline="always")
def _chunk_bounds(start, length, region_size, n_threads):
    k_first = start // region_size
    n_regions = (start + length - 1) // region_size - k_first + 1
    return k_first, n_regions, min(n_threads, n_regions)


_GROUP = 4  # regions (forward) or output blocks (transpose) summed per pass over a block


@numba.njit(cache=True, inline="always")
def _signed_twice(row, base, s, length, sign, doubled):
    """doubled [2s] = region (row[base:base+s] * sign) written twice, so that every cyclic
    shift is the contiguous slice doubled[shift:shift+s]; entries outside [0, length) are 0."""
    lo, hi = max(base, 0), min(base + s, length)
    if lo > base or hi < base + s:  # a region shared with the neighbouring blocks
        doubled[:] = 0.0
        for col in range(lo, hi):
            doubled[col - base] = sign[col - base] * row[col]
            doubled[col - base + s] = doubled[col - base]
    else:
        region = row[base:base + s]
        for o in range(s):
            v = sign[o] * region[o]
            doubled[o] = v
            doubled[o + s] = v


@numba.njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def forward(x, start, out_dim, region_size, key, scale, y, n_threads, regions_per_tile):
    """y[r, :] += scale * A[:, start:start+length] x[r, :].

    x: [n_rows, length] float32 (C order), columns [start, start+length) of the input, in the
    layout a gradient block is produced in. y: [n_rows, out_dim] float32, accumulated into.
    With at least n_threads rows each thread owns a range of rows (and adds them into y
    itself); with fewer, each owns a range of regions and a private accumulator [n_rows,
    out_dim], summed into y after. A private accumulator per thread costs as much to zero and
    sum as projecting out_dim entries of every row, which is most of the work for the short
    input blocks that fit in the cache.
    Per tile of `regions_per_tile` regions a thread hashes once; then, row by row (so that the
    row's accumulator stays in cache for the whole tile), it writes each signed region twice
    into a buffer (every cyclic shift is then a contiguous slice of it) and adds _GROUP regions'
    slices into each output block in one pass: one load and store of the accumulator per
    _GROUP multiply-adds, which is what the loop is bound by.
    """
    n_rows, length = x.shape
    s = region_size
    n_blocks = -(-out_dim // s)
    skey = sign_key(key)
    k_first, n_regions, n_chunks = _chunk_bounds(start, length, s, n_threads)
    row_chunks, region_chunks = (min(n_threads, n_rows), 1) if n_rows >= n_threads else (1, n_chunks)
    partial = np.zeros((region_chunks if region_chunks > 1 else 0, n_rows, out_dim), np.float32)
    for task in numba.prange(row_chunks * region_chunks):
        rc, kc = task // region_chunks, task % region_chunks
        r_lo, r_hi = (n_rows * rc) // row_chunks, (n_rows * (rc + 1)) // row_chunks
        acc = np.zeros((r_hi - r_lo, out_dim), np.float32)  # [rows of this task, out_dim]
        signs = np.empty((regions_per_tile, s), np.float32)
        shifts = np.zeros((regions_per_tile + _GROUP, n_blocks), np.int64)
        flips = np.zeros((regions_per_tile + _GROUP, n_blocks), np.float32)  # 0 past the tile's end
        doubled = np.zeros((_GROUP, 2 * s), np.float32)
        k_hi = k_first + (n_regions * (kc + 1)) // region_chunks
        for k0 in range(k_first + (n_regions * kc) // region_chunks, k_hi, regions_per_tile):
            n_tile = min(regions_per_tile, k_hi - k0)
            for i in range(n_tile):
                region_parameters(key, skey, k0 + i, s, signs[i], shifts[i], flips[i])
            flips[n_tile:] = 0.0
            for r in range(r_lo, r_hi):
                row_acc = acc[r - r_lo]  # 1-D slices of rows: numba vectorises them
                row = x[r]
                for i in range(0, n_tile, _GROUP):
                    for g in range(_GROUP):
                        if i + g < n_tile:
                            _signed_twice(row, (k0 + i + g) * s - start, s, length, signs[i + g], doubled[g])
                    d0, d1, d2, d3 = doubled[0], doubled[1], doubled[2], doubled[3]
                    for t in range(n_blocks):
                        first = t * s
                        width = min(s, out_dim - first)
                        target = row_acc[first:first + width]
                        s0 = d0[shifts[i, t]:shifts[i, t] + width]
                        s1 = d1[shifts[i + 1, t]:shifts[i + 1, t] + width]
                        s2 = d2[shifts[i + 2, t]:shifts[i + 2, t] + width]
                        s3 = d3[shifts[i + 3, t]:shifts[i + 3, t] + width]
                        f0, f1, f2, f3 = flips[i, t], flips[i + 1, t], flips[i + 2, t], flips[i + 3, t]
                        for j in range(width):
                            target[j] += f0 * s0[j] + f1 * s1[j] + f2 * s2[j] + f3 * s3[j]
        if region_chunks == 1:  # this task's rows are whole: add them into y here, in parallel
            for r in range(r_lo, r_hi):
                for j in range(out_dim):
                    y[r, j] += scale * acc[r - r_lo, j]
        else:
            partial[kc] = acc
    for c in range(partial.shape[0]):  # fewer rows than threads: a few rows to sum
        for r in range(n_rows):
            for j in range(out_dim):
                y[r, j] += scale * partial[c, r, j]


@numba.njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def transpose(y, start, length, region_size, key, scale, x, n_threads, regions_per_tile):
    """x[r, :] = scale * A[:, start:start+length]^T y[r, :].

    y: [n_rows, out_dim], x: [n_rows, length] (every entry written). Input entry (k, o) of
    block t takes output t*s + (o - shift) mod s: with each output block written twice into a
    buffer, a region's column sums are one contiguous slice per block, summed _GROUP blocks per
    pass. Parallel over ranges of regions (a region's columns are written by one thread only),
    hashed per tile of regions and swept row by row within a tile, as in forward().
    """
    n_rows, out_dim = y.shape
    s = region_size
    n_blocks = -(-out_dim // s)
    n_padded = -(-n_blocks // _GROUP) * _GROUP  # blocks past the last are zeros with flip 0
    skey = sign_key(key)
    doubled = np.zeros((n_rows, n_padded, 2 * s), np.float32)  # the last block zero-padded to s
    for r in range(n_rows):
        for t in range(n_blocks):
            first = t * s
            for i in range(min(s, out_dim - first)):
                doubled[r, t, i] = y[r, first + i]
                doubled[r, t, i + s] = y[r, first + i]
    k_first, n_regions, n_chunks = _chunk_bounds(start, length, s, n_threads)
    for c in numba.prange(n_chunks):
        signs = np.empty((regions_per_tile, s), np.float32)
        shifts = np.zeros((regions_per_tile, n_padded), np.int64)
        flips = np.zeros((regions_per_tile, n_padded), np.float32)
        sums = np.empty(s, np.float32)
        k_hi = k_first + (n_regions * (c + 1)) // n_chunks
        for k0 in range(k_first + (n_regions * c) // n_chunks, k_hi, regions_per_tile):
            n_tile = min(regions_per_tile, k_hi - k0)
            for i in range(n_tile):
                region_parameters(key, skey, k0 + i, s, signs[i], shifts[i, :n_blocks], flips[i, :n_blocks])
            for r in range(n_rows):
                blocks = doubled[r]
                out = x[r]
                for i in range(n_tile):
                    base = (k0 + i) * s - start
                    lo, hi = max(base, 0), min(base + s, length)
                    sums[:] = 0.0
                    for t in range(0, n_padded, _GROUP):
                        b0 = blocks[t][s - shifts[i, t]:2 * s - shifts[i, t]]
                        b1 = blocks[t + 1][s - shifts[i, t + 1]:2 * s - shifts[i, t + 1]]
                        b2 = blocks[t + 2][s - shifts[i, t + 2]:2 * s - shifts[i, t + 2]]
                        b3 = blocks[t + 3][s - shifts[i, t + 3]:2 * s - shifts[i, t + 3]]
                        f0, f1, f2, f3 = flips[i, t], flips[i, t + 1], flips[i, t + 2], flips[i, t + 3]
                        for o in range(s):
                            sums[o] += f0 * b0[o] + f1 * b1[o] + f2 * b2[o] + f3 * b3[o]
                    sign = signs[i]
                    for col in range(lo, hi):
                        out[col] = scale * sign[col - base] * sums[col - base]


@numba.njit(cache=True)
def column_entries(key, out_dim, region_size, indices):
    """Non-zeros of the columns `indices` (sorted, distinct) of A: (output row, position in
    `indices`, sign) triples; a column has one non-zero per output block (fewer where the last,
    shorter block misses it)."""
    s = region_size
    n_blocks = -(-out_dim // s)
    skey = sign_key(key)
    rows = np.empty(len(indices) * n_blocks, np.int64)
    positions = np.empty(len(indices) * n_blocks, np.int64)
    signs = np.empty(len(indices) * n_blocks, np.float32)
    shifts = np.empty(n_blocks, np.int64)
    flips = np.empty(n_blocks, np.float32)
    count, k_loaded, seed = 0, -1, np.uint32(0)
    for p in range(len(indices)):
        k, o = indices[p] // s, indices[p] % s
        if k != k_loaded:  # sorted indices: each region's hashes once
            seed = region_sign_seed(skey, k)
            for t in range(n_blocks):
                shifts[t], flips[t] = shift(key, k, t, s)
            k_loaded = k
        sign = input_sign(seed, o)
        for t in range(n_blocks):
            j = t * s + (o - shifts[t] + s) % s
            if j < out_dim:
                rows[count], positions[count], signs[count] = j, p, flips[t] * sign
                count += 1
    return rows[:count], positions[:count], signs[:count]
