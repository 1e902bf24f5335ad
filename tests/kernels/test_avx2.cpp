// The GEMM and attention tests again, compiled for Haswell (AVX2 + FMA) by
// tests/kernels/CMakeLists.txt on a host whose native build is AVX-512, so
// the AVX2 path (4 x 3-vector GEMM tile, 8- and 16-float partial column
// panels) is tested wherever the tests run.
#if !defined(__AVX2__) || defined(__AVX512F__)
#error "test_avx2.cpp must be compiled with -march=haswell (tests/kernels/CMakeLists.txt)"
#endif
#include "test_attention.cpp"
#include "test_gemm.cpp"
