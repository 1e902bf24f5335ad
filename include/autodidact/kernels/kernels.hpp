#pragma once
// All kernels (autodidact::kernels). The naive twins are in
// kernels/reference/*.hpp (autodidact::kernels::reference) and are not
// included here.

#include "autodidact/kernels/adamw.hpp"          // for adamw_update, sum_squares, global_norm, scale
#include "autodidact/kernels/attention.hpp"      // for attention_blocked_forward/backward
#include "autodidact/kernels/common.hpp"         // for transpose, write_mode, gemm_epilogue, softmax_mask
#include "autodidact/kernels/cross_entropy.hpp"  // for cross_entropy_forward/backward
#include "autodidact/kernels/embedding.hpp"      // for embedding_forward/backward
#include "autodidact/kernels/gelu.hpp"           // for gelu_forward/backward
#include "autodidact/kernels/gemm.hpp"           // for gemm, bias_backward
#include "autodidact/kernels/layernorm.hpp"      // for layernorm_forward/backward
#include "autodidact/kernels/softmax.hpp"        // for softmax_forward/backward
