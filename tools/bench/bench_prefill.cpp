// attnjit-bench: times the prefill kernel with CUDA events (warm-up, then the median
// of many runs) on random bf16/fp16 inputs and prints TFLOP/s, one JSON line per
// problem, in the same shapes as the torch peers (batch = tokens / seqlen).
// Also measures compile cost: a cold NVRTC compile into an empty cache directory
// and a warm load of the same kernel from the disk cache in a fresh engine.
//
//   attnjit-bench prefill --hdim 128 --heads 32 --seqlen 4096 --tokens 16384 --causal
//   attnjit-bench prefill --seqlen 16384 --causal --window 1024     (sliding window)
//   attnjit-bench prefill --causal --softcap 50 | --alibi | --sinks  (score transforms, sinks)
//   attnjit-bench prefill --hdim 128 --causal --hopper [--tile 128,128,12,2]  (sm_90a wgmma kernel)
//   attnjit-bench prefill --hdim 64 --hopper --tile 128,128,12,3,softmax_overlap,pingpong,persistent
//     (the wgmma schedule switches, compiler/spec/hopper_geometry.h; "schedule" in the JSON)
// FLOPs count the keys each query visits under the mask (causal: half, window: the
// window), so TFLOP/s compare across masks.
//   attnjit-bench compile-cost
//   attnjit-bench aot-load
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstring>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "compiler/passes/pipeline.h"
#include "compiler/spec/hopper_geometry.h"
#include "compiler/support/embedded_files.h"
#include "runtime/api/engine.h"
#include "tools/bench/bench_decode.h"

namespace {

using namespace attnjit;

struct PrefillBench {
  int hdim = 128, heads = 32, kv_heads = 0, seqlen = 4096, tokens = 16384;
  bool causal = false;
  int window = 0;        // > 0: causal && the last `window` keys (q_pos - kv_pos < window)
  double softcap = 0;    // > 0: score = softcap(cap) with a runtime param
  bool alibi = false;    // score = alibi(slope), slopes as an input array
  bool sinks = false;    // sinks = per_head, one random logit per query head
  std::string dtype = "bf16";
  int warmup = 5, iters = 30;
  std::optional<TileConfig> tile;
  bool hopper = false;   // the Hopper kernel where it runs the call, else mma.sync; --tile is its tile
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr,
               "attnjit-bench: %s\n"
               "usage: attnjit-bench prefill [--hdim D] [--heads H] [--kv-heads H] [--seqlen N]\n"
               "                             [--tokens T] [--causal] [--dtype bf16|fp16]\n"
               "                             [--window W] [--softcap C] [--alibi] [--sinks]\n"
               "                             [--iters N] [--tile BM,BN,W,S[,SWITCH...]] [--hopper]\n"
               "       (--hopper --tile switches: softmax_overlap, pingpong, persistent)\n"
               "       attnjit-bench decode --help\n"
               "       attnjit-bench compile-cost\n"
               "       attnjit-bench aot-load   (kernels from $ATTNJIT_AOT_DIR, JIT off)\n",
               message.c_str());
  std::exit(2);
}

ir::Variant bench_variant(const PrefillBench& b) {
  std::string features;
  if (b.window > 0) features += fmt::format("mask = causal && window({});", b.window - 1);
  else if (b.causal) features += "mask = causal;";
  if (b.softcap > 0) features += fmt::format(" param cap : f32 = {}; score = softcap(cap);", b.softcap);
  if (b.alibi) features += " input slope : f32[q_heads]; score = alibi(slope);";
  if (b.sinks) features += " sinks = per_head;";
  std::string text = fmt::format(
      "variant bench {{ heads = {} / {}; head_dim = {}; q = {}; kv = {}; out = {};\n"
      "  kv_cache = contiguous; {} }}\n",
      b.heads, b.kv_heads ? b.kv_heads : b.heads, b.hdim, b.dtype, b.dtype, b.dtype, features);
  auto module = compile_variants(SourceFile{"<bench>", text});
  if (!module) usage_error(render(module.error(), SourceFile{"<bench>", text}));
  return module->variants.at(0);
}

// Random bits in [-2, 2) as 16-bit floats, generated directly in the target format
// (the values only need to be non-degenerate, not normally distributed).
std::vector<uint16_t> random_halves(size_t n, DType t, uint64_t seed) {
  std::vector<uint16_t> out(n);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  for (size_t i = 0; i < n; ++i) {
    float f = dist(rng);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if (t == DType::bf16) {
      out[i] = static_cast<uint16_t>((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    } else {
      // fp16 by exponent/mantissa shift (|f| < 2, normal range only; tiny values flush).
      int exp = static_cast<int>((bits >> 23) & 0xFF) - 127 + 15;
      uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
      out[i] = exp <= 0 ? sign : static_cast<uint16_t>(sign | (exp << 10) | ((bits >> 13) & 0x3FF));
    }
  }
  return out;
}

int run_prefill(const PrefillBench& b) {
  EngineOptions options;
  // Without --hopper the mma.sync kernel runs, for a comparison in the same run.
  options.hopper = b.hopper;
  if (b.hopper) {
    options.hopper_tile = b.tile;
  } else {
    options.tile_override = b.tile;
  }
  Engine engine(options);
  auto gpu = engine.driver();
  ir::Variant v = bench_variant(b);
  const int batch = std::max(1, b.tokens / b.seqlen);
  const int kv_heads = v.kv_heads;
  const DType t = v.q_type;
  const size_t q_elems = static_cast<size_t>(batch) * b.seqlen * b.heads * b.hdim;
  const size_t kv_elems = static_cast<size_t>(batch) * b.seqlen * kv_heads * b.hdim;

  cuda::DeviceBuffer q(gpu, q_elems * 2), k(gpu, kv_elems * 2), vbuf(gpu, kv_elems * 2),
      out(gpu, q_elems * 2);
  q.upload(random_halves(q_elems, t, 1).data(), q_elems * 2);
  k.upload(random_halves(kv_elems, t, 2).data(), kv_elems * 2);
  vbuf.upload(random_halves(kv_elems, t, 3).data(), kv_elems * 2);

  PrefillArgs args;
  args.q = contiguous_view(q.data(), t, {batch, b.seqlen, b.heads, b.hdim});
  args.k = contiguous_view(k.data(), t, {batch, b.seqlen, kv_heads, b.hdim});
  args.v = contiguous_view(vbuf.data(), t, {batch, b.seqlen, kv_heads, b.hdim});
  args.out = contiguous_view(out.data(), t, {batch, b.seqlen, b.heads, b.hdim});
  cuda::DeviceBuffer slopes;
  if (b.alibi) {
    // Bloom's slopes: 2^(-8 (h + 1) / heads).
    std::vector<float> host(b.heads);
    for (int h = 0; h < b.heads; ++h) host[h] = std::exp2(-8.0f * (h + 1) / b.heads);
    slopes = cuda::DeviceBuffer(gpu, host.size() * sizeof(float));
    slopes.upload(host.data(), host.size() * sizeof(float));
    args.inputs["slope"] = contiguous_view(slopes.data(), DType::f32, {b.heads});
  }
  cuda::DeviceBuffer sinks;
  if (b.sinks) {
    // Sink logits in the range the scores take (|q.k| * scale is a few units here).
    std::vector<float> host(b.heads);
    std::mt19937_64 rng(4);
    std::uniform_real_distribution<float> dist(-2.f, 4.f);
    for (float& x : host) x = dist(rng);
    sinks = cuda::DeviceBuffer(gpu, host.size() * sizeof(float));
    sinks.upload(host.data(), host.size() * sizeof(float));
    args.sinks = contiguous_view(sinks.data(), DType::f32, {b.heads});
  }

  for (int i = 0; i < b.warmup; ++i) engine.prefill(v, args);
  cuda::synchronize(*gpu);
  cuda::EventTimer timer(gpu);
  std::vector<float> ms;
  for (int i = 0; i < b.iters; ++i) {
    timer.start();
    engine.prefill(v, args);
    ms.push_back(timer.stop_ms());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  // Keys visited per query, summed over the sequence.
  double pairs = double(b.seqlen) * b.seqlen;
  if (b.window > 0) {
    const double w = std::min(b.window, b.seqlen);
    pairs = w * (w + 1) / 2 + (double(b.seqlen) - w) * w;
  } else if (b.causal) {
    pairs /= 2.0;
  }
  const double flops = 4.0 * batch * b.heads * pairs * b.hdim;
  auto spec = engine.make_spec(v, KernelKind::prefill, std::string(engine.device_target().name));
  // The Hopper kernel takes the calls it can run, with its own config's tile.
  const bool on_hopper = engine.last_prefill_mainloop() == Mainloop::wgmma;
  auto hopper_spec = engine.wgmma_prefill_spec(v);
  const TileConfig tile = on_hopper && hopper_spec && *hopper_spec ? (*hopper_spec)->tile : spec->tile;
  std::printf(
      "{\"kind\": \"prefill\", \"impl\": \"attnjit\", \"mainloop\": \"%s\", \"batch\": %d, \"heads\": %d, "
      "\"kv_heads\": %d, \"seqlen\": %d, \"hdim\": %d, \"causal\": %s, \"window\": %d, "
      "\"softcap\": %g, \"alibi\": %s, \"sinks\": %s, \"dtype\": \"%s\", "
      "\"tile\": \"%dx%d w%d s%d\", \"schedule\": \"%s\", \"median_ms\": %.4f, \"min_ms\": %.4f, "
      "\"tflops\": %.1f}\n",
      mainloop_name(engine.last_prefill_mainloop()), batch, b.heads, kv_heads, b.seqlen, b.hdim,
      b.causal || b.window ? "true" : "false",
      b.window, b.softcap, b.alibi ? "true" : "false", b.sinks ? "true" : "false", b.dtype.c_str(),
      tile.block_m, tile.block_n, tile.warps, tile.stages,
      has_hopper_schedule(tile) ? hopper_schedule_tag(tile).substr(1).c_str() : "serial", median, ms[0],
      flops / median / 1e9);
  return 0;
}

// Cold = NVRTC into an empty cache; warm = a new engine (empty memory cache) loading
// the disk entry. Both through Engine::compile, so they include code generation.
int run_compile_cost() {
  // Where a CUDA driver is installed, NVRTC 12.9 and later keep their PTX and CUBIN in
  // the driver's compute cache, across processes: a second run's "cold" compiles would
  // be lookups (45-275 ms on the H200 host against 762-1222 ms for the first run).
  // NVRTC reads this variable when it sets that cache up, at its first compile.
  setenv("CUDA_CACHE_DISABLE", "1", 1);
  const auto dir = std::filesystem::temp_directory_path() /
                   fmt::format("attnjit-bench-cache-{}", static_cast<long>(::getpid()));
  std::filesystem::remove_all(dir);
  auto text = embedded_file("configs/variants/default.attn");
  auto module = compile_variants(SourceFile{"configs/variants/default.attn", std::string(*text)});
  if (!module) usage_error("default variants do not compile");
  // sm_90a: the Hopper (wgmma) prefill kernel of each variant that main loop takes.
  for (const char* arch : {"sm_90a", "sm_90", "sm_80"}) {
    const bool wgmma = std::string(arch) == "sm_90a";
    for (const ir::Variant& v : module->variants) {
      double cold = 0, warm = 0;
      size_t bytes = 0;
      std::string key, cold_source, warm_source;
      bool taken = true;
      for (int pass = 0; pass < 2 && taken; ++pass) {
        EngineOptions options;
        options.cache.directory = dir;
        Engine engine(options);
        KernelSpec spec;
        if (wgmma) {
          auto chosen = engine.wgmma_prefill_spec(v);
          if (!chosen) usage_error(chosen.error());
          taken = chosen->has_value();
          if (!taken) break;
          spec = **chosen;
        } else {
          auto made = engine.make_spec(v, KernelKind::prefill, arch);
          if (!made) usage_error(made.error());
          spec = *made;
        }
        auto start = std::chrono::steady_clock::now();
        auto compiled = engine.compile(spec);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        if (!compiled) usage_error(compiled.error().describe());
        (pass == 0 ? cold : warm) = ms;
        (pass == 0 ? cold_source : warm_source) = cache_source_name(compiled->lookup.source);
        bytes = compiled->lookup.artifact.binary.size();
        key = compiled->key;
      }
      if (!taken) continue;
      std::printf(
          "{\"kind\": \"compile\", \"arch\": \"%s\", \"mainloop\": \"%s\", \"variant\": \"%s\", "
          "\"key\": \"%s\", \"bytes\": %zu, \"cold_ms\": %.1f, \"cold\": \"%s\", \"warm_ms\": %.2f, "
          "\"warm\": \"%s\"}\n",
          arch, wgmma ? "wgmma" : "mma_sync", v.name.c_str(), key.c_str(), bytes, cold, cold_source.c_str(),
          warm, warm_source.c_str());
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}

// Loading kernels ahead of time: for each default variant's kernels on the GPU's target,
// the engine's lookup (index, read, SHA-256 and ELF checks) and the module load, from
// the AOT directories of $ATTNJIT_AOT_DIR with JIT off. Medians of 20 fresh engines.
int run_aot_load() {
  auto text = embedded_file("configs/variants/default.attn");
  auto module = compile_variants(SourceFile{"configs/variants/default.attn", std::string(*text)});
  if (!module) usage_error("default variants do not compile");
  auto gpu = cuda::Driver::open();
  if (!gpu) usage_error("no GPU: " + gpu.error());
  auto target = (*gpu)->target();
  if (!target) usage_error(target.error());
  const std::string arch((*target)->name);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  for (const ir::Variant& v : module->variants) {
    std::vector<double> lookup_ms, load_ms;
    std::string key, source;
    for (int run = 0; run < 20; ++run) {
      EngineOptions options;
      options.jit = false;
      options.cache.use_disk = false;
      Engine engine(options);
      auto spec = engine.make_spec(v, KernelKind::prefill, arch);
      if (!spec) usage_error(spec.error());
      auto start = std::chrono::steady_clock::now();
      auto compiled = engine.compile(*spec);
      auto found = std::chrono::steady_clock::now();
      if (!compiled) usage_error(compiled.error().describe());
      const Artifact& a = compiled->lookup.artifact;
      auto kernel = cuda::LoadedKernel::load(*gpu, a.binary, a.entry, a.format == BinaryFormat::ptx);
      auto loaded = std::chrono::steady_clock::now();
      if (!kernel) usage_error(kernel.error());
      lookup_ms.push_back(std::chrono::duration<double, std::milli>(found - start).count());
      load_ms.push_back(std::chrono::duration<double, std::milli>(loaded - found).count());
      key = compiled->key;
      source = cache_source_name(compiled->lookup.source);
    }
    std::printf(
        "{\"kind\": \"aot_load\", \"arch\": \"%s\", \"variant\": \"%s\", \"key\": \"%s\", "
        "\"source\": \"%s\", \"lookup_ms\": %.3f, \"module_load_ms\": %.3f, \"total_ms\": %.3f}\n",
        arch.c_str(), v.name.c_str(), key.c_str(), source.c_str(), median(lookup_ms),
        median(load_ms), median(lookup_ms) + median(load_ms));
  }
  return 0;
}

int parse_int(const std::string& flag, const char* value) {
  char* end = nullptr;
  long n = std::strtol(value, &end, 10);
  if (*value == '\0' || *end != '\0' || n <= 0) usage_error(flag + " needs a positive integer");
  return static_cast<int>(n);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage_error("missing command");
  const std::string command = argv[1];
  try {
    if (command == "compile-cost") return run_compile_cost();
    if (command == "aot-load") return run_aot_load();
    if (command == "decode") return run_decode_command(argc, argv);
    if (command != "prefill") usage_error("unknown command '" + command + "'");
    PrefillBench b;
    for (int i = 2; i < argc; ++i) {
      const std::string flag = argv[i];
      auto value = [&]() -> const char* {
        if (i + 1 >= argc) usage_error(flag + " needs a value");
        return argv[++i];
      };
      if (flag == "--hdim") b.hdim = parse_int(flag, value());
      else if (flag == "--heads") b.heads = parse_int(flag, value());
      else if (flag == "--kv-heads") b.kv_heads = parse_int(flag, value());
      else if (flag == "--seqlen") b.seqlen = parse_int(flag, value());
      else if (flag == "--tokens") b.tokens = parse_int(flag, value());
      else if (flag == "--iters") b.iters = parse_int(flag, value());
      else if (flag == "--causal") b.causal = true;
      else if (flag == "--window") b.window = parse_int(flag, value());
      else if (flag == "--softcap") b.softcap = parse_int(flag, value());
      else if (flag == "--alibi") b.alibi = true;
      else if (flag == "--sinks") b.sinks = true;
      else if (flag == "--hopper") b.hopper = true;
      else if (flag == "--dtype") b.dtype = value();
      else if (flag == "--tile") {
        auto tile = parse_tile_override(value());
        if (!tile) usage_error(tile.error());
        b.tile = *tile;
      } else usage_error("unknown flag '" + flag + "'");
    }
    return run_prefill(b);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnjit-bench: %s\n", e.what());
    return 1;
  }
}
