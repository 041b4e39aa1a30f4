#include "tools/tune/results_csv.h"

#include <fmt/format.h>

namespace attnjit::tune {

namespace {

std::string compile_status(const KernelBuild& b) {
  switch (b.status) {
    case KernelBuild::Status::not_run: return "";
    case KernelBuild::Status::ok: return b.all_cached ? "cached" : "ok";
    case KernelBuild::Status::failed: return "failed";
  }
  return "";
}

std::string optional_int(int value) { return value < 0 ? "" : std::to_string(value); }

}  // namespace

const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> columns = {
      "kind",       "bucket",       "variant",    "head_dim",     "BLOCK_M",
      "BLOCK_N",    "num_warps",    "num_stages", "min_blocks_per_sm", "num_splits",
      "baseline",   "pruned",       "compile",    "compile_ms",   "registers",
      "stack_bytes", "check",       "check_detail", "shape",      "median_us",
      "min_us",     "runs",         "time_error", "score",        "chosen"};
  return columns;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string results_csv(const std::vector<Task>& tasks) {
  std::string out;
  for (const std::string& c : csv_columns()) out += (out.empty() ? "" : ",") + c;
  out += "\n";
  for (size_t t = 0; t < tasks.size(); ++t) {
    const Task& task = tasks[t];
    for (const Candidate& c : task.candidates) {
      for (size_t v = 0; v < task.variants.size(); ++v) {
        const ir::Variant& variant = task.variants[v];
        const KernelBuild build = v < c.builds.size() ? c.builds[v] : KernelBuild{};
        const CheckOutcome check = v < c.checks.size() ? c.checks[v] : CheckOutcome{};
        std::vector<std::string> common = {
            tune_kind_name(task.kind),
            describe_conditions(task.conditions) + (task.new_bucket() ? " (new)" : ""),
            variant.name,
            std::to_string(variant.head_dim),
            std::to_string(c.tile.block_m),
            std::to_string(c.tile.block_n),
            std::to_string(c.tile.warps),
            std::to_string(c.tile.stages),
            std::to_string(c.tile.min_blocks_per_sm),
            std::to_string(c.tile.num_splits),
            c.baseline ? "yes" : "",
            c.pruned,
            compile_status(build),
            build.status == KernelBuild::Status::not_run ? ""
                                                          : fmt::format("{:.1f}", build.milliseconds),
            optional_int(build.registers),
            optional_int(build.stack_bytes),
            check_status_name(check.status),
            check.detail};
        const std::string score = c.score > 0 ? fmt::format("{:.4f}", c.score) : "";
        auto row = [&](const std::vector<std::string>& timing) {
          std::string line;
          bool first = true;
          auto add = [&](const std::string& field) {
            if (!first) line += ',';
            first = false;
            line += csv_field(field);
          };
          for (const std::string& f : common) add(f);
          for (const std::string& f : timing) add(f);
          add(score);
          add(c.chosen ? "yes" : "");
          out += line;
          out += '\n';
        };
        bool any = false;
        for (const Timing& time : c.timings) {
          if (time.variant != v) continue;
          any = true;
          const bool timed = time.error.empty() && time.runs > 0;
          row({shape_name(task.kind, time.shape),
               timed ? fmt::format("{:.3f}", time.median_ms * 1000) : "",
               timed ? fmt::format("{:.3f}", time.min_ms * 1000) : "",
               timed ? std::to_string(time.runs) : "", time.error});
        }
        if (!any) row({"", "", "", "", ""});
      }
    }
  }
  return out;
}

}  // namespace attnjit::tune
