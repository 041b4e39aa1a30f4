#include "compiler/passes/pipeline.h"

#include "compiler/front/parser.h"
#include "compiler/ir/lower.h"
#include "compiler/passes/canonicalize.h"
#include "compiler/passes/mask_analysis.h"
#include "compiler/support/text_file.h"

namespace attnjit {

Result<ir::Module, DiagnosticList> compile_variants(const SourceFile& file) {
  // A file with syntax errors stops after parsing: lowering a half-parsed variant would
  // mostly report consequences (a "missing" key that was merely misspelled).
  auto tree = front::parse(file);
  if (!tree) return fail(tree.error());
  // Nothing to compile is a mistake (an empty file, the wrong file, only comments),
  // not a successful check of zero variants.
  if (tree->variants.empty()) {
    DiagnosticList none;
    none.error({}, "no variant in file");
    return fail(std::move(none));
  }
  auto module = ir::lower(*tree);
  if (!module) return fail(module.error());
  ir::Module out = std::move(*module);
  for (ir::Variant& v : out.variants) {
    v = passes::canonicalize(v);
    v.band = passes::analyze_mask(v.mask);
  }
  return out;
}

Result<SourceFile, DiagnosticList> read_variant_file(const std::string& path) {
  const bool from_stdin = path == "-";
  auto text = from_stdin ? read_standard_input(front::kMaxSourceBytes)
                         : read_text_file(path, front::kMaxSourceBytes);
  if (!text) {
    DiagnosticList diagnostics;
    diagnostics.error({}, "cannot open variant file: " + text.error());
    return fail(std::move(diagnostics));
  }
  return SourceFile{from_stdin ? "<stdin>" : path, std::move(*text)};
}

Result<ir::Module, DiagnosticList> compile_variants_file(const std::string& path,
                                                         SourceFile* file_out) {
  auto file = read_variant_file(path);
  if (file_out) *file_out = file ? *file : SourceFile{path == "-" ? "<stdin>" : path, {}};
  if (!file) return fail(file.error());
  return compile_variants(*file);
}

}  // namespace attnjit
