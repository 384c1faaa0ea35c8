// oneDNN 2-D convolutions as XLA FFI handlers (CPU), in XLA's layouts.
//
// Activations NHWC, weights HWIO, float32, as `lax.conv_general_dilated` with
// dimension_numbers ("NHWC", "HWIO", "NHWC") holds them; no layout change on
// the XLA side. Three handlers, each a pure function of its inputs:
//
//   enhance_onednn_conv_fwd         (x[N,H,W,C],   w[KH,KW,C,O]) -> y[N,Ho,Wo,O]
//   enhance_onednn_conv_bwd_data    (dy[N,Ho,Wo,O], w[KH,KW,C,O]) -> dx[N,H,W,C]
//   enhance_onednn_conv_bwd_weights (x[N,H,W,C],   dy[N,Ho,Wo,O]) -> dw[KH,KW,C,O]
//   enhance_onednn_conv_fwd_bias    (x, w, bias[O]) -> y = conv(x, w) + bias, then a ReLU
//                                   if the attribute relu = 1 (oneDNN post-ops)
//   enhance_onednn_conv_bwd_data_bias (dy, w, bias[C]) -> dx + bias: the backward-data
//                                   convolution with a bias, i.e. a transposed convolution
//                                   with bias (oneDNN's deconvolution forward, bias fused)
//   enhance_onednn_conv_concat_fwd_bias (x0[N,H,W,C0], x1[N,H,W,C1], w[KH,KW,C0+C1,O], bias[O])
//                                   -> y = conv(concat(x0, x1, channels), w) + bias, then a
//                                   ReLU if relu = 1, without the concatenation: conv(x0, w's
//                                   first C0 input channels) into y, then conv(x1, the rest)
//                                   + bias added to y by a sum post-op (then the ReLU)
//
// Attributes (int64): stride_h/w, pad_lo_h/w, pad_hi_h/w (>= 0), dil_h/w
// (lax's rhs_dilation, >= 1), omp (1: one OpenMP team for the call, see
// RunParallel; 0: the default rule). Operands may carry extra leading (batch) dims,
// as `jax.ffi.ffi_call(..., vmap_method="expand_dims")` passes them: leading
// dims broadcast as numpy does; where only the activation carries them they
// fold into N (one call), otherwise one call per leading index.
//
// The activations stay NHWC (oneDNN reads and writes them in place); the
// weights go to whatever layout the primitive picks (`format_tag::any`),
// reordered per call from/to HWIO (a few hundred KiB at most; the reorder is
// part of every timed call). Primitives and reorders are cached per shape and
// thread count. Threads: those of XLA's intra-op pool (`ThreadPool`, its
// `num_threads`, capped by ENHANCE_JAX_ONEDNN_THREADS if set), see RunParallel.
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

enum Kind : int { kFwd = 0, kBwdData = 1, kBwdWeights = 2 };

struct Geometry {
  int64_t n, h, w, c, o, kh, kw, ho, wo;
  int64_t sh, sw, plh, plw, phh, phw, dh, dw;
  // What follows the convolution (oneDNN bias and post-ops), forward: bits kBias (+ bias),
  // kSum (+ the destination's previous contents), kRelu (then a ReLU), applied in that order;
  // backward data: kBias only (run as a deconvolution).
  int64_t post = 0;
  // The weights' input channels: this convolution's c of them start at channel c_off of an
  // HWIO kernel with cw >= c_off + c input channels (c_off = 0, cw = c: the whole kernel).
  int64_t cw = 0, c_off = 0;
  std::array<int64_t, 20> key(int kind, int threads) const {
    return {kind * 8 + post, threads, n, h, w, c, o, kh, kw, ho, wo, sh, sw, plh, plw, phh, phw,
            dh * 1000 + dw, cw, c_off};
  }
};

enum Post : int64_t { kBias = 1, kSum = 2, kRelu = 4 };

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One primitive with its weight reorder, for one shape. Executed concurrently
// from several threads: primitives are stateless, scratchpads are per call.
struct Plan {
  dnnl::primitive prim;
  dnnl::memory::desc act_in, act_out;  // NHWC descriptors (in, out of the primitive)
  dnnl::memory::desc w_user, w_prim;   // HWIO and the primitive's weight layout
  bool reorder_w = false;
  dnnl::reorder w_reorder;             // HWIO -> prim (fwd, bwd data) or prim -> HWIO (bwd weights)
  dnnl::memory::desc scratch;
};

dnnl::memory::desc Act(int64_t n, int64_t c, int64_t h, int64_t w) {
  return dnnl::memory::desc({n, c, h, w}, dt::f32, tag::nhwc);
}

std::unique_ptr<Plan> MakePlan(int kind, const Geometry& g) {
  auto& eng = Engine();
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  auto src = Act(g.n, g.c, g.h, g.w);
  auto dst = Act(g.n, g.o, g.ho, g.wo);
  // HWIO, strided where the convolution uses a channel range of a wider kernel.
  auto w_user = dnnl::memory::desc({g.o, g.c, g.kh, g.kw}, dt::f32,
                                   dims{1, g.o, g.kw * g.cw * g.o, g.cw * g.o});
  auto w_any = dnnl::memory::desc({g.o, g.c, g.kh, g.kw}, dt::f32, tag::any);
  dims strides = {g.sh, g.sw}, dil = {g.dh - 1, g.dw - 1};
  dims pad_l = {g.plh, g.plw}, pad_r = {g.phh, g.phw};
  auto plan = std::make_unique<Plan>();
  plan->w_user = w_user;
  if (kind == kBwdData && (g.post & kBias)) {
    // dx + bias as oneDNN's deconvolution (the transposed convolution) of dy: its weights
    // are (C, O, KH, KW) in deconvolution terms, the same HWIO memory; pad_r from the sizes
    // (the conv's pad_hi less any rows its floor division dropped: the same index map).
    auto w_user_d = dnnl::memory::desc({g.c, g.o, g.kh, g.kw}, dt::f32,
                                       dims{g.o, 1, g.kw * g.c * g.o, g.c * g.o});
    auto w_any_d = dnnl::memory::desc({g.c, g.o, g.kh, g.kw}, dt::f32, tag::any);
    dims pad_rd = {(g.ho - 1) * g.sh + (g.kh - 1) * g.dh + 1 - g.plh - g.h,
                   (g.wo - 1) * g.sw + (g.kw - 1) * g.dw + 1 - g.plw - g.w};
    if (pad_rd[0] < 0 || pad_rd[1] < 0)
      throw std::invalid_argument(
          "backward data with bias: the strided convolution drops more input rows or "
          "columns than its pad_hi (use conv_input_grad, then add the bias)");
    auto pd = dnnl::deconvolution_forward::primitive_desc(
        eng, dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, dst,
        w_any_d, dnnl::memory::desc({g.c}, dt::f32, tag::a), src, strides, dil, pad_l, pad_rd,
        attr);
    plan->prim = dnnl::deconvolution_forward(pd);
    plan->act_in = dst;
    plan->act_out = src;
    plan->w_user = w_user_d;
    plan->w_prim = pd.weights_desc();
    plan->scratch = pd.scratchpad_desc();
    plan->reorder_w = plan->w_prim != w_user_d;
    if (plan->reorder_w)
      plan->w_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, w_user_d, eng,
                                                                    plan->w_prim));
    return plan;
  }
  // The forward (for the backward kinds: their hint, g.post = 0): bias, then the sum and the
  // ReLU as post-ops.
  dnnl::post_ops ops;
  if (g.post & kSum) ops.append_sum(1.f);
  if (g.post & kRelu) ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr fwd_attr = attr;
  fwd_attr.set_post_ops(ops);
  auto fwd_pd = (g.post & kBias)
      ? dnnl::convolution_forward::primitive_desc(
            eng, dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
            w_any, dnnl::memory::desc({g.o}, dt::f32, tag::a), dst, strides, dil, pad_l, pad_r,
            fwd_attr)
      : dnnl::convolution_forward::primitive_desc(
            eng, dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
            w_any, dst, strides, dil, pad_l, pad_r, fwd_attr);
  if (kind == kFwd) {
    plan->prim = dnnl::convolution_forward(fwd_pd);
    plan->act_in = src;
    plan->act_out = dst;
    plan->w_prim = fwd_pd.weights_desc();
    plan->scratch = fwd_pd.scratchpad_desc();
  } else if (kind == kBwdData) {
    auto pd = dnnl::convolution_backward_data::primitive_desc(
        eng, dnnl::algorithm::convolution_direct, src, w_any, dst, strides, dil, pad_l, pad_r,
        fwd_pd, attr);
    plan->prim = dnnl::convolution_backward_data(pd);
    plan->act_in = dst;
    plan->act_out = src;
    plan->w_prim = pd.weights_desc();
    plan->scratch = pd.scratchpad_desc();
  } else {
    auto pd = dnnl::convolution_backward_weights::primitive_desc(
        eng, dnnl::algorithm::convolution_direct, src, w_any, dst, strides, dil, pad_l, pad_r,
        fwd_pd, attr);
    plan->prim = dnnl::convolution_backward_weights(pd);
    plan->act_in = src;
    plan->act_out = dst;  // here: the second input (diff_dst)
    plan->w_prim = pd.diff_weights_desc();
    plan->scratch = pd.scratchpad_desc();
  }
  plan->reorder_w = plan->w_prim != w_user;
  if (plan->reorder_w) {
    plan->w_reorder = kind == kBwdWeights ? dnnl::reorder(dnnl::reorder::primitive_desc(
                                                eng, plan->w_prim, eng, w_user))
                                          : dnnl::reorder(dnnl::reorder::primitive_desc(
                                                eng, w_user, eng, plan->w_prim));
  }
  return plan;
}

const Plan& GetPlan(int kind, const Geometry& g, int threads) {
  static std::mutex mu;
  static std::map<std::array<int64_t, 20>, std::unique_ptr<Plan>> cache;
  auto key = g.key(kind, threads);
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, MakePlan(kind, g)).first;
  return *it->second;
}

// Per-thread scratch: the primitive's scratchpad and the reordered weights.
struct AlignedBuffer {
  void* data = nullptr;
  size_t bytes = 0;
  ~AlignedBuffer() { std::free(data); }
};

void* ThreadBuffer(int which, size_t bytes) {
  thread_local AlignedBuffer buffers[2];
  auto& b = buffers[which];
  if (b.bytes < bytes) {
    std::free(b.data);
    b.bytes = (bytes + 63) / 64 * 64;
    b.data = std::aligned_alloc(64, b.bytes);
    if (b.data == nullptr) {
      b.bytes = 0;
      throw std::bad_alloc();
    }
  }
  return b.data;
}

int Threads(ffi::ThreadPool& pool) {
  int64_t n = pool.num_threads();
  if (n <= 0) n = omp_get_num_procs();
  if (const char* cap = std::getenv("ENHANCE_JAX_ONEDNN_THREADS")) {
    int c = std::atoi(cap);
    if (c > 0) n = std::min<int64_t>(n, c);
  }
  return static_cast<int>(std::max<int64_t>(n, 1));
}

// Runs one convolution of `kind` on single (unbatched) operands; `bias` (O floats for a
// forward, C for backward data) where g.post & kBias; `b` (the weights of fwd / bwd data)
// points at the whole HWIO kernel, of which the convolution uses channels
// [g.c_off, g.c_off + g.c).
void Run(int kind, const Geometry& g, int threads, float* a, float* b, float* out,
         float* bias = nullptr) {
  const Plan& p = GetPlan(kind, g, threads);
  auto& eng = Engine();
  dnnl::stream stream(eng);
  dnnl::memory scratch(p.scratch, eng, ThreadBuffer(0, p.scratch.get_size()));
  void* wbuf = p.reorder_w ? ThreadBuffer(1, p.w_prim.get_size()) : nullptr;
  if (kind == kFwd || kind == kBwdData) {
    // a: activation in (x or dy), b: HWIO weights, out: activation out.
    dnnl::memory w_user(p.w_user, eng, b + g.c_off * g.o);
    dnnl::memory w = w_user;
    if (p.reorder_w) {
      w = dnnl::memory(p.w_prim, eng, wbuf);
      p.w_reorder.execute(stream, w_user, w);
    }
    dnnl::memory in(p.act_in, eng, a), res(p.act_out, eng, out);
    if (g.post & kBias) {  // a forward, or the deconvolution (dy its source, dx its destination)
      dnnl::memory mb(dnnl::memory::desc({kind == kFwd ? g.o : g.c}, dt::f32, tag::a), eng, bias);
      p.prim.execute(stream, {{DNNL_ARG_SRC, in}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, mb},
                              {DNNL_ARG_DST, res}, {DNNL_ARG_SCRATCHPAD, scratch}});
    } else if (kind == kFwd) {
      p.prim.execute(stream, {{DNNL_ARG_SRC, in}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, res},
                              {DNNL_ARG_SCRATCHPAD, scratch}});
    } else {
      p.prim.execute(stream, {{DNNL_ARG_DIFF_DST, in}, {DNNL_ARG_WEIGHTS, w},
                              {DNNL_ARG_DIFF_SRC, res}, {DNNL_ARG_SCRATCHPAD, scratch}});
    }
  } else {
    // a: x, b: dy, out: HWIO weight gradient.
    dnnl::memory src(p.act_in, eng, a), ddst(p.act_out, eng, b);
    dnnl::memory w_user(p.w_user, eng, out);
    dnnl::memory w = p.reorder_w ? dnnl::memory(p.w_prim, eng, wbuf) : w_user;
    p.prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst},
                            {DNNL_ARG_DIFF_WEIGHTS, w}, {DNNL_ARG_SCRATCHPAD, scratch}});
    if (p.reorder_w) p.w_reorder.execute(stream, w, w_user);
  }
  stream.wait();
}

// Buffers for the partial weight gradients of a batch split, reused across calls.
struct BufferPool {
  std::mutex mu;
  std::multimap<size_t, void*> free;
  void* Get(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = free.lower_bound(bytes);
      if (it != free.end() && it->first < 2 * bytes) {
        void* p = it->second;
        free.erase(it);
        return p;
      }
    }
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  void Put(size_t bytes, void* p) {
    std::lock_guard<std::mutex> lock(mu);
    free.emplace(bytes, p);
  }
};

BufferPool& Partials() {
  static BufferPool* pool = new BufferPool();  // never destroyed: tasks may outlive a call
  return *pool;
}

// How a call uses the threads of XLA's intra-op pool (`threads` of them):
// - "split" (default where it applies): the batch is cut into `threads` slices, each run
//   by a single-threaded oneDNN primitive on a thread of XLA's own pool (the caller runs
//   slices too, and takes any slice no pool thread has started, so a busy pool never
//   stalls it). No thread besides XLA's. The weight gradient sums per-slice partials.
// - "omp": one oneDNN call on an OpenMP team of `threads` threads (the caller and
//   threads - 1 OpenMP workers). Used where the batch has fewer images than threads, for
//   weight gradients whose weights outweigh a quarter of the activations (U-Net
//   bottleneck: summing partials would cost more than the convolution), and where the call
//   asks for it (attribute `omp`: models.convolution sets it for shapes where one team was
//   faster, e.g. large weights, which every slice would reorder again).
// ENHANCE_JAX_ONEDNN_THREADING=omp forces the second everywhere.
std::atomic<int>& ThreadingMode() {  // 0: split where it applies, 1: OpenMP team only
  static std::atomic<int> mode([] {
    const char* v = std::getenv("ENHANCE_JAX_ONEDNN_THREADING");
    return v != nullptr && std::string(v) == "omp" ? 1 : 0;
  }());
  return mode;
}

// `omp_only`: the call's own choice (the `omp` attribute, set by models.convolution per shape).
bool SplitAllowed(bool omp_only) {
  return !omp_only && ThreadingMode().load(std::memory_order_relaxed) == 0;
}

// Sets the calling thread's OpenMP team size for one call and restores it after: the ICV is
// per thread, and the thread is XLA's (often the one that called into JAX, e.g. Python's
// main thread). Left at 1 it made PyTorch in the same process (whose omp_* calls can bind to
// the same libgomp) run its convolutions on one thread: 2x slower (issue 19's benchmarks).
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int n) : prev_(omp_get_max_threads()) {
    if (n != prev_) omp_set_num_threads(n);
  }
  ~ScopedOmpThreads() {
    if (omp_get_max_threads() != prev_) omp_set_num_threads(prev_);
  }
  ScopedOmpThreads(const ScopedOmpThreads&) = delete;
  ScopedOmpThreads& operator=(const ScopedOmpThreads&) = delete;

 private:
  int prev_;
};

void RunParallel(int kind, const Geometry& g, ffi::ThreadPool& pool, int threads, bool omp_only,
                 float* a, float* b, float* out, float* bias = nullptr) {
  int64_t chunks = std::min<int64_t>(threads, g.n);
  int64_t w_elems = g.kh * g.kw * g.c * g.o;
  bool split = SplitAllowed(omp_only) && chunks > 1 &&
               (kind != kBwdWeights || 4 * w_elems <= g.n * g.h * g.w * g.c);
  if (!split) {
    ScopedOmpThreads team(threads);
    Run(kind, g, threads, a, b, out, bias);
    return;
  }
  // Per-image element counts of the batched operands.
  int64_t img_x = g.h * g.w * g.c, img_y = g.ho * g.wo * g.o;
  struct Shared {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    std::mutex mu;
    std::condition_variable cv;
    std::string error;
  };
  auto shared = std::make_shared<Shared>();
  std::vector<void*> partial(chunks, nullptr);
  size_t w_bytes = w_elems * sizeof(float);
  if (kind == kBwdWeights)
    for (int64_t i = 1; i < chunks; ++i) partial[i] = Partials().Get(w_bytes);
  auto slice = [=, &partial](int64_t i) {
    int64_t lo = g.n * i / chunks, hi = g.n * (i + 1) / chunks;
    Geometry gi = g;
    gi.n = hi - lo;
    ScopedOmpThreads team(1);
    if (kind == kFwd) {
      Run(kind, gi, 1, a + lo * img_x, b, out + lo * img_y, bias);
    } else if (kind == kBwdData) {
      Run(kind, gi, 1, a + lo * img_y, b, out + lo * img_x, bias);
    } else {
      float* dst = i == 0 ? out : static_cast<float*>(partial[i]);
      Run(kind, gi, 1, a + lo * img_x, b + lo * img_y, dst);
    }
  };
  // A task takes slices until none is left; slices are claimed, so a task that starts
  // after the caller has done them all returns without touching the operands.
  auto work = [shared, slice, chunks]() {
    for (;;) {
      int64_t i = shared->next.fetch_add(1);
      if (i >= chunks) return;
      try {
        slice(i);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->error = e.what();
      }
      if (shared->done.fetch_add(1) + 1 == chunks) {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->cv.notify_all();
      }
    }
  };
  for (int64_t t = 1; t < chunks; ++t) pool.Schedule([work]() { work(); });
  work();
  {
    std::unique_lock<std::mutex> lock(shared->mu);
    shared->cv.wait(lock, [&] { return shared->done.load() == chunks; });
  }
  if (kind == kBwdWeights) {
    for (int64_t i = 1; i < chunks; ++i) {
      const float* p = static_cast<const float*>(partial[i]);
      for (int64_t j = 0; j < w_elems; ++j) out[j] += p[j];
      Partials().Put(w_bytes, partial[i]);
    }
  }
  if (!shared->error.empty()) throw std::runtime_error(shared->error);
}

// Leading (batch) dims of an operand of rank 4 + k: its first k dims.
std::vector<int64_t> Leading(ffi::Span<const int64_t> d) {
  return std::vector<int64_t>(d.begin(), d.end() - 4);
}

int64_t Prod(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

ffi::Error Conv(int kind, ffi::ThreadPool& pool, ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b,
                ffi::ResultBuffer<ffi::F32> out, int64_t stride_h, int64_t stride_w,
                int64_t pad_lo_h, int64_t pad_lo_w, int64_t pad_hi_h, int64_t pad_hi_w,
                int64_t dil_h, int64_t dil_w, bool omp_only, float* bias = nullptr,
                int64_t post = 0, int64_t c_off = -1) {
  auto da = a.dimensions(), db = b.dimensions(), dout = out->dimensions();
  if (da.size() < 4 || db.size() < 4 || dout.size() < 4)
    return ffi::Error::InvalidArgument("onednn conv: operands must have rank >= 4");
  // Shapes of the single convolution (last four dims of each operand).
  auto last4 = [](ffi::Span<const int64_t> d) {
    return std::array<int64_t, 4>{d[d.size() - 4], d[d.size() - 3], d[d.size() - 2], d[d.size() - 1]};
  };
  auto A = last4(da), B = last4(db), O = last4(dout);
  Geometry g{};
  if (kind == kFwd) {  // a = x, b = w, out = y
    g.n = A[0], g.h = A[1], g.w = A[2], g.c = A[3];
    g.kh = B[0], g.kw = B[1], g.o = B[3];
    g.ho = O[1], g.wo = O[2];
  } else if (kind == kBwdData) {  // a = dy, b = w, out = dx
    g.n = O[0], g.h = O[1], g.w = O[2], g.c = O[3];
    g.kh = B[0], g.kw = B[1], g.o = B[3];
    g.ho = A[1], g.wo = A[2];
  } else {  // a = x, b = dy, out = dw
    g.n = A[0], g.h = A[1], g.w = A[2], g.c = A[3];
    g.kh = O[0], g.kw = O[1], g.o = O[3];
    g.ho = B[1], g.wo = B[2];
  }
  g.sh = stride_h, g.sw = stride_w, g.plh = pad_lo_h, g.plw = pad_lo_w;
  g.phh = pad_hi_h, g.phw = pad_hi_w, g.dh = dil_h, g.dw = dil_w;
  g.post = post;
  // Forward with c_off >= 0: x's C channels are channels [c_off, c_off + C) of w's. Otherwise
  // all of them.
  g.cw = kind == kFwd ? B[2] : g.c;
  g.c_off = kind == kFwd ? std::max<int64_t>(c_off, 0) : 0;
  if (kind == kFwd && (c_off < 0 ? g.c != g.cw : g.c_off + g.c > g.cw))
    return ffi::Error::InvalidArgument("onednn conv: input channels do not match the weights");
  if (g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.plh < 0 || g.plw < 0 || g.phh < 0 ||
      g.phw < 0)
    return ffi::Error::InvalidArgument("onednn conv: bad stride, dilation or padding");
  auto out_size = [](int64_t n, int64_t k, int64_t s, int64_t lo, int64_t hi, int64_t d) {
    return (n + lo + hi - ((k - 1) * d + 1)) / s + 1;
  };
  if (g.ho != out_size(g.h, g.kh, g.sh, g.plh, g.phh, g.dh) ||
      g.wo != out_size(g.w, g.kw, g.sw, g.plw, g.phw, g.dw) || g.ho < 1 || g.wo < 1)
    return ffi::Error::InvalidArgument("onednn conv: inconsistent shapes");

  // Leading dims: broadcast a's and b's to out's.
  auto la = Leading(da), lb = Leading(db), lo = Leading(dout);
  size_t k = lo.size();
  if (la.size() > k || lb.size() > k)
    return ffi::Error::InvalidArgument("onednn conv: result has fewer leading dims than an operand");
  la.insert(la.begin(), k - la.size(), 1);
  lb.insert(lb.begin(), k - lb.size(), 1);
  for (size_t i = 0; i < k; ++i)
    if ((la[i] != lo[i] && la[i] != 1) || (lb[i] != lo[i] && lb[i] != 1))
      return ffi::Error::InvalidArgument("onednn conv: leading dims do not broadcast");
  int threads = Threads(pool);
  float* pa = a.typed_data();
  float* pb = b.typed_data();
  float* po = out->typed_data();
  int64_t size_a = A[0] * A[1] * A[2] * A[3], size_b = B[0] * B[1] * B[2] * B[3];
  int64_t size_o = O[0] * O[1] * O[2] * O[3];
  int64_t total = Prod(lo);
  if (total == 1) {
    RunParallel(kind, g, pool, threads, omp_only, pa, pb, po, bias);
    return ffi::Error::Success();
  }
  // Activation-only batching of fwd / bwd data: the leading dims are more images.
  if (kind != kBwdWeights && Prod(lb) == 1 && Prod(la) == total) {
    Geometry gg = g;
    gg.n = g.n * total;
    RunParallel(kind, gg, pool, threads, omp_only, pa, pb, po, bias);
    return ffi::Error::Success();
  }
  std::vector<int64_t> idx(k, 0);
  for (int64_t t = 0; t < total; ++t) {
    int64_t ia = 0, ib = 0;
    for (size_t i = 0; i < k; ++i) {
      ia = ia * la[i] + (la[i] == 1 ? 0 : idx[i]);
      ib = ib * lb[i] + (lb[i] == 1 ? 0 : idx[i]);
    }
    RunParallel(kind, g, pool, threads, omp_only, pa + ia * size_a, pb + ib * size_b,
                po + t * size_o, bias);
    for (size_t i = k; i-- > 0;) {
      if (++idx[i] < lo[i]) break;
      idx[i] = 0;
    }
  }
  return ffi::Error::Success();
}

// Runs f, turning an exception (oneDNN's `dnnl::error` is one) into an FFI error.
template <class F>
ffi::Error Guarded(F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return ffi::Error::Internal(std::string("onednn conv: ") + e.what());
  }
}

template <int kKind>
ffi::Error ConvKind(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b,
                    ffi::ResultBuffer<ffi::F32> out, int64_t sh, int64_t sw, int64_t plh,
                    int64_t plw, int64_t phh, int64_t phw, int64_t dh, int64_t dw, int64_t omp) {
  return Guarded([&] {
    return Conv(kKind, pool, a, b, out, sh, sw, plh, plw, phh, phw, dh, dw, omp != 0);
  });
}

// The forward with a bias (O,) added and, for relu = 1, a ReLU after it, both as oneDNN
// post-ops of the convolution (no second pass over the output). Unbatched bias only: the
// Python side maps over any batch dims of a vmapped bias (vmap_method="sequential").
ffi::Error ConvBias(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                    ffi::Buffer<ffi::F32> bias, ffi::ResultBuffer<ffi::F32> out, int64_t sh,
                    int64_t sw, int64_t plh, int64_t plw, int64_t phh, int64_t phw, int64_t dh,
                    int64_t dw, int64_t omp, int64_t relu) {
  auto db = bias.dimensions(), dwt = w.dimensions();
  if (db.size() != 1 || dwt.size() < 4 || db[0] != dwt[dwt.size() - 1])
    return ffi::Error::InvalidArgument("onednn conv: bias must be (O,) for weights (..., O)");
  return Guarded([&] {
    return Conv(kFwd, pool, x, w, out, sh, sw, plh, plw, phh, phw, dh, dw, omp != 0,
                bias.typed_data(), kBias | (relu != 0 ? kRelu : 0));
  });
}

// The backward-data convolution plus a bias (C,): a transposed convolution with bias, run as
// oneDNN's deconvolution forward with the bias fused. Unbatched bias (vmap "sequential").
ffi::Error ConvBwdDataBias(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> w,
                           ffi::Buffer<ffi::F32> bias, ffi::ResultBuffer<ffi::F32> out, int64_t sh,
                           int64_t sw, int64_t plh, int64_t plw, int64_t phh, int64_t phw,
                           int64_t dh, int64_t dw, int64_t omp) {
  auto db = bias.dimensions(), dwt = w.dimensions();
  if (db.size() != 1 || dwt.size() < 4 || db[0] != dwt[dwt.size() - 2])
    return ffi::Error::InvalidArgument("onednn conv: bias must be (C,) for weights (..., C, O)");
  return Guarded([&] {
    return Conv(kBwdData, pool, dy, w, out, sh, sw, plh, plw, phh, phw, dh, dw, omp != 0,
                bias.typed_data(), kBias);
  });
}

// The forward of a convolution over the channel concatenation of x0 and x1 with bias (and
// ReLU), without forming the concatenation: conv(x0, w[:, :, :C0]) into out, then
// conv(x1, w[:, :, C0:]) + bias added to it by oneDNN's sum post-op, then the ReLU. Each
// reads its weights in place (a strided view of the HWIO kernel). Unbatched operands only
// (vmap_method="sequential").
ffi::Error ConvConcatBias(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x0, ffi::Buffer<ffi::F32> x1,
                          ffi::Buffer<ffi::F32> w, ffi::Buffer<ffi::F32> bias,
                          ffi::ResultBuffer<ffi::F32> out, int64_t sh, int64_t sw, int64_t plh,
                          int64_t plw, int64_t phh, int64_t phw, int64_t dh, int64_t dw,
                          int64_t omp, int64_t relu) {
  auto d0 = x0.dimensions(), d1 = x1.dimensions(), dwt = w.dimensions(), db = bias.dimensions();
  if (d0.size() != 4 || d1.size() != 4 || dwt.size() != 4 || db.size() != 1 || db[0] != dwt[3])
    return ffi::Error::InvalidArgument(
        "onednn conv concat: x0, x1 (N, H, W, C), w (KH, KW, C0 + C1, O), bias (O,)");
  if (d0[0] != d1[0] || d0[1] != d1[1] || d0[2] != d1[2] || d0[3] + d1[3] != dwt[2])
    return ffi::Error::InvalidArgument(
        "onednn conv concat: x0 and x1 differ in N, H, W or their channels do not sum to w's");
  return Guarded([&] {
    ffi::Error e = Conv(kFwd, pool, x0, w, out, sh, sw, plh, plw, phh, phw, dh, dw, omp != 0,
                        nullptr, 0, 0);
    if (e.failure()) return e;
    return Conv(kFwd, pool, x1, w, out, sh, sw, plh, plw, phh, phw, dh, dw, omp != 0,
                bias.typed_data(), kBias | kSum | (relu != 0 ? kRelu : 0), d0[3]);
  });
}

// Bindings: the thread pool, 2, 3 or 4 float32 buffers in, one out, then the attributes
// every handler takes (the convolution's geometry and `omp`).
#define ENHANCE_CONV_ATTRS                                                         \
  .Attr<int64_t>("stride_h").Attr<int64_t>("stride_w").Attr<int64_t>("pad_lo_h")   \
      .Attr<int64_t>("pad_lo_w").Attr<int64_t>("pad_hi_h").Attr<int64_t>("pad_hi_w") \
      .Attr<int64_t>("dil_h").Attr<int64_t>("dil_w").Attr<int64_t>("omp")
#define ENHANCE_ARG Arg<ffi::Buffer<ffi::F32>>()
#define ENHANCE_BIND2                                                                     \
  ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().ENHANCE_ARG.ENHANCE_ARG.Ret<ffi::Buffer<ffi::F32>>() \
      ENHANCE_CONV_ATTRS
#define ENHANCE_BIND3                                                                       \
  ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().ENHANCE_ARG.ENHANCE_ARG.ENHANCE_ARG                \
      .Ret<ffi::Buffer<ffi::F32>>() ENHANCE_CONV_ATTRS
#define ENHANCE_BIND4                                                                       \
  ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().ENHANCE_ARG.ENHANCE_ARG.ENHANCE_ARG.ENHANCE_ARG    \
      .Ret<ffi::Buffer<ffi::F32>>() ENHANCE_CONV_ATTRS

}  // namespace

// (x, w) / (dy, w) / (x, dy) -> y / dx / dw
XLA_FFI_DEFINE_HANDLER_SYMBOL(enhance_onednn_conv_fwd, ConvKind<kFwd>, ENHANCE_BIND2);
XLA_FFI_DEFINE_HANDLER_SYMBOL(enhance_onednn_conv_bwd_data, ConvKind<kBwdData>, ENHANCE_BIND2);
XLA_FFI_DEFINE_HANDLER_SYMBOL(enhance_onednn_conv_bwd_weights, ConvKind<kBwdWeights>,
                              ENHANCE_BIND2);
// (x, w, bias) -> y; (dy, w, bias) -> dx + bias; (x0, x1, w, bias) -> y
XLA_FFI_DEFINE_HANDLER_SYMBOL(enhance_onednn_conv_fwd_bias, ConvBias,
                              ENHANCE_BIND3.Attr<int64_t>("relu"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(enhance_onednn_conv_bwd_data_bias, ConvBwdDataBias, ENHANCE_BIND3);
XLA_FFI_DEFINE_HANDLER_SYMBOL(enhance_onednn_conv_concat_fwd_bias, ConvConcatBias,
                              ENHANCE_BIND4.Attr<int64_t>("relu"));

// Benchmarks: 0 = split batches over XLA's pool where it applies, 1 = OpenMP team only.
extern "C" void enhance_onednn_set_threading(int mode) { ThreadingMode().store(mode != 0); }

// The oneDNN version the extension runs with, e.g. 30200 for 3.2.0.
extern "C" int enhance_onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return v->major * 10000 + v->minor * 100 + v->patch;
}
