/* fa-cuda-edit.h: the CUDA kernels of the FlowAnchor edit, each the twin of
 * the CPU kernel of the same name in kernels/cpu/fa-cpu-edit.h (which holds
 * the arithmetic both share). Every pointer is device memory. Asynchronous
 * on @stream; the return value is the launch's error.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* SAR's step 2 reduces each target column over the tokens in chunks of
 * rows, one block per chunk, then reduces the chunks' partial maxima and
 * minima: the scratch that needs, in floats, for @n_j target columns. */
int     fa_cuda_edit_sar_chunks (int64_t n);
int64_t fa_cuda_edit_sar_scratch_floats (int64_t heads, int64_t n, int64_t n_j);

cudaError_t fa_cuda_edit_noise (uint64_t seed, uint32_t step, uint32_t draw, float *out, int64_t n,
                                cudaStream_t stream);
/* @mask n bytes, @in_j n_real bytes, @j_list the n_j target columns (each
 * once), @scratch fa_cuda_edit_sar_scratch_floats floats. */
cudaError_t fa_cuda_edit_sar (float *logits, int64_t heads, int64_t n, int64_t l, int64_t n_real,
                              const uint8_t *mask, const uint8_t *in_j, const int32_t *j_list,
                              int64_t n_j, float beta1, float beta2, float *scratch,
                              cudaStream_t stream);
cudaError_t fa_cuda_edit_noised (const float *x, const float *z_edit, const float *noise,
                                 float sigma, float *z_src, float *z_tar, int64_t n,
                                 cudaStream_t stream);
cudaError_t fa_cuda_edit_accumulate (const float *velocity, float s_src, float s_tar, float *dv,
                                     int first, int64_t n, cudaStream_t stream);
cudaError_t fa_cuda_edit_divide (float *dv, float divisor, int64_t n, cudaStream_t stream);
cudaError_t fa_cuda_edit_euler (float *z, const float *v, float dt, int64_t n, cudaStream_t stream);
cudaError_t fa_cuda_edit_plain (float *z, const float *velocity, float scale, float sigma, float dt,
                                float *estimate, int64_t n, cudaStream_t stream);
cudaError_t fa_cuda_edit_blend (float *z, const float *x, const uint8_t *outside, float w,
                                int64_t channels, int64_t plane, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
