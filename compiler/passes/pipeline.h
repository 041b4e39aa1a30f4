#pragma once
// DSL text to checked, canonical Variant IR: parse -> lower+verify -> canonicalize ->
// mask analysis. Every error of every stage is collected (nothing is compiled when
// any is present).
#include <string>

#include "compiler/ir/variant.h"
#include "compiler/support/result.h"

namespace attnjit {

Result<ir::Module, DiagnosticList> compile_variants(const SourceFile& file);
// Reads the file; a missing file is a diagnostic without location.
Result<ir::Module, DiagnosticList> compile_variants_file(const std::string& path,
                                                         SourceFile* file_out = nullptr);

}  // namespace attnjit
