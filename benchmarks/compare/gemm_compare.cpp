// Our GEMM against OpenBLAS (cblas_sgemm) and Eigen 3.4 in one process, at
// Transformer shapes, in the three cases a Linear layer runs:
//   fwd  Y[M,N]   = X[M,K] W[N,K]^T      gemm(no, yes)
//   dx   dX[M,K]  = dY[M,N] W[N,K]       gemm(no, no)
//   dw   dW[N,K] += dY[M,N]^T X[M,K]     gemm(yes, no), accumulate
//   fwdp the fwd product with W packed once beforehand (pack_b, then
//        gemm_prepacked): what a model's forward runs after pack_weights();
//        the peers run their fwd call (they pack W inside every call)
// for 1 and 2 threads. Each sample times ours and the peers back to back
// (round robin), so noise hits all of them alike; the figure is the median.
// Prints Contracts lines (ratio > 1: ours faster), pct_peak= against the
// single-core FMA ceiling measured here (12 independent FMA chains on
// simd::batch<float>) or AUTODIDACT_PEAK_GFLOPS, and scaling= (t1/t2 time).
//
//   gemm_compare [--reps N] [--threads 1,2] [--shapes MxNxK,...] [--cases fwd,fwdp,dx,dw]
//                [--peers openblas,eigen]
// main() is our own: Google Benchmark's main is linked but never reached.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

// Ours first: simd.hpp silences GCC 12's false maybe-uninitialized warnings
// of the AVX-512 intrinsic headers, which must not be included before it.
#include "autodidact/kernels/gemm.hpp"
#include "autodidact/simd/simd.hpp"
#include "fma_ceiling.hpp"  // for compare::fma_ceiling_gflops

#include <Eigen/Core>
#include <cblas.h>
#include <omp.h>

extern "C" void openblas_set_num_threads(int);

namespace {

namespace k = autodidact::kernels;
namespace simd = autodidact::simd;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t p = 0;
  while (p <= s.size()) {
    const std::size_t q = s.find(',', p);
    out.push_back(s.substr(p, q == std::string::npos ? std::string::npos : q - p));
    if (q == std::string::npos) break;
    p = q + 1;
  }
  return out;
}

struct shape { int m, n, k; };

struct problem {
  // GEMM as called: C[m,n] (op) with K = kk.
  k::transpose ta, tb;
  int m, n, kk;
  bool accumulate;
  std::vector<float> a, b, c;
  int lda, ldb;
  std::vector<float> b_packed;  // fwdp: op(B) packed by pack_b
};

problem make(const std::string& cs, shape s) {
  problem p{};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  auto fill = [&](std::vector<float>& v, std::size_t n) { v.resize(n); for (auto& x : v) x = u(rng); };
  if (cs == "fwd" || cs == "fwdp") {  // Y[M,N] = X[M,K] W[N,K]^T
    p = {k::transpose::no, k::transpose::yes, s.m, s.n, s.k, false, {}, {}, {}, s.k, s.k, {}};
  } else if (cs == "dx") {  // dX[M,K] = dY[M,N] W[N,K]
    p = {k::transpose::no, k::transpose::no, s.m, s.k, s.n, false, {}, {}, {}, s.n, s.k, {}};
  } else {  // dW[N,K] += dY[M,N]^T X[M,K]
    p = {k::transpose::yes, k::transpose::no, s.n, s.k, s.m, true, {}, {}, {}, s.n, s.k, {}};
  }
  const std::size_t a_elems = std::size_t(p.m) * p.kk, b_elems = std::size_t(p.kk) * p.n;
  fill(p.a, a_elems);
  fill(p.b, b_elems);
  fill(p.c, std::size_t(p.m) * p.n);
  for (auto& x : p.c) x *= 1e-3f;
  if (cs == "fwdp") {
    p.b_packed.resize(k::packed_b_elements<float>(p.kk, p.n));
    k::pack_b(p.tb, p.kk, p.n, p.b.data(), p.ldb, p.b_packed.data());
  }
  return p;
}

void run_ours(problem& p) {
  if (!p.b_packed.empty()) {
    k::gemm_prepacked(p.ta, p.m, p.n, p.kk, 1.f, p.a.data(), p.lda, p.b_packed.data(), k::write_mode::overwrite,
                      p.c.data(), p.n);
    return;
  }
  k::gemm(p.ta, p.tb, p.m, p.n, p.kk, 1.f, p.a.data(), p.lda, p.b.data(), p.ldb,
          p.accumulate ? k::write_mode::accumulate : k::write_mode::overwrite, p.c.data(), p.n);
}

void run_openblas(problem& p) {
  cblas_sgemm(CblasRowMajor, p.ta == k::transpose::no ? CblasNoTrans : CblasTrans,
              p.tb == k::transpose::no ? CblasNoTrans : CblasTrans, p.m, p.n, p.kk, 1.f, p.a.data(), p.lda,
              p.b.data(), p.ldb, p.accumulate ? 1.f : 0.f, p.c.data(), p.n);
}

using rmat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void run_eigen(problem& p) {
  const int a_rows = p.ta == k::transpose::no ? p.m : p.kk, a_cols = p.ta == k::transpose::no ? p.kk : p.m;
  const int b_rows = p.tb == k::transpose::no ? p.kk : p.n, b_cols = p.tb == k::transpose::no ? p.n : p.kk;
  Eigen::Map<const rmat> a(p.a.data(), a_rows, a_cols), b(p.b.data(), b_rows, b_cols);
  Eigen::Map<rmat> c(p.c.data(), p.m, p.n);
  if (p.ta == k::transpose::no && p.tb == k::transpose::yes) c.noalias() = a * b.transpose();
  else if (p.ta == k::transpose::no) c.noalias() = a * b;
  else c.noalias() += a.transpose() * b;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 7;
  std::vector<int> thread_counts = {1, 2};
  std::vector<shape> shapes = {{128, 384, 384},   {128, 1536, 384},  {128, 384, 1536},
                               {512, 768, 768},   {2048, 384, 1536}, {256, 50304, 768}};
  std::vector<std::string> cases = {"fwd", "fwdp", "dx", "dw"};
  std::vector<std::string> peers = {"openblas", "eigen"};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], val = argv[i + 1];
    if (key == "--reps") reps = std::atoi(val.c_str());
    else if (key == "--threads") { thread_counts.clear(); for (auto& t : split(val)) thread_counts.push_back(std::atoi(t.c_str())); }
    else if (key == "--shapes") {
      shapes.clear();
      for (auto& t : split(val)) { shape s{}; std::sscanf(t.c_str(), "%dx%dx%d", &s.m, &s.n, &s.k); shapes.push_back(s); }
    } else if (key == "--cases") cases = split(val);
    else if (key == "--peers") peers = split(val);
  }
  double ceiling = 0;
  if (const char* env = std::getenv("AUTODIDACT_PEAK_GFLOPS")) ceiling = std::atof(env);
  const bool measured = ceiling <= 0;
  if (measured) ceiling = compare::fma_ceiling_gflops();
  std::printf("# single-core fp32 FMA ceiling %.1f GFLOP/s (%s; batch<float> width %d)\n", ceiling,
              measured ? "measured here, 12 FMA chains" : "AUTODIDACT_PEAK_GFLOPS", simd::width<float>);
  // What each peer ran with (Contracts: setup=): the script passes the
  // OpenBLAS build and core type it chose in AUTODIDACT_PEER_SETUP.
  const char* env_setup = std::getenv("AUTODIDACT_PEER_SETUP");
  const std::string openblas_setup = env_setup ? env_setup : "as-found";
  const std::string eigen_setup = "eigen-3.4";
  std::printf("# openblas setup: %s (OPENBLAS_CORETYPE=%s)\n", openblas_setup.c_str(),
              std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "(autodetect)");
  std::fflush(stdout);

  for (shape s : shapes)
    for (const std::string& cs : cases) {
      problem p = make(cs, s);
      const double flops = 2.0 * p.m * p.n * p.kk;
      // Calls per sample: about 25 ms of single-thread work at ~50 GFLOP/s.
      const int calls = std::max(1, int(0.025 * 50e9 / flops));
      char name[96];
      std::snprintf(name, sizeof name, "%s_%dx%dx%d", cs.c_str(), s.m, s.n, s.k);
      double ours_t1 = 0;
      for (int threads : thread_counts) {
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
        Eigen::setNbThreads(threads);
        std::vector<std::function<void(problem&)>> fns = {run_ours};
        for (auto& peer : peers) fns.push_back(peer == "openblas" ? run_openblas : run_eigen);
        std::vector<std::vector<double>> times(fns.size());
        for (auto& f : fns) f(p);  // warm up (buffers, thread pools)
        for (int r = 0; r < reps; ++r)
          for (std::size_t f = 0; f < fns.size(); ++f) {
            const auto t0 = clock_type::now();
            for (int c = 0; c < calls; ++c) fns[f](p);
            times[f].push_back(seconds_since(t0) / calls);
          }
        const double ours = flops / median(times[0]) / 1e9;
        for (std::size_t f = 1; f < fns.size(); ++f) {
          const double peer = flops / median(times[f]) / 1e9;
          std::printf("gemm/%s/t%d/%s ours=%.2f peer=%.2f unit=GFLOP/s ratio=%.3f setup=%s\n", name, threads,
                      peers[f - 1].c_str(), ours, peer, ours / peer,
                      peers[f - 1] == "openblas" ? openblas_setup.c_str() : eigen_setup.c_str());
        }
        if (threads == 1) {
          ours_t1 = ours;
          std::printf("gemm/%s/t1 pct_peak=%.1f ours=%.2f unit=GFLOP/s ceiling=%.1f\n", name, 100.0 * ours / ceiling,
                      ours, ceiling);
        } else if (ours_t1 > 0) {
          std::printf("gemm/%s/t%d scaling=%.2f ours=%.2f unit=GFLOP/s\n", name, threads, ours / ours_t1, ours);
        }
        std::fflush(stdout);
      }
    }
  return 0;
}
