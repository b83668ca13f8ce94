// Seeded sparse random projection on the GPU. Loaded by npeff/projection.py
// with cupy.RawModule after sparse_projection_core.cuh is prepended to it.
//
// Both kernels work on a block of columns [start, start + length) of the
// global input vector, so a caller can project a model's gradient one
// parameter tensor at a time and add the results.
#define ROWS_PER_THREAD 8

// y[row, j] += scale * sum_k sign(j, k) * x[row, k*s + offset(j, k) - start]
// x: [n_rows, length] row-major, y: [n_rows, out_dim] row-major.
// grid: (ceil(out_dim / blockDim.x), ceil(n_rows / ROWS_PER_THREAD)).
// One thread per output j and group of rows: each hash is computed once and
// reused for ROWS_PER_THREAD rows.
extern "C" __global__ void project_forward(
        const float* __restrict__ x, float* __restrict__ y,
        long long n_rows, long long length, long long start,
        long long out_dim, long long region_size,
        npeff_u64 seed_key, float scale) {
    long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long row0 = (long long)blockIdx.y * ROWS_PER_THREAD;
    if (j >= out_dim || row0 >= n_rows) return;
    int rows = (int)min((long long)ROWS_PER_THREAD, n_rows - row0);

    float acc[ROWS_PER_THREAD];
    for (int r = 0; r < ROWS_PER_THREAD; ++r) acc[r] = 0.0f;

    long long k_first = start / region_size;
    long long k_last = (start + length - 1) / region_size;
    for (long long k = k_first; k <= k_last; ++k) {
        npeff_u64 offset; float sign;
        npeff_entry(seed_key, (npeff_u64)j, (npeff_u64)k, (npeff_u64)region_size, &offset, &sign);
        long long col = k * region_size + (long long)offset - start;
        if (col < 0 || col >= length) continue;
        for (int r = 0; r < rows; ++r) acc[r] += sign * x[(row0 + r) * length + col];
    }
    for (int r = 0; r < rows; ++r) y[(row0 + r) * out_dim + j] += scale * acc[r];
}

// x[row, c] += scale * sum_j sign(j, k) * y[row, j] over the j whose entry in
// region k = (c + start) / s lands on c. One thread per (region, row): a
// region's columns are written by one thread only, so no atomics are needed
// and the result is deterministic.
// y: [n_rows, out_dim], x: [n_rows, length].
extern "C" __global__ void project_transpose(
        const float* __restrict__ y, float* __restrict__ x,
        long long n_rows, long long length, long long start,
        long long out_dim, long long region_size,
        npeff_u64 seed_key, float scale) {
    long long k_first = start / region_size;
    long long n_regions = (start + length - 1) / region_size - k_first + 1;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n_regions * n_rows) return;
    long long k = k_first + idx % n_regions;
    long long row = idx / n_regions;

    for (long long j = 0; j < out_dim; ++j) {
        npeff_u64 offset; float sign;
        npeff_entry(seed_key, (npeff_u64)j, (npeff_u64)k, (npeff_u64)region_size, &offset, &sign);
        long long col = k * region_size + (long long)offset - start;
        if (col < 0 || col >= length) continue;
        x[row * length + col] += scale * sign * y[row * out_dim + j];
    }
}
