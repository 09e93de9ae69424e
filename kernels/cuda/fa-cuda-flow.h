/* fa-cuda-flow.h: the CUDA stages of the dense optical flow, each the twin
 * of the CPU stage of the same name in kernels/cpu/fa-cpu-flow.h (which
 * holds the arithmetic both share). Every pointer is device memory; @lv
 * and @var are read on the host and passed by value. Asynchronous on
 * @stream; the return value is the launch's error.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <cuda_runtime_api.h>

#include "cpu/fa-cpu-flow.h"

#ifdef __cplusplus
extern "C" {
#endif

cudaError_t fa_cuda_flow_grey (const uint8_t *rgb, float *grey, int width, int height,
                               cudaStream_t stream);
cudaError_t fa_cuda_flow_downsample (const float *src, int sw, float *dst, int dw, int dh,
                                     cudaStream_t stream);
cudaError_t fa_cuda_flow_pad (const float *src, const FaFlowLevel *lv, float *ext,
                              cudaStream_t stream);
cudaError_t fa_cuda_flow_gradient (const float *img, int width, int height, float *gx, float *gy,
                                   cudaStream_t stream);
cudaError_t fa_cuda_flow_patch_tensor (const float *gx, const float *gy, const FaFlowLevel *lv,
                                       float *tensors, cudaStream_t stream);
cudaError_t fa_cuda_flow_patch_first (const float *i0, const float *gx, const float *gy,
                                      const float *ext, const FaFlowLevel *lv,
                                      const float *tensors, const float *flow_u,
                                      const float *flow_v, int iterations, float *su, float *sv,
                                      cudaStream_t stream);
cudaError_t fa_cuda_flow_patch_second (const float *i0, const float *gx, const float *gy,
                                       const float *ext, const FaFlowLevel *lv,
                                       const float *tensors, const float *in_u, const float *in_v,
                                       int iterations, float *out_u, float *out_v,
                                       cudaStream_t stream);
cudaError_t fa_cuda_flow_densify (const float *i0, const float *ext, const FaFlowLevel *lv,
                                  const float *su, const float *sv, float *u, float *v,
                                  cudaStream_t stream);
cudaError_t fa_cuda_flow_var_warp (const float *i0, const float *ext, const FaFlowLevel *lv,
                                   const float *u, const float *v, const FaFlowVar *var,
                                   cudaStream_t stream);
cudaError_t fa_cuda_flow_var_deriv (const FaFlowLevel *lv, const float *u, const float *v,
                                    const FaFlowVar *var, cudaStream_t stream);
cudaError_t fa_cuda_flow_var_deriv2 (const FaFlowLevel *lv, const FaFlowVar *var,
                                     cudaStream_t stream);
cudaError_t fa_cuda_flow_var_smooth (const FaFlowLevel *lv, const FaFlowVar *var,
                                     const FaFlowVarParams *params, cudaStream_t stream);
cudaError_t fa_cuda_flow_var_system (const FaFlowLevel *lv, const float *u, const float *v,
                                     const FaFlowVar *var, const FaFlowVarParams *params,
                                     cudaStream_t stream);
cudaError_t fa_cuda_flow_var_sor (const FaFlowLevel *lv, const FaFlowVar *var, float omega,
                                  int color, cudaStream_t stream);
cudaError_t fa_cuda_flow_var_update (const FaFlowLevel *lv, float *u, float *v,
                                     const FaFlowVar *var, int final, cudaStream_t stream);
cudaError_t fa_cuda_flow_resize (const float *su, const float *sv, int sw, int sh, float *du,
                                 float *dv, float *interleaved, int dw, int dh, float scale,
                                 cudaStream_t stream);

#ifdef __cplusplus
}
#endif
