// Shared by the CUDA kernels (kernels/sparse_projection.cu, compiled by NVRTC
// through cupy.RawModule) and by the host test harness (compiled by g++), so
// that the GPU and the CPU twin (npeff/_cpu_projection.py) are provably built
// from the same hash.
//
// The projection matrix A [out_dim, in_dim]: the input is cut into regions of
// `region_size` consecutive entries (the last one padded with zeros); output j
// takes exactly one entry of region k, at offset and sign drawn from
// entry_hash(seed, j, k). Nothing is stored: (seed, j, k) defines the entry.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define NPEFF_HD __host__ __device__ __forceinline__
#else
#define NPEFF_HD inline
#endif

typedef unsigned long long npeff_u64;

// splitmix64's finaliser: a bijection on 64 bits with full avalanche.
NPEFF_HD npeff_u64 npeff_mix64(npeff_u64 z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// The per-matrix key: computed once per projection, not per entry.
NPEFF_HD npeff_u64 npeff_seed_key(npeff_u64 seed) {
    return npeff_mix64(seed ^ 0x9E3779B97F4A7C15ULL);
}

// Offset in [0, region_size) and sign (+1/-1) of output j's entry in region k.
// The offset uses the high 32 bits (Lemire's multiply-shift range reduction),
// the sign the lowest bit.
NPEFF_HD void npeff_entry(npeff_u64 seed_key, npeff_u64 j, npeff_u64 k,
                          npeff_u64 region_size, npeff_u64* offset, float* sign) {
    npeff_u64 h = npeff_mix64(seed_key ^ ((j << 32) | (k & 0xFFFFFFFFULL)));
    *offset = ((h >> 32) * region_size) >> 32;
    *sign = (h & 1ULL) ? 1.0f : -1.0f;
}
