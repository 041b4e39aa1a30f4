#include "compiler/passes/pipeline.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "compiler/front/parser.h"
#include "compiler/ir/lower.h"
#include "compiler/passes/canonicalize.h"
#include "compiler/passes/mask_analysis.h"

namespace attnjit {

Result<ir::Module, DiagnosticList> compile_variants(const SourceFile& file) {
  // A file with syntax errors stops after parsing: lowering a half-parsed variant would
  // mostly report consequences (a "missing" key that was merely misspelled).
  auto tree = front::parse(file);
  if (!tree) return fail(tree.error());
  auto module = ir::lower(*tree);
  if (!module) return fail(module.error());
  ir::Module out = std::move(*module);
  for (ir::Variant& v : out.variants) {
    v = passes::canonicalize(v);
    v.band = passes::analyze_mask(v.mask);
  }
  return out;
}

Result<ir::Module, DiagnosticList> compile_variants_file(const std::string& path,
                                                         SourceFile* file_out) {
  SourceFile file{path, {}};
  if (file_out) *file_out = file;
  auto cannot_read = [](const std::string& why) {
    DiagnosticList diagnostics;
    diagnostics.error({}, "cannot open variant file: " + why);
    return diagnostics;
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return fail(cannot_read("it is a directory"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(cannot_read(std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  file.text = text.str();
  if (file_out) *file_out = file;
  return compile_variants(file);
}

}  // namespace attnjit
