#include "tools/attnjit/dump.h"

#include <fstream>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compiler/ir/print.h"
#include "runtime/io/npy.h"
#include "tools/attnjit/commands.h"

namespace attnjit::cli {

namespace {

using nlohmann::json;

// Writes NAME.npy and returns its meta.json entry. The logical dtype is what the
// kernel saw; the stored one is what NumPy will load (bf16 and fp8 keep their bits in
// unsigned integers, see runtime/io/npy.h).
json write_tensor(const std::filesystem::path& dir, const std::string& name, DType dtype,
                  const std::vector<int64_t>& shape, const void* data) {
  const std::string file = name + ".npy";
  auto written = io::write_npy(dir / file, dtype, shape, data);
  if (!written) throw CommandError(written.error());
  return {{"file", file},
          {"dtype", std::string(dtype_name(dtype))},
          {"stored_dtype", io::npy_type_of(dtype).numpy_name},
          {"shape", shape}};
}

json write_host_tensor(const std::filesystem::path& dir, const std::string& name,
                       const harness::HostTensor& t) {
  return write_tensor(dir, name, t.dtype, t.shape, t.bytes.data());
}

// The reference is float64; float32 is enough to compare against a 16-bit output and
// halves the file.
json write_reference(const std::filesystem::path& dir, const std::string& name,
                     const std::vector<int64_t>& shape, const std::vector<double>& values) {
  std::vector<float> narrowed(values.begin(), values.end());
  return write_tensor(dir, name, DType::f32, shape, narrowed.data());
}

json problem_meta(const RunRecord& run) {
  const harness::HostProblem& p = run.problem;
  json meta = {{"batch", p.batch}, {"ragged", p.ragged}, {"seed", run.seed}};
  if (p.ragged) {
    meta["seqlens_q"] = run.shape.seqlens_q;
    meta["seqlens_k"] = run.shape.seqlens_k;
    meta["max_seqlen_q"] = p.max_seqlen_q;
    meta["max_seqlen_k"] = p.max_seqlen_k;
  } else {
    meta["seqlen_q"] = p.max_seqlen_q;
    meta["seqlen_k"] = p.max_seqlen_k;
  }
  return meta;
}

json check_meta(const harness::CheckResult& c) {
  // JSON has no infinity; nlohmann writes null for it, which reads as "unbounded".
  return {{"passed", c.passed},
          {"max_abs_error", c.max_abs_error},
          {"max_abs_ref", c.max_abs_ref},
          {"rel_l2", c.rel_l2},
          {"rel_l2_bound", c.rel_l2_bound},
          {"low_precision_rel_l2", c.low_rel_l2},
          {"worst_ratio", c.worst_ratio},
          {"lse_max_abs_error", c.lse_max_abs_error},
          {"lse_worst_ratio", c.lse_worst_ratio},
          {"nonfinite", c.nonfinite},
          {"mismatched", c.mismatched},
          {"lse_mismatched", c.lse_mismatched},
          {"checked", c.checked}};
}

void create_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw CommandError("cannot create " + dir.string() + ": " + ec.message());
}

// The runtime values, so a replay gets the very ones the kernel saw. Inputs are named
// input_NAME: a variant may call an input `q` or `out`.
void write_runtime_values(const std::filesystem::path& dir, json& tensors,
                          const std::map<std::string, harness::HostTensor>& inputs,
                          const harness::HostTensor& sinks,
                          const harness::HostTensor& bidirectional_ranges) {
  for (const auto& [name, values] : inputs)
    tensors["input_" + name] = write_host_tensor(dir, "input_" + name, values);
  if (sinks.defined()) tensors["sinks"] = write_host_tensor(dir, "sinks", sinks);
  if (bidirectional_ranges.defined())
    tensors["bidirectional_ranges"] =
        write_host_tensor(dir, "bidirectional_ranges", bidirectional_ranges);
}

void write_meta(const std::filesystem::path& dir, const json& meta) {
  const std::filesystem::path file = dir / "meta.json";
  std::ofstream out(file, std::ios::trunc);
  out << meta.dump(2) << '\n';
  out.close();
  if (!out) throw CommandError("cannot write " + file.string());
}

json paged_problem_meta(const PagedRunRecord& run) {
  const harness::HostPagedProblem& p = run.problem;
  return {{"num_seqs", p.num_seqs},
          {"query_lens", p.query_lens},
          {"context_lens", run.shape.context_lens},
          {"seq_lens", p.seq_lens},
          {"total_q", p.total_q},
          {"max_seqlen_q", p.max_seqlen_q},
          {"num_blocks", p.num_blocks},
          {"max_blocks_per_seq", p.max_blocks_per_seq},
          {"page_size", p.page_size},
          {"layout", ir::kv_layout_name(p.layout)},
          {"fused_kv", p.fused_kv},
          {"splits_requested", run.splits_requested},
          {"splits_used", run.splits_used},
          {"cache_written_on_device", run.cache_written_on_device},
          {"seed", run.seed}};
}

}  // namespace

void write_dump(const std::filesystem::path& dir, const RunRecord& run) {
  create_dir(dir);
  const harness::HostProblem& p = run.problem;
  json tensors;
  tensors["q"] = write_host_tensor(dir, "q", p.q);
  tensors["k"] = write_host_tensor(dir, "k", p.k);
  tensors["v"] = write_host_tensor(dir, "v", p.v);
  tensors["out"] = write_host_tensor(dir, "out", p.out);
  tensors["ref_out"] = write_reference(dir, "ref_out", p.out.shape, run.reference.out);
  if (p.lse.defined()) {
    tensors["lse"] = write_host_tensor(dir, "lse", p.lse);
    tensors["ref_lse"] = write_reference(dir, "ref_lse", p.lse.shape,
                                         harness::reference_lse_in_output_layout(p, run.reference));
  }
  if (p.ragged) {
    tensors["cu_seqlens_q"] = write_host_tensor(dir, "cu_seqlens_q", p.cu_seqlens_q);
    tensors["cu_seqlens_k"] = write_host_tensor(dir, "cu_seqlens_k", p.cu_seqlens_k);
  }
  write_runtime_values(dir, tensors, p.inputs, p.sinks, p.bidirectional_ranges);

  json meta = {{"variant", run.variant.name},
               {"dsl", ir::print_dsl(run.variant)},
               {"kind", "prefill"},
               {"softmax_scale", run.variant.softmax_scale()},
               {"problem", problem_meta(run)},
               {"params", p.params},
               {"tensors", tensors},
               {"check", check_meta(run.check)}};
  write_meta(dir, meta);
}

void write_paged_dump(const std::filesystem::path& dir, const PagedRunRecord& run) {
  create_dir(dir);
  const harness::HostPagedProblem& p = run.problem;
  json tensors;
  tensors["q"] = write_host_tensor(dir, "q", p.q);
  // Every cache tensor the problem has: separate or fused K/V, and scale caches.
  const std::pair<const char*, const harness::HostTensor*> caches[] = {
      {"k_cache", &p.k_cache},
      {"v_cache", &p.v_cache},
      {"kv_cache", &p.kv_cache},
      {"k_scale_cache", &p.k_scale_cache},
      {"v_scale_cache", &p.v_scale_cache},
      {"kv_scale_cache", &p.kv_scale_cache}};
  for (const auto& [name, t] : caches)
    if (t->defined()) tensors[name] = write_host_tensor(dir, name, *t);
  tensors["block_table"] = write_host_tensor(dir, "block_table", p.block_table);
  tensors["seq_lens"] = write_host_tensor(dir, "seq_lens", p.seq_lens_table);
  tensors["cu_seqlens_q"] = write_host_tensor(dir, "cu_seqlens_q", p.cu_seqlens_q);
  tensors["out"] = write_host_tensor(dir, "out", p.out);
  tensors["ref_out"] = write_reference(dir, "ref_out", p.out.shape, run.reference.out);
  if (p.lse.defined()) {
    tensors["lse"] = write_host_tensor(dir, "lse", p.lse);
    tensors["ref_lse"] = write_reference(dir, "ref_lse", p.lse.shape, run.reference.lse);
  }
  if (run.cache_written_on_device) {
    tensors["k_tokens"] = write_host_tensor(dir, "k_tokens", p.k_tokens);
    tensors["v_tokens"] = write_host_tensor(dir, "v_tokens", p.v_tokens);
    tensors["slot_mapping"] = write_host_tensor(dir, "slot_mapping", p.slot_mapping);
  }
  write_runtime_values(dir, tensors, p.inputs, p.sinks, p.bidirectional_ranges);

  const ir::Variant& v = run.variant;
  // The kernel's out is result * out_scale (fp8 outputs); ref_out is the result.
  json scales = {{"kv_scale", ir::scale_granularity_name(v.kv_scale)},
                 {"k_descale", p.k_descale},
                 {"v_descale", p.v_descale},
                 {"out_scale", p.out_scale}};
  json meta = {{"variant", v.name},
               {"dsl", ir::print_dsl(v)},
               {"kind", "paged"},
               {"softmax_scale", v.softmax_scale()},
               {"problem", paged_problem_meta(run)},
               {"scales", scales},
               {"params", p.params},
               {"tensors", tensors},
               {"check", check_meta(run.check)}};
  write_meta(dir, meta);
}

}  // namespace attnjit::cli
