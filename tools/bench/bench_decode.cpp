// attnjit-bench decode: one query token per sequence against a paged KV cache with a
// random block table (pages of all sequences shuffled), timed with CUDA events
// (warm-up, median). Reports the KV bytes read per second (K and V once, plus
// per-token scales) and KV tokens per second. --sweep times batches 1..N to show
// whether time jumps when the batch grows by one; with --splits-list it also times each
// listed split count per batch (the data the split heuristic is judged against).
// --query-len Q > 1 makes every sequence a prefill chunk of Q new tokens at the end of
// its ctx keys (chunked prefill) and reports TFLOP/s too; --mainloop wgmma runs the
// chunks on the Hopper kernel (a 9.0 device), mma_sync on the mma.sync kernel (the
// Hopper path off), each line naming the main loop that ran them. --decode-q-len-max N
// moves the cut (EngineOptions::hopper_paged_decode_q_len_max): 0 runs decode tokens on
// the Hopper kernel too, to time decode on both main loops.
//
//   attnjit-bench decode --batch 64 --ctx 8192 [--hq 32 --hk 8 --hdim 128]
//                        [--page 16] [--layout NHD|HND] [--kv bf16|fp8_e4m3]
//                        [--splits N|stream] [--sweep N] [--splits-list stream,1,2,4,8]
//                        [--query-len Q] [--mainloop mma_sync|wgmma] [--decode-q-len-max N]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "compiler/passes/pipeline.h"
#include "runtime/api/engine.h"
#include "tools/bench/bench_decode.h"

namespace {

using namespace attnjit;

struct DecodeBench {
  int batch = 64, ctx = 8192, hq = 32, hk = 8, hdim = 128, page = 16;
  std::string kv = "bf16";
  std::string layout = "NHD";
  int splits = 0;
  int sweep = 0;
  std::vector<int> splits_list;  // extra split counts timed per batch
  int iters = 50;
  std::optional<TileConfig> tile;
  int query_len = 1;     // new tokens a sequence: > 1 is a prefill chunk
  std::string mainloop;  // "" = the engine's default, "mma_sync" or "wgmma"
  std::optional<int> decode_q_len_max;  // the Hopper path's cut; unset = the engine's
};

[[noreturn]] void usage(const std::string& message) {
  std::fprintf(stderr,
               "attnjit-bench decode: %s\n"
               "usage: attnjit-bench decode [--batch B] [--ctx C] [--hq H] [--hk H] [--hdim D]\n"
               "                            [--page P] [--layout NHD|HND] [--kv bf16|fp8_e4m3]\n"
               "                            [--splits N|stream] [--splits-list N|stream,...]\n"
               "                            [--sweep N] [--iters N] [--tile BM,BN,W,S]\n"
               "                            [--query-len Q] [--mainloop mma_sync|wgmma]\n"
               "                            [--decode-q-len-max N]\n",
               message.c_str());
  std::exit(2);
}

ir::Variant decode_variant(const DecodeBench& b) {
  const std::string kv = b.kv == "bf16" ? "bf16" : b.kv + " per_tensor";
  const std::string text = fmt::format(
      "variant decode {{ heads = {} / {}; head_dim = {}; q = bf16; kv = {}; out = bf16;"
      " kv_cache = paged(page_size = {}, layout = {}); mask = causal; }}",
      b.hq, b.hk, b.hdim, kv, b.page, b.layout);
  auto module = compile_variants(SourceFile{"<decode bench>", text});
  if (!module) usage(render(module.error(), SourceFile{"<decode bench>", text}));
  return module->variants.at(0);
}

// Fills a buffer with non-degenerate bytes from a repeated random block (regenerating
// gigabytes of random numbers on the host would dominate the run).
void fill_random(cuda::DeviceBuffer& buf, uint64_t seed, bool fp8) {
  std::vector<unsigned char> block(std::min<size_t>(buf.size(), 8u << 20));
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < block.size(); i += 2) {
    // Small normal-range values: bf16 exponent 0x3F/0x3E... or fp8 codes without NaN.
    const uint64_t r = rng();
    if (fp8) {
      block[i] = static_cast<unsigned char>(r & 0x5F);
      if (i + 1 < block.size()) block[i + 1] = static_cast<unsigned char>((r >> 8) & 0xDF);
    } else {
      const uint16_t bits = static_cast<uint16_t>(0x3E00 + (r & 0x1FF)) | ((r >> 9 & 1) << 15);
      block[i] = static_cast<unsigned char>(bits & 0xFF);
      if (i + 1 < block.size()) block[i + 1] = static_cast<unsigned char>(bits >> 8);
    }
  }
  for (size_t off = 0; off < buf.size(); off += block.size())
    buf.upload(block.data(), std::min(block.size(), buf.size() - off), off);
}

struct Timing {
  double median_ms;
  int splits;
  Mainloop chunks;  // the main loop of the prefill chunks (Engine::last_paged_prefill_mainloop)
};

// Times one batch size with each split count in `split_counts` (0: the heuristic's).
std::vector<Timing> time_decode(Engine& engine, const std::shared_ptr<cuda::Driver>& gpu,
                                const ir::Variant& v, const DecodeBench& b, int batch,
                                const std::vector<int>& split_counts) {
  const int pages_per_seq = (b.ctx + b.page - 1) / b.page;
  const int num_blocks = batch * pages_per_seq;
  const int elem = b.kv == "bf16" ? 2 : 1;
  const size_t cache_bytes = static_cast<size_t>(num_blocks) * b.page * b.hk * b.hdim * elem;
  cuda::DeviceBuffer k(gpu, cache_bytes), vbuf(gpu, cache_bytes);
  fill_random(k, 1, elem == 1);
  fill_random(vbuf, 2, elem == 1);
  const int total_q = batch * b.query_len;
  cuda::DeviceBuffer q(gpu, static_cast<size_t>(total_q) * b.hq * b.hdim * 2);
  fill_random(q, 3, false);
  cuda::DeviceBuffer out(gpu, static_cast<size_t>(total_q) * b.hq * b.hdim * 2);

  std::vector<int> pages(num_blocks);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), std::mt19937(4));
  std::vector<int> cu(batch + 1), lens(batch, b.ctx);
  for (int i = 0; i <= batch; ++i) cu[i] = i * b.query_len;  // each chunk ends its sequence
  cuda::DeviceBuffer table(gpu, pages.size() * 4), cu_buf(gpu, cu.size() * 4), lens_buf(gpu, lens.size() * 4);
  table.upload(pages.data(), pages.size() * 4);
  cu_buf.upload(cu.data(), cu.size() * 4);
  lens_buf.upload(lens.data(), lens.size() * 4);

  const DType kv_type = v.kv_type;
  PagedArgs args;
  args.q = contiguous_view(q.data(), DType::bf16, {total_q, b.hq, b.hdim});
  // NHD pages are [page, kv_heads, dim]; HND pages [kv_heads, page, dim].
  const std::vector<int64_t> page_shape =
      b.layout == "NHD" ? std::vector<int64_t>{num_blocks, b.page, b.hk, b.hdim}
                        : std::vector<int64_t>{num_blocks, b.hk, b.page, b.hdim};
  args.k_cache = contiguous_view(k.data(), kv_type, page_shape);
  args.v_cache = contiguous_view(vbuf.data(), kv_type, page_shape);
  args.block_table = contiguous_view(table.data(), DType::i32, {batch, pages_per_seq});
  args.seq_lens = contiguous_view(lens_buf.data(), DType::i32, {batch});
  args.cu_seqlens_q = contiguous_view(cu_buf.data(), DType::i32, {batch + 1});
  args.max_seqlen_q = b.query_len;
  args.max_seqlen_k = b.ctx;
  args.out = contiguous_view(out.data(), DType::bf16, {total_q, b.hq, b.hdim});

  std::vector<Timing> timings;
  for (const int splits : split_counts) {
    args.num_splits = splits;
    for (int i = 0; i < 5; ++i) engine.paged(v, args);
    cuda::synchronize(*gpu);
    cuda::EventTimer timer(gpu);
    std::vector<float> ms;
    for (int i = 0; i < b.iters; ++i) {
      timer.start();
      engine.paged(v, args);
      ms.push_back(timer.stop_ms());
    }
    std::sort(ms.begin(), ms.end());
    timings.push_back({ms[ms.size() / 2], engine.last_paged_splits(), engine.last_paged_prefill_mainloop()});
  }
  return timings;
}

// A split count as printed: the number, or "stream" for the stream split; as a JSON
// value the name is quoted.
std::string split_name(int splits) {
  return splits == kStreamSplit ? std::string("stream") : std::to_string(splits);
}
std::string split_json(int splits) {
  return splits == kStreamSplit ? "\"" + split_name(splits) + "\"" : split_name(splits);
}

void report(const DecodeBench& b, int batch, const Timing& t) {
  const int elem = b.kv == "bf16" ? 2 : 1;
  const double kv_bytes = 2.0 * batch * b.ctx * b.hk * b.hdim * elem;
  const double seconds = t.median_ms * 1e-3;
  // Causal chunks: token i of Q sits at ctx - Q + i and sees that many keys plus one;
  // 4 FLOPs a query head, key and head dim (Q K^T and P V).
  const double q_len = b.query_len;
  const double keys_seen = q_len * (b.ctx - q_len) + q_len * (q_len + 1) / 2;
  const double tflops = 4.0 * batch * b.hq * b.hdim * keys_seen / seconds / 1e12;
  std::printf(
      "{\"kind\": \"%s\", \"impl\": \"attnjit\", \"batch\": %d, \"ctx\": %d, \"query_len\": %d, \"hq\": %d, "
      "\"hk\": %d, \"hdim\": %d, \"page\": %d, \"layout\": \"%s\", \"kv\": \"%s\", \"tile\": \"%s\", \"splits\": %s, "
      "\"mainloop\": \"%s\", \"median_ms\": %.4f, \"kv_tb_s\": %.3f, \"kv_tokens_per_s\": %.4g, \"tflops\": %.2f}\n",
      b.query_len > 1 ? "paged_chunks" : "decode", batch, b.ctx, b.query_len, b.hq, b.hk, b.hdim, b.page,
      b.layout.c_str(), b.kv.c_str(),
      b.tile ? fmt::format("{}x{} w{} s{}", b.tile->block_m, b.tile->block_n, b.tile->warps,
                           b.tile->stages).c_str()
             : "config",
      split_json(t.splits).c_str(), mainloop_name(t.chunks), t.median_ms, kv_bytes / seconds / 1e12,
      batch * double(b.ctx) / seconds, tflops);
}

int positive(const std::string& flag, const char* value) {
  char* end = nullptr;
  const long n = std::strtol(value, &end, 10);
  if (*value == '\0' || *end != '\0' || n <= 0) usage(flag + " needs a positive integer");
  return static_cast<int>(n);
}

// A segment count, or "stream" for the stream split.
int split_count(const std::string& flag, const std::string& value) {
  return value == "stream" ? kStreamSplit : positive(flag + " (or 'stream')", value.c_str());
}

std::vector<int> split_list(const std::string& flag, const std::string& text) {
  std::vector<int> values;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    values.push_back(split_count(flag, text.substr(start, comma - start)));
    start = comma + 1;
  }
  return values;
}

// One line per batch: the heuristic's choice and each listed split count's time.
void report_split_grid(const DecodeBench& b, int batch, const std::vector<Timing>& t) {
  std::string by_splits;
  for (size_t i = 1; i < t.size(); ++i)
    by_splits += fmt::format("{}\"{}\": {:.4f}", i > 1 ? ", " : "", split_name(t[i].splits),
                             t[i].median_ms);
  std::printf("{\"kind\": \"decode_splits\", \"batch\": %d, \"ctx\": %d, \"auto_splits\": %s, "
              "\"auto_ms\": %.4f, \"ms_by_splits\": {%s}}\n",
              batch, b.ctx, split_json(t[0].splits).c_str(), t[0].median_ms, by_splits.c_str());
}

}  // namespace

int run_decode_command(int argc, char** argv) {
  DecodeBench b;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--batch") b.batch = positive(flag, value());
    else if (flag == "--ctx") b.ctx = positive(flag, value());
    else if (flag == "--hq") b.hq = positive(flag, value());
    else if (flag == "--hk") b.hk = positive(flag, value());
    else if (flag == "--hdim") b.hdim = positive(flag, value());
    else if (flag == "--page") b.page = positive(flag, value());
    else if (flag == "--splits") b.splits = split_count(flag, value());
    else if (flag == "--sweep") b.sweep = positive(flag, value());
    else if (flag == "--splits-list") b.splits_list = split_list(flag, value());
    else if (flag == "--iters") b.iters = positive(flag, value());
    else if (flag == "--kv") b.kv = value();
    else if (flag == "--layout") b.layout = value();
    else if (flag == "--query-len") b.query_len = positive(flag, value());
    else if (flag == "--mainloop") b.mainloop = value();
    else if (flag == "--decode-q-len-max") {
      const std::string text = value();
      b.decode_q_len_max = text == "0" ? 0 : positive(flag + " (or 0)", text.c_str());
    }
    else if (flag == "--tile") {
      auto tile = parse_tile_override(value());
      if (!tile) usage(tile.error());
      b.tile = *tile;
    }
    else usage("unknown flag '" + flag + "'");
  }
  if (b.kv != "bf16" && b.kv != "fp8_e4m3" && b.kv != "fp8_e5m2") usage("--kv: bf16 or fp8_e4m3");
  if (b.layout != "NHD" && b.layout != "HND") usage("--layout: NHD or HND");
  if (!b.mainloop.empty() && b.mainloop != "mma_sync" && b.mainloop != "wgmma")
    usage("--mainloop: mma_sync or wgmma");
  if (b.query_len > b.ctx) usage("--query-len: at most --ctx (the chunk is the end of each sequence)");
  if (b.splits != 0 && !b.splits_list.empty())
    usage("--splits-list times the heuristic's count and each listed one; drop --splits");
  EngineOptions options;
  options.tile_override = b.tile;
  if (!b.mainloop.empty()) options.hopper = b.mainloop == "wgmma";
  options.hopper_paged_decode_q_len_max = b.decode_q_len_max;
  Engine engine(options);
  auto gpu = engine.driver();
  const ir::Variant v = decode_variant(b);
  std::vector<int> split_counts = {b.splits};  // 0: the heuristic
  split_counts.insert(split_counts.end(), b.splits_list.begin(), b.splits_list.end());
  const int first = b.sweep > 0 ? 1 : b.batch, last = b.sweep > 0 ? b.sweep : b.batch;
  for (int batch = first; batch <= last; ++batch) {
    const std::vector<Timing> t = time_decode(engine, gpu, v, b, batch, split_counts);
    if (b.splits_list.empty()) report(b, batch, t[0]);
    else report_split_grid(b, batch, t);
  }
  return 0;
}
