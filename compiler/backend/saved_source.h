#pragma once
// Where a backend keeps the source of a failed compile, so a user can find it and
// recompile it by hand: "<dir>/attnjit-failed-<uri><suffix>".
#include <string>
#include <vector>

#include "compiler/backend/artifact.h"

#include "compiler/codegen/codegen.h"

namespace attnjit {

// `name` with every character outside [A-Za-z0-9._-] replaced by '_' ("kernel" if
// empty): safe as a file name and as a compiler's program name.
std::string file_name_safe(const std::string& name);

// Writes `src.text` to `directory` ("" = the temp directory) under the name above,
// with `suffix` (".cu", ".hip"). Written to a unique temp file and renamed, so
// concurrent failures of the same kernel never leave a half-written file. Returns the
// path, or "" with `why` set.
std::string save_failed_source(const GeneratedSource& src, const std::string& directory,
                               const std::string& suffix, std::string* why);

// The error of a failed compile of `src` with `options`. With `save_source` (a real
// compile error, the one case where a user wants to look at the source) the source is
// saved under `save_dir` and the error names the file, or says why it was not saved.
CompileError compile_failure(const GeneratedSource& src, const std::vector<std::string>& options,
                             std::string message, std::string log, bool save_source,
                             const std::string& save_dir, const std::string& suffix);

}  // namespace attnjit
