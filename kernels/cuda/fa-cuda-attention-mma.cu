/* fa-cuda-attention-mma.cu: flash attention on the tensor cores, bf16,
 * head_dim 64 or 128, for sm_80 and newer (mma.sync; Hopper runs it too, at
 * Ampere speed: its wgmma version is a later step).
 *
 * The FlashAttention-2 scheme. A block of 4 warps takes 64 queries of one
 * head of one batch element, 16 per warp, so that a warp owns whole rows and
 * its softmax needs no other warp. The queries go to shared memory once and
 * from there (ldmatrix) into registers as the A operands of every
 * S = Q·Kᵀ product. Keys and values come in tiles of 64 through shared
 * memory, two stages deep: cp.async copies tile j + 1 while the tensor cores
 * work on tile j. Per tile and warp:
 *   S (16 × 64, fp32 accumulators) = Q·Kᵀ, mma.sync m16n8k16, K read with
 *     ldmatrix (K's rows are the B operand's columns as they lie);
 *   S ·= scale·log2(e); keys past m set to −∞ (last tile only);
 *   the online softmax in fp32: row maxima over the quad of lanes that
 *     shares a row (two shuffles), rescale of the running sum and output by
 *     2^(old max − new max), P = 2^(S − max);
 *   O += P·V, P taken straight from the S accumulators into bf16 A
 *     fragments (the accumulator layout of an m16n8 pair is the A layout of
 *     one m16k16), V read with ldmatrix.trans.
 * At the end O / l goes out as bf16, rows past n skipped.
 *
 * Shared memory: rows of head_dim bf16 (128 or 256 bytes) whose 16-byte
 * chunks are XOR-swizzled with the row's low three bits, so that the eight
 * row addresses of each ldmatrix phase fall in eight different bank groups
 * and the cp.async stores stay 16-byte contiguous. Rows past n or m are
 * zero-filled by cp.async (source size 0): a zero query gives harmless
 * scores that are never stored; a zero value row keeps 0·V finite where the
 * masked P is 0.
 *
 * 80 KB of shared memory at head_dim 128 (Q 16 KB, two stages of K and V,
 * 64 KB): two blocks per SM on sm_80 and sm_90, 40 KB at head_dim 64.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-cuda-common.cuh"

#include <stdint.h>

namespace fa_cuda {

cudaError_t flash_attention_mma_bf16 (const void *q, const void *k, const void *v, void *out,
                                      int64_t batch, int64_t n, int64_t m, int64_t heads,
                                      int64_t head_dim, float scale, cudaStream_t stream);

namespace {

constexpr int kMmaRows = 64;    /* queries per block */
constexpr int kMmaKeys = 64;    /* keys per tile */
constexpr int kMmaWarps = 4;    /* 16 query rows each */
constexpr int kMmaThreads = kMmaWarps * 32;

static_assert (kMmaRows == kMmaWarps * 16, "one m16 row block per warp");
static_assert (kMmaKeys % 16 == 0, "key tiles are whole k16 steps of P·V");

template <int D>
constexpr size_t
mma_shared_bytes ()
{
  /* Q, then stages 0 and 1 of K, then stages 0 and 1 of V */
  return (size_t) (kMmaRows + 4 * kMmaKeys) * D * sizeof (uint16_t);
}

__device__ __forceinline__ uint32_t
smem_addr (const void *p)
{
  return (uint32_t) __cvta_generic_to_shared (p);
}

/* 16 bytes from global to shared, or 16 zero bytes when !valid (the source
 * is then not read; it must still be a valid address). */
__device__ __forceinline__ void
cp_async_16 (uint32_t dst, const void *src, bool valid)
{
  const int src_bytes = valid ? 16 : 0;
  asm volatile ("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                "r"(src_bytes)
                : "memory");
}

__device__ __forceinline__ void
cp_async_commit ()
{
  asm volatile ("cp.async.commit_group;\n" ::: "memory");
}

template <int N>
__device__ __forceinline__ void
cp_async_wait ()
{
  asm volatile ("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void
ldmatrix_x4 (uint32_t addr, uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3)
{
  asm volatile ("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                : "r"(addr));
}

__device__ __forceinline__ void
ldmatrix_x4_trans (uint32_t addr, uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3)
{
  asm volatile ("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                : "r"(addr));
}

/* c += a·b, a 16 × 16 (row), b 16 × 8 (col), bf16 in, fp32 accumulators */
__device__ __forceinline__ void
mma_bf16_16816 (float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1)
{
  asm volatile ("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* 2^x; −∞ gives +0 */
__device__ __forceinline__ float
exp2_approx (float x)
{
  float y;
  asm ("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

/* two floats as a bf16 pair, the first in the low half (the lower column of
 * an mma fragment) */
__device__ __forceinline__ uint32_t
pack_bf16x2 (float lo, float hi)
{
  __nv_bfloat162 pair = __floats2bfloat162_rn (lo, hi);
  return *reinterpret_cast<uint32_t *> (&pair);
}

/* Byte offset of 16-byte chunk @chunk of row @row in a swizzled tile with
 * rows of D bf16. */
template <int D>
__device__ __forceinline__ uint32_t
swizzled (int row, int chunk)
{
  return (uint32_t) (row * D * 2 + ((chunk ^ (row & 7)) << 4));
}

/* Rows [row0, row0 + 64) of a [rows, width] bf16 matrix (columns [0, D) of
 * @base) into a swizzled tile; rows at or past @limit become zeros. */
template <int D>
__device__ __forceinline__ void
load_tile_async (uint32_t tile, const bf16 *base, int64_t row0, int64_t limit, int64_t width,
                 int tid)
{
  constexpr int kChunks = D / 8; /* 16-byte chunks per row */
#pragma unroll
  for (int i = 0; i < kMmaKeys * kChunks / kMmaThreads; i++)
    {
      const int idx = tid + i * kMmaThreads;
      const int r = idx / kChunks, c = idx % kChunks;
      const bool valid = row0 + r < limit;
      const bf16 *src = valid ? base + (row0 + r) * width + c * 8 : base;
      cp_async_16 (tile + swizzled<D> (r, c), src, valid);
    }
}

template <int D>
__global__ void __launch_bounds__ (kMmaThreads, 2)
flash_attention_mma_kernel (const bf16 *__restrict__ q, const bf16 *__restrict__ k,
                            const bf16 *__restrict__ v, bf16 *__restrict__ out, int64_t n,
                            int64_t m, int heads, float scale_log2)
{
  static_assert (D == 64 || D == 128, "head_dim 64 or 128");
  static_assert (kMmaRows == kMmaKeys, "load_tile_async serves Q, K and V alike");
  constexpr int kDSteps = D / 16;        /* k16 steps of Q·Kᵀ */
  constexpr int kKeyBlocks = kMmaKeys / 8; /* n8 blocks of S */
  constexpr int kKeySteps = kMmaKeys / 16; /* k16 steps of P·V */
  constexpr int kDBlocks = D / 8;        /* n8 blocks of O */
  constexpr uint32_t kTileBytes = kMmaKeys * D * 2;

  extern __shared__ __align__ (128) unsigned char smem[];
  const uint32_t sq = smem_addr (smem);
  const uint32_t sk = sq + kTileBytes;     /* stage s at sk + s·kTileBytes */
  const uint32_t sv = sk + 2 * kTileBytes; /* stage s at sv + s·kTileBytes */

  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int64_t width = (int64_t) heads * D;
  const int64_t row0 = (int64_t) blockIdx.x * kMmaRows;
  const int64_t head_offset = (int64_t) blockIdx.y * D;
  const bf16 *qb = q + (int64_t) blockIdx.z * n * width + head_offset;
  const bf16 *kb = k + (int64_t) blockIdx.z * m * width + head_offset;
  const bf16 *vb = v + (int64_t) blockIdx.z * m * width + head_offset;
  bf16 *ob = out + (int64_t) blockIdx.z * n * width + head_offset;
  const int64_t tiles = (m + kMmaKeys - 1) / kMmaKeys;

  load_tile_async<D> (sq, qb, row0, n, width, tid);
  cp_async_commit ();
  load_tile_async<D> (sk, kb, 0, m, width, tid);
  load_tile_async<D> (sv, vb, 0, m, width, tid);
  cp_async_commit ();

  /* Per thread, of its warp's 16 rows: rows g = lane/4 and g + 8; of each
   * n8 block, columns 2t and 2t + 1 (t = lane % 4). */
  uint32_t qf[kDSteps][4];
  float o[kDBlocks][4];
  float row_max[2] = { -INFINITY, -INFINITY };
  float row_sum[2] = { 0.0f, 0.0f }; /* this thread's columns; the quad's sum at the end */
#pragma unroll
  for (int j = 0; j < kDBlocks; j++)
    o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;

  /* ldmatrix lane roles. A (Q) and V.trans: lanes 8–15 and 24–31 take rows
   * 8–15; lanes 16–31 the second 8 columns. K: lanes 16–31 take rows 8–15
   * (the next n8 block), lanes 8–15 and 24–31 the second 8 columns (b1). */
  const int lrow = lane % 8;
  const int a_row = lrow + ((lane / 8) % 2) * 8, a_chunk = lane / 16;
  const int k_row = lrow + (lane / 16) * 8, k_chunk = (lane / 8) % 2;

  /* Q (the first group) into registers while K and V of tile 0 land */
  cp_async_wait<1> ();
  __syncthreads ();
#pragma unroll
  for (int s = 0; s < kDSteps; s++)
    ldmatrix_x4 (sq + swizzled<D> (warp * 16 + a_row, 2 * s + a_chunk), qf[s][0], qf[s][1],
                 qf[s][2], qf[s][3]);

  for (int64_t tile = 0; tile < tiles; tile++)
    {
      const int stage = (int) (tile & 1);
      if (tile + 1 < tiles)
        {
          const int64_t key0 = (tile + 1) * kMmaKeys;
          load_tile_async<D> (sk + (stage ^ 1) * kTileBytes, kb, key0, m, width, tid);
          load_tile_async<D> (sv + (stage ^ 1) * kTileBytes, vb, key0, m, width, tid);
          cp_async_commit ();
          cp_async_wait<1> (); /* this tile's group landed */
        }
      else
        cp_async_wait<0> ();
      __syncthreads ();

      /* S = Q·Kᵀ */
      const uint32_t kt = sk + stage * kTileBytes;
      float s[kKeyBlocks][4];
#pragma unroll
      for (int j = 0; j < kKeyBlocks; j++)
        s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
      for (int d = 0; d < kDSteps; d++)
#pragma unroll
        for (int j = 0; j < kKeyBlocks; j += 2)
          {
            uint32_t b0, b1, b2, b3;
            ldmatrix_x4 (kt + swizzled<D> (j * 8 + k_row, 2 * d + k_chunk), b0, b1, b2, b3);
            mma_bf16_16816 (s[j], qf[d], b0, b1);
            mma_bf16_16816 (s[j + 1], qf[d], b2, b3);
          }

      /* the online softmax, in the log2 domain */
      const int64_t key0 = tile * kMmaKeys;
      const bool partial = key0 + kMmaKeys > m;
      float tile_max[2] = { -INFINITY, -INFINITY };
#pragma unroll
      for (int j = 0; j < kKeyBlocks; j++)
#pragma unroll
        for (int e = 0; e < 4; e++)
          {
            float x = s[j][e] * scale_log2;
            if (partial && key0 + j * 8 + 2 * (lane % 4) + (e & 1) >= m)
              x = -INFINITY;
            s[j][e] = x;
            tile_max[e / 2] = fmaxf (tile_max[e / 2], x);
          }
      float correction[2];
#pragma unroll
      for (int h = 0; h < 2; h++)
        {
          tile_max[h] = fmaxf (tile_max[h], __shfl_xor_sync (0xffffffffu, tile_max[h], 1));
          tile_max[h] = fmaxf (tile_max[h], __shfl_xor_sync (0xffffffffu, tile_max[h], 2));
          /* key0 < m: every tile has a key, so new_max is finite for
           * finite inputs, and the first tile's correction is 2^−∞ = 0 */
          const float new_max = fmaxf (row_max[h], tile_max[h]);
          correction[h] = exp2_approx (row_max[h] - new_max);
          row_max[h] = new_max;
          row_sum[h] *= correction[h];
        }
#pragma unroll
      for (int j = 0; j < kDBlocks; j++)
        {
          o[j][0] *= correction[0];
          o[j][1] *= correction[0];
          o[j][2] *= correction[1];
          o[j][3] *= correction[1];
        }

      /* P = 2^(S − max) as bf16 A fragments: k16 step ks covers n8 blocks
       * 2ks (a0 row g, a1 row g + 8) and 2ks + 1 (a2, a3) */
      uint32_t pf[kKeySteps][4];
#pragma unroll
      for (int ks = 0; ks < kKeySteps; ks++)
#pragma unroll
        for (int half = 0; half < 2; half++)
          {
            const float *sj = s[2 * ks + half];
            const float p0 = exp2_approx (sj[0] - row_max[0]);
            const float p1 = exp2_approx (sj[1] - row_max[0]);
            const float p2 = exp2_approx (sj[2] - row_max[1]);
            const float p3 = exp2_approx (sj[3] - row_max[1]);
            row_sum[0] += p0 + p1;
            row_sum[1] += p2 + p3;
            pf[ks][2 * half] = pack_bf16x2 (p0, p1);
            pf[ks][2 * half + 1] = pack_bf16x2 (p2, p3);
          }

      /* O += P·V */
      const uint32_t vt = sv + stage * kTileBytes;
#pragma unroll
      for (int ks = 0; ks < kKeySteps; ks++)
#pragma unroll
        for (int j = 0; j < kDBlocks; j += 2)
          {
            uint32_t b0, b1, b2, b3;
            ldmatrix_x4_trans (vt + swizzled<D> (ks * 16 + a_row, j + a_chunk), b0, b1, b2, b3);
            mma_bf16_16816 (o[j], pf[ks], b0, b1);
            mma_bf16_16816 (o[j + 1], pf[ks], b2, b3);
          }

      /* the next iteration's copy overwrites this stage */
      __syncthreads ();
    }

  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int h = 0; h < 2; h++)
    {
      float sum = row_sum[h];
      sum += __shfl_xor_sync (0xffffffffu, sum, 1);
      sum += __shfl_xor_sync (0xffffffffu, sum, 2);
      const float inv = 1.0f / sum;
      const int64_t row = row0 + warp * 16 + g + h * 8;
      if (row < n)
        {
          bf16 *orow = ob + row * width + 2 * t;
#pragma unroll
          for (int j = 0; j < kDBlocks; j++)
            *reinterpret_cast<__nv_bfloat162 *> (orow + j * 8) =
              __floats2bfloat162_rn (o[j][2 * h] * inv, o[j][2 * h + 1] * inv);
        }
    }
}

template <int D>
cudaError_t
launch_mma (const void *q, const void *k, const void *v, void *out, int64_t batch, int64_t n,
            int64_t m, int64_t heads, float scale, cudaStream_t stream)
{
  const size_t shared = mma_shared_bytes<D> ();
  const int64_t width = heads * D;
  const float scale_log2 = scale * 1.4426950408889634f; /* log2(e) */
  cudaError_t status = cudaFuncSetAttribute (flash_attention_mma_kernel<D>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int) shared);
  if (status != cudaSuccess)
    return status;

  for (int64_t b0 = 0; b0 < batch; b0 += kMaxGridYZ)
    {
      const int64_t nb = batch - b0 < kMaxGridYZ ? batch - b0 : kMaxGridYZ;
      const dim3 grid ((unsigned) ((n + kMmaRows - 1) / kMmaRows), (unsigned) heads, (unsigned) nb);
      flash_attention_mma_kernel<D><<<grid, kMmaThreads, shared, stream>>> (
        (const bf16 *) q + b0 * n * width, (const bf16 *) k + b0 * m * width,
        (const bf16 *) v + b0 * m * width, (bf16 *) out + b0 * n * width, n, m, (int) heads,
        scale_log2);
      status = cudaGetLastError ();
      if (status != cudaSuccess)
        return status;
    }
  return cudaSuccess;
}

} /* namespace */

/* For fa_cuda_attention, which has checked the arguments (m ≥ 1, n ≥ 1,
 * heads within the grid) and the 16-byte alignment of the four pointers. */
cudaError_t
flash_attention_mma_bf16 (const void *q, const void *k, const void *v, void *out, int64_t batch,
                          int64_t n, int64_t m, int64_t heads, int64_t head_dim, float scale,
                          cudaStream_t stream)
{
  if (head_dim == 128)
    return launch_mma<128> (q, k, v, out, batch, n, m, heads, scale, stream);
  if (head_dim == 64)
    return launch_mma<64> (q, k, v, out, batch, n, m, heads, scale, stream);
  return cudaErrorInvalidValue;
}

} /* namespace fa_cuda */
