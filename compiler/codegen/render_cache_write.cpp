// Codegen for the cache_write kind: how the new tokens are read (the variant's q type)
// and encoded into the cache (its kv type and scale granularity).
#include <fmt/format.h>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/dialect.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/support/embedded_files.h"

namespace attnjit {

namespace {

const char* source_decoder(DType t) {
  switch (t) {
    case DType::bf16: return "attnjit::ReadBf16";
    case DType::f16: return "attnjit::ReadFp16";
    case DType::f32: return "attnjit::ReadF32";
    default: return nullptr;
  }
}

// The encoder for a cache of type `kv` holding tokens of type `q`.
const char* cache_encoder(DType kv, DType q) {
  switch (kv) {
    case DType::bf16: return q == DType::bf16 ? "attnjit::Encode16<attnjit::Bf16>" : nullptr;
    case DType::f16: return q == DType::f16 ? "attnjit::Encode16<attnjit::Fp16>" : nullptr;
    case DType::fp8_e4m3: return "attnjit::EncodeE4m3";
    case DType::fp8_e5m2: return "attnjit::EncodeE5m2";
    case DType::i8: return "attnjit::EncodeInt8";
    default: return nullptr;
  }
}

}  // namespace

// A paged cache, and a reader of the tokens' type and an encoder into the cache's.
std::string cache_write_problem(const KernelSpec& spec) {
  const ir::Variant& v = spec.variant;
  if (v.kv_cache.kind != ir::KvCacheKind::paged) return "cache_write needs kv_cache = paged(...)";
  if (!source_decoder(v.q_type) || !cache_encoder(v.kv_type, v.q_type))
    return fmt::format("cannot write {} tokens into a {} cache", dtype_name(v.q_type),
                       dtype_name(v.kv_type));
  return {};
}

Result<GeneratedSource, std::string> render_cache_write(const KernelSpec& spec) {
  const ir::Variant& v = spec.variant;
  if (std::string why = cache_write_problem(spec); !why.empty())
    return fail(fmt::format("variant {}: {}", v.name, why));
  const char* decoder = source_decoder(v.q_type);
  const char* encoder = cache_encoder(v.kv_type, v.q_type);
  const Dialect& dialect = dialect_for(vendor_of_arch(spec.arch));
  auto tile_ops = vocabulary_text(dialect);
  auto params = embedded_file("templates/kernels/cache_write_params.h");
  auto kernel = embedded_file("templates/kernels/cache_write.cuh");
  if (!tile_ops) return fail(tile_ops.error());
  if (!params || !kernel)
    return fail(std::string("cache_write templates are not embedded in this build"));

  const KernelGeometry geometry = geometry_of(spec);
  GeneratedSource src;
  src.uri = spec.uri();
  src.entry = spec.entry_name();
  src.text = fmt::format(
      "// attnjit generated kernel: variant {}, kind cache_write, arch {} ({})\n"
      "// uri: {}\n"
      "// Rendered from templates/kernels/cache_write.cuh; regenerate rather than edit.\n\n"
      "// ---- device vocabulary: {} ----\n{}"
      "\n// ---- templates/kernels/cache_write_params.h ----\n{}"
      "\n// ---- specialization ----\n"
      "typedef {} SourceDecoder;\n"
      "typedef {} Encode;\n"
      "typedef Encode::Storage CacheStorage;\n"
      "constexpr int kHeadDim = {};\n"
      "constexpr int kPageSize = {};\n"
      "constexpr bool kPerTokenHeadScales = {};\n"
      "constexpr int kWarps = {};  // a warp per (token, KV head)\n"
      "constexpr int kWarpLanes = {};  // lanes of a warp (wavefront)\n"
      "#define ATTNJIT_ENTRY {}\n"
      "\n// ---- templates/kernels/cache_write.cuh ----\n{}",
      v.name, spec.arch, dialect.name, src.uri, dialect.tile_ops, *tile_ops, *params, decoder,
      encoder, v.head_dim, v.kv_cache.page_size,
      v.kv_scale == ir::ScaleGranularity::per_token_head, geometry.warps,
      geometry.warp_lanes, src.entry,
      *kernel);
  return src;
}

}  // namespace attnjit
