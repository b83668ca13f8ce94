// Seeded sparse random projection on the GPU. Loaded by npeff/projection.py
// with cupy.RawModule after sparse_projection_core.cuh is prepended to it.
//
// Both kernels work on a block of columns [start, start + length) of the
// global input vector, so a caller can project a model's gradient one
// parameter tensor at a time and add the results.
#define ROWS_PER_THREAD 8

// partial[chunk, row, j] = scale * sum_{k in the chunk's regions} sign(j, k) * x[row, k*s + offset(j, k) - start]
// x: [n_rows, length] row-major, partial: [n_chunks, n_rows, out_dim] row-major; the caller sums
// over chunks (in a fixed order: deterministic). grid: (ceil(out_dim / blockDim.x),
// ceil(n_rows / ROWS_PER_THREAD), n_chunks). One thread per output j, group of rows and chunk of
// regions_per_chunk regions: each hash is computed once and reused for ROWS_PER_THREAD rows, and
// the chunks give the GPU enough threads (one per output alone is 4,096 threads: a few SMs).
extern "C" __global__ void project_forward(
        const float* __restrict__ x, float* __restrict__ partial,
        long long n_rows, long long length, long long start,
        long long out_dim, long long region_size,
        npeff_u64 seed_key, float scale, long long regions_per_chunk) {
    long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long row0 = (long long)blockIdx.y * ROWS_PER_THREAD;
    if (j >= out_dim || row0 >= n_rows) return;
    int rows = (int)min((long long)ROWS_PER_THREAD, n_rows - row0);

    float acc[ROWS_PER_THREAD];
    for (int r = 0; r < ROWS_PER_THREAD; ++r) acc[r] = 0.0f;

    long long k_first = start / region_size + (long long)blockIdx.z * regions_per_chunk;
    long long k_last = min((start + length - 1) / region_size, k_first + regions_per_chunk - 1);
    for (long long k = k_first; k <= k_last; ++k) {
        npeff_u64 offset; float sign;
        npeff_entry(seed_key, (npeff_u64)j, (npeff_u64)k, (npeff_u64)region_size, &offset, &sign);
        long long col = k * region_size + (long long)offset - start;
        if (col < 0 || col >= length) continue;
        for (int r = 0; r < rows; ++r) acc[r] += sign * x[(row0 + r) * length + col];
    }
    float* out = partial + ((long long)blockIdx.z * n_rows + row0) * out_dim + j;
    for (int r = 0; r < rows; ++r) out[r * out_dim] = scale * acc[r];
}

// x[row, c] = scale * sum_j sign(j, k) * y[row, j] over the j whose entry in region
// k = (c + start) / s lands on c. One block per (region, group of rows_per_block rows): its
// threads hash the out_dim entries of the region once and add them into the region's columns
// in shared memory (rows_per_block * region_size floats, the caller's dynamic shared memory),
// then write the region out coalesced. Shared-memory atomics: the ~density terms of a column
// are summed in no fixed order.
// y: [n_rows, out_dim], x: [n_rows, length]. grid: (n_regions, ceil(n_rows / rows_per_block)).
extern "C" __global__ void project_transpose(
        const float* __restrict__ y, float* __restrict__ x,
        long long n_rows, long long length, long long start,
        long long out_dim, long long region_size,
        npeff_u64 seed_key, float scale, long long rows_per_block) {
    extern __shared__ float columns[];  // [rows_per_block, region_size]
    long long k = start / region_size + blockIdx.x;
    long long row0 = (long long)blockIdx.y * rows_per_block;
    int rows = (int)min(rows_per_block, n_rows - row0);
    for (long long i = threadIdx.x; i < rows_per_block * region_size; i += blockDim.x) columns[i] = 0.0f;
    __syncthreads();
    for (long long j = threadIdx.x; j < out_dim; j += blockDim.x) {
        npeff_u64 offset; float sign;
        npeff_entry(seed_key, (npeff_u64)j, (npeff_u64)k, (npeff_u64)region_size, &offset, &sign);
        for (int r = 0; r < rows; ++r)
            atomicAdd(&columns[r * region_size + (long long)offset], sign * y[(row0 + r) * out_dim + j]);
    }
    __syncthreads();
    for (long long i = threadIdx.x; i < region_size; i += blockDim.x) {
        long long col = k * region_size + i - start;
        if (col < 0 || col >= length) continue;
        for (int r = 0; r < rows; ++r) x[(row0 + r) * length + col] = scale * columns[r * region_size + i];
    }
}

// The transpose for regions too large for shared memory (density far below out_dim / 12,288):
// x[row, c] += ... as above, one thread per (region, row), looping over every output.
// y: [n_rows, out_dim], x: [n_rows, length] (zeroed by the caller).
extern "C" __global__ void project_transpose_serial(
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
