#pragma once
// DSL text to checked, canonical Variant IR: parse -> lower+verify -> canonicalize ->
// mask analysis. Every error of every stage is collected (nothing is compiled when
// any is present).
#include <string>

#include "compiler/ir/variant.h"
#include "compiler/support/result.h"

namespace attnjit {

// A file without any variant is an error ("no variant in file").
Result<ir::Module, DiagnosticList> compile_variants(const SourceFile& file);
// Reads a variant file: a regular file of at most front::kMaxSourceBytes, or standard
// input for "-" (then named "<stdin>" in diagnostics). A file that cannot be read is
// a diagnostic without location.
Result<SourceFile, DiagnosticList> read_variant_file(const std::string& path);
// read_variant_file, then compile_variants. `file_out` receives the text read (for
// rendering the diagnostics), or the path alone when nothing could be read.
Result<ir::Module, DiagnosticList> compile_variants_file(const std::string& path,
                                                         SourceFile* file_out = nullptr);

}  // namespace attnjit
