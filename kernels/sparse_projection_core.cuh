// Shared by the CUDA kernels (kernels/sparse_projection.cu, compiled by NVRTC
// through cupy.RawModule) and by the host test harness (compiled by g++), so
// that the GPU and the CPU twin (npeff/_cpu_projection.py) are provably built
// from the same hash.
//
// The projection matrix A [out_dim, in_dim], with s = region_size: the input is
// cut into regions of s consecutive entries (the last one padded with zeros),
// the output into blocks of s consecutive entries (the last one may be shorter).
// Output j = t*s + i (block t) takes exactly one entry of region k, at offset
// (i + shift(k, t)) mod s, with sign flip(k, t) * input_sign(k, offset): within a
// block each region is cyclically shifted, so every input entry lands in exactly
// one output per block (the block construction of sparse JL, Kane & Nelson 2014).
// The per-input signs make collisions of two shifted regions independent terms.
// Nothing is stored: (seed, k, t) and (seed, k, offset) define the entries.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define NPEFF_HD __host__ __device__ __forceinline__
#else
#define NPEFF_HD inline
#endif

typedef unsigned long long npeff_u64;
typedef unsigned int npeff_u32;

// splitmix64's finaliser: a bijection on 64 bits with full avalanche.
NPEFF_HD npeff_u64 npeff_mix64(npeff_u64 z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// murmur3's 32-bit finaliser: the per-input sign hash (32-bit lanes vectorise on a CPU).
NPEFF_HD npeff_u32 npeff_fmix32(npeff_u32 h) {
    h ^= h >> 16;
    h *= 0x85EBCA6BU;
    h ^= h >> 13;
    h *= 0xC2B2AE35U;
    return h ^ (h >> 16);
}

// The per-matrix keys: computed once per projection, not per entry.
NPEFF_HD npeff_u64 npeff_seed_key(npeff_u64 seed) {
    return npeff_mix64(seed ^ 0x9E3779B97F4A7C15ULL);
}

NPEFF_HD npeff_u64 npeff_sign_key(npeff_u64 seed_key) {
    return npeff_mix64(seed_key ^ 0xD1B54A32D192ED03ULL);
}

// Cyclic shift in [0, s) and sign (+1/-1) of region k within output block t. The shift uses
// the high 32 bits (Lemire's multiply-shift range reduction), the sign the lowest bit.
NPEFF_HD void npeff_shift(npeff_u64 seed_key, npeff_u64 k, npeff_u64 t, npeff_u64 region_size,
                          npeff_u64* shift, float* flip) {
    npeff_u64 h = npeff_mix64(seed_key ^ ((t << 32) | (k & 0xFFFFFFFFULL)));
    *shift = ((h >> 32) * region_size) >> 32;
    *flip = (h & 1ULL) ? 1.0f : -1.0f;
}

// The seed of region k's input signs (one 64-bit hash per region).
NPEFF_HD npeff_u32 npeff_region_sign_seed(npeff_u64 sign_key, npeff_u64 k) {
    return (npeff_u32)npeff_mix64(sign_key ^ k);
}

// Sign (+1/-1) of the input at `offset` in the region whose sign seed is `region_seed`.
NPEFF_HD float npeff_input_sign(npeff_u32 region_seed, npeff_u64 offset) {
    return (npeff_fmix32((npeff_u32)offset ^ region_seed) >> 31) ? 1.0f : -1.0f;
}

// Offset in [0, region_size) and sign (+1/-1) of output j's entry in region k.
NPEFF_HD void npeff_entry(npeff_u64 seed_key, npeff_u64 j, npeff_u64 k,
                          npeff_u64 region_size, npeff_u64* offset, float* sign) {
    npeff_u64 shift; float flip;
    npeff_shift(seed_key, k, j / region_size, region_size, &shift, &flip);
    *offset = (j % region_size + shift) % region_size;
    *sign = flip * npeff_input_sign(npeff_region_sign_seed(npeff_sign_key(seed_key), k), *offset);
}
