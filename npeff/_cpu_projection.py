"""CPU twin of kernels/sparse_projection.cu, compiled with numba.

The hash below is a line-for-line copy of kernels/sparse_projection_core.cuh;
tests/test_projection.py compiles that header with g++ and checks both agree
entry for entry, so the CPU and GPU matrices are the same matrix.

The inner loops run over contiguous rows ([region, n_rows] tiles, [out_dim, n_rows]
accumulators): one hash per (output, region) is reused for every row of the batch.
"""
from __future__ import annotations

import numba
import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW32 = np.uint64(0xFFFFFFFF)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_ONE = np.uint64(1)


@numba.njit(cache=True, inline="always")
def mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(cache=True)
def seed_key(seed):
    return mix64(np.uint64(seed) ^ _GOLDEN)


@numba.njit(cache=True, inline="always")
def entry(key, j, k, region_size):
    """(offset in [0, region_size), sign) of output j's entry in region k."""
    h = mix64(key ^ ((np.uint64(j) << _S32) | (np.uint64(k) & _LOW32)))
    offset = np.int64(((h >> _S32) * np.uint64(region_size)) >> _S32)
    sign = np.float32(1.0) if (h & _ONE) else np.float32(-1.0)
    return offset, sign


@numba.njit(cache=True)
def entry_table(key, out_dim, n_regions, region_size):
    """Dense (offset, sign) tables [out_dim, n_regions]; for tests and references."""
    offsets = np.empty((out_dim, n_regions), np.int64)
    signs = np.empty((out_dim, n_regions), np.float32)
    for j in range(out_dim):
        for k in range(n_regions):
            offsets[j, k], signs[j, k] = entry(key, j, k, region_size)
    return offsets, signs


@numba.njit(cache=True, inline="always")
def region_entries(key, k, base, region_size, cols, signs):
    """Columns (relative to the block) and signs of every output's entry in region k.

    Branch-free over outputs, so LLVM vectorises the hashing; the gathers that
    use them run in a separate loop.
    """
    kk = key ^ (np.uint64(k) & _LOW32)
    s64 = np.uint64(region_size)
    for j in range(cols.shape[0]):
        h = mix64(kk ^ (np.uint64(j) << _S32))
        cols[j] = base + np.int64(((h >> _S32) * s64) >> _S32)
        signs[j] = np.float32(2.0) * np.float32(h & _ONE) - np.float32(1.0)


@numba.njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def forward(x, start, out_dim, region_size, key, scale, yt, n_threads, regions_per_tile):
    """yt[j, :] += scale * sum_k sign(j,k) * x[:, k*s + off(j,k) - start]  (two or more rows).

    x: [n_rows, length] float32 (C order), columns [start, start+length) of the input, in the
    layout a gradient block is produced in (no transposed copy of the whole block is made).
    yt: [out_dim, n_rows] float32, accumulated into.
    Each thread owns a contiguous range of regions and a private accumulator [out_dim, n_rows].
    `regions_per_tile` consecutive regions of every row are first copied into a row-transposed
    tile [regions * s, n_rows] that stays in cache; then each output gathers its entries of all
    those regions into its accumulator line, so that line is read and written once per tile
    instead of once per region (the accumulator is too big for L1, the tile is not).
    """
    n_rows, length = x.shape
    k_first = start // region_size
    n_regions = (start + length - 1) // region_size - k_first + 1
    n_chunks = min(n_threads, n_regions)
    partial = np.zeros((n_chunks, out_dim, n_rows), np.float32)
    for c in numba.prange(n_chunks):
        acc = partial[c]
        cols = np.empty((regions_per_tile, out_dim), np.int64)
        signs = np.empty((regions_per_tile, out_dim), np.float32)
        tile = np.zeros((regions_per_tile * region_size, n_rows), np.float32)
        k_lo = k_first + (n_regions * c) // n_chunks
        k_hi = k_first + (n_regions * (c + 1)) // n_chunks
        for k0 in range(k_lo, k_hi, regions_per_tile):
            n_tile = min(regions_per_tile, k_hi - k0)
            base = k0 * region_size - start
            lo, hi = max(base, 0), min(base + n_tile * region_size, length)  # the tile's part inside the block
            if lo > base or hi < base + n_tile * region_size:  # partial regions: the rest belongs to other blocks
                tile[:] = 0.0
            for r in range(n_rows):
                for col in range(lo, hi):
                    tile[col - base, r] = x[r, col]
            for i in range(n_tile):
                region_entries(key, k0 + i, i * region_size, region_size, cols[i], signs[i])
            for j in range(out_dim):
                target = acc[j]
                for i in range(n_tile):
                    row = tile[cols[i, j]]
                    sign = signs[i, j]
                    for r in range(n_rows):
                        target[r] += sign * row[r]
    for c in range(n_chunks):
        for j in range(out_dim):
            for r in range(n_rows):
                yt[j, r] += scale * partial[c, j, r]


@numba.njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def forward_row(x, start, out_dim, region_size, key, scale, y, n_threads):
    """forward() for one row: y[j] += scale * sum_k sign(j,k) * x[k*s + off(j,k) - start].

    x: [length] float32, y: [out_dim] float32 (accumulated into). With one row the hash is
    the main cost, so there is no tile: each region's entries are hashed (vectorised) and
    gathered straight from x, whose region slice is in L1. FPC's and the operator norm's
    A u passes are single rows."""
    length = x.shape[0]
    k_first = start // region_size
    n_regions = (start + length - 1) // region_size - k_first + 1
    n_chunks = min(n_threads, n_regions)
    partial = np.zeros((n_chunks, out_dim), np.float32)
    for c in numba.prange(n_chunks):
        acc = partial[c]
        cols = np.empty(out_dim, np.int64)
        signs = np.empty(out_dim, np.float32)
        for k in range(k_first + (n_regions * c) // n_chunks, k_first + (n_regions * (c + 1)) // n_chunks):
            base = k * region_size - start
            region_entries(key, k, base, region_size, cols, signs)
            if base >= 0 and base + region_size <= length:
                for j in range(out_dim):
                    acc[j] += signs[j] * x[cols[j]]
            else:  # a region shared with the neighbouring blocks: only its columns inside this one
                for j in range(out_dim):
                    col = cols[j]
                    if col >= 0 and col < length:
                        acc[j] += signs[j] * x[col]
    for c in range(n_chunks):
        for j in range(out_dim):
            y[j] += scale * partial[c, j]


@numba.njit(cache=True, parallel=True)
def transpose(yt, start, length, region_size, key, scale, xt, n_threads):
    """xt[c, :] += scale * sum_j sign(j,k) * yt[j, :] for the entries landing on c.

    yt: [out_dim, n_rows], xt: [length, n_rows] (columns [start, start+length)).
    Parallel over ranges of regions: a region's columns are written by one
    thread only, so no reduction is needed.
    """
    out_dim, n_rows = yt.shape
    k_first = start // region_size
    n_regions = (start + length - 1) // region_size - k_first + 1
    n_chunks = min(n_threads, n_regions)
    for c in numba.prange(n_chunks):
        cols = np.empty(out_dim, np.int64)
        signs = np.empty(out_dim, np.float32)
        for k in range(k_first + (n_regions * c) // n_chunks, k_first + (n_regions * (c + 1)) // n_chunks):
            base = k * region_size - start
            region_entries(key, k, base, region_size, cols, signs)
            inside = base >= 0 and base + region_size <= length
            for j in range(out_dim):
                col = cols[j]
                if not inside and (col < 0 or col >= length):
                    continue
                sign = scale * signs[j]
                for r in range(n_rows):
                    xt[col, r] += sign * yt[j, r]


@numba.njit(cache=True, parallel=True)
def transpose_row(y, start, length, region_size, key, scale, x, n_threads):
    """transpose() for one row: x[c] += scale * sum_j sign(j,k) * y[j] over the j landing on c.

    y: [out_dim], x: [length]. Same region ranges per thread as transpose()."""
    out_dim = y.shape[0]
    k_first = start // region_size
    n_regions = (start + length - 1) // region_size - k_first + 1
    n_chunks = min(n_threads, n_regions)
    scaled = y * scale
    for c in numba.prange(n_chunks):
        cols = np.empty(out_dim, np.int64)
        signs = np.empty(out_dim, np.float32)
        for k in range(k_first + (n_regions * c) // n_chunks, k_first + (n_regions * (c + 1)) // n_chunks):
            base = k * region_size - start
            region_entries(key, k, base, region_size, cols, signs)
            if base >= 0 and base + region_size <= length:
                for j in range(out_dim):
                    x[cols[j]] += signs[j] * scaled[j]
            else:
                for j in range(out_dim):
                    col = cols[j]
                    if col >= 0 and col < length:
                        x[col] += signs[j] * scaled[j]


@numba.njit(cache=True)
def column_entries(key, out_dim, region_size, indices):
    """Non-zeros of the columns `indices` (sorted, distinct) of A: (output row, position in
    `indices`, sign) triples. Each output takes one entry per region, so one pass over the
    outputs per touched region finds every non-zero of that region's selected columns.
    Two passes (count, then fill) keep the arrays' sizes fixed."""
    position_of = np.full(region_size, -1, np.int64)
    cols = np.empty(out_dim, np.int64)
    sgn = np.empty(out_dim, np.float32)
    total = 0
    for fill in range(2):
        if fill:
            rows = np.empty(total, np.int64)
            positions = np.empty(total, np.int64)
            signs = np.empty(total, np.float32)
        count, i = 0, 0
        while i < len(indices):
            k = indices[i] // region_size
            first = i
            while i < len(indices) and indices[i] // region_size == k:
                position_of[indices[i] - k * region_size] = i
                i += 1
            region_entries(key, k, 0, region_size, cols, sgn)
            for j in range(out_dim):
                p = position_of[cols[j]]
                if p >= 0:
                    if fill:
                        rows[count], positions[count], signs[count] = j, p, sgn[j]
                    count += 1
            for q in range(first, i):
                position_of[indices[q] - k * region_size] = -1
        total = count
    return rows, positions, signs
