// Seeded sparse random projection on the GPU. Loaded by npeff/projection.py
// with cupy.RawModule after sparse_projection_core.cuh is prepended to it.
//
// Both kernels work on a block of columns [start, start + length) of the
// global input vector, so a caller can project a model's gradient one
// parameter tensor at a time and add the results. Within an output block
// t = j / s, consecutive outputs read consecutive inputs of a region (a cyclic
// shift), so neighbouring threads read neighbouring addresses.
#define ROWS_PER_THREAD 8

// partial[chunk, row, j] = scale * sum_{k in the chunk's regions} sign(j, k) * x[row, k*s + offset(j, k) - start]
// x: [n_rows, length] row-major, partial: [n_chunks, n_rows, out_dim] row-major; the caller sums
// over chunks (in a fixed order: deterministic). grid: (ceil(out_dim / blockDim.x),
// ceil(n_rows / ROWS_PER_THREAD), n_chunks). One thread per output j, group of rows and chunk of
// regions_per_chunk regions: each region's hashes are computed once and reused for
// ROWS_PER_THREAD rows, and the chunks give the GPU enough threads.
extern "C" __global__ void project_forward(
        const float* __restrict__ x, float* __restrict__ partial,
        long long n_rows, long long length, long long start,
        long long out_dim, long long region_size,
        npeff_u64 seed_key, float scale, long long regions_per_chunk) {
    long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long row0 = (long long)blockIdx.y * ROWS_PER_THREAD;
    if (j >= out_dim || row0 >= n_rows) return;
    int rows = (int)min((long long)ROWS_PER_THREAD, n_rows - row0);
    npeff_u64 sign_key = npeff_sign_key(seed_key);
    npeff_u64 t = (npeff_u64)(j / region_size), i = (npeff_u64)(j % region_size);

    float acc[ROWS_PER_THREAD];
    for (int r = 0; r < ROWS_PER_THREAD; ++r) acc[r] = 0.0f;

    long long k_first = start / region_size + (long long)blockIdx.z * regions_per_chunk;
    long long k_last = min((start + length - 1) / region_size, k_first + regions_per_chunk - 1);
    for (long long k = k_first; k <= k_last; ++k) {
        npeff_u64 shift; float flip;
        npeff_shift(seed_key, (npeff_u64)k, t, (npeff_u64)region_size, &shift, &flip);
        npeff_u64 offset = (i + shift) % (npeff_u64)region_size;
        long long col = k * region_size + (long long)offset - start;
        if (col < 0 || col >= length) continue;
        float sign = flip * npeff_input_sign(npeff_region_sign_seed(sign_key, (npeff_u64)k), offset);
        for (int r = 0; r < rows; ++r) acc[r] += sign * x[(row0 + r) * length + col];
    }
    float* out = partial + ((long long)blockIdx.z * n_rows + row0) * out_dim + j;
    for (int r = 0; r < rows; ++r) out[r * out_dim] = scale * acc[r];
}

// x[row, c] = scale * sum_t sign * y[row, t*s + (offset - shift(k, t)) mod s] for the column c at
// offset `offset` of region k: the one output of each block t whose entry lands on c. One thread
// per (column, group of rows); every column is written by exactly one thread (no atomics).
// y: [n_rows, out_dim], x: [n_rows, length]. grid: (ceil(length / blockDim.x), ceil(n_rows / ROWS_PER_THREAD)).
extern "C" __global__ void project_transpose(
        const float* __restrict__ y, float* __restrict__ x,
        long long n_rows, long long length, long long start,
        long long out_dim, long long region_size,
        npeff_u64 seed_key, float scale) {
    long long col = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long row0 = (long long)blockIdx.y * ROWS_PER_THREAD;
    if (col >= length || row0 >= n_rows) return;
    int rows = (int)min((long long)ROWS_PER_THREAD, n_rows - row0);
    long long k = (start + col) / region_size;
    npeff_u64 offset = (npeff_u64)((start + col) % region_size);
    float sign = npeff_input_sign(npeff_region_sign_seed(npeff_sign_key(seed_key), (npeff_u64)k), offset);
    long long n_blocks = (out_dim + region_size - 1) / region_size;

    float acc[ROWS_PER_THREAD];
    for (int r = 0; r < ROWS_PER_THREAD; ++r) acc[r] = 0.0f;
    for (long long t = 0; t < n_blocks; ++t) {
        npeff_u64 shift; float flip;
        npeff_shift(seed_key, (npeff_u64)k, (npeff_u64)t, (npeff_u64)region_size, &shift, &flip);
        long long j = t * region_size + (long long)((offset + region_size - shift) % region_size);
        if (j >= out_dim) continue;  // the last, shorter block
        for (int r = 0; r < rows; ++r) acc[r] += flip * y[(row0 + r) * out_dim + j];
    }
    for (int r = 0; r < rows; ++r) x[(row0 + r) * length + col] = scale * sign * acc[r];
}
