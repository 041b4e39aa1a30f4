#pragma once
// `attnjit run --kind paged`: a random mixed batch against a paged KV cache on the
// GPU, checked against the float64 reference (cmd_run.cpp dispatches here).
#include <vector>

#include "tools/attnjit/args.h"

namespace attnjit::cli {

// The flags only the paged kind takes; prefill runs refuse them.
inline const std::vector<FlagSpec> kPagedRunFlags = {
    {"--context", true},   {"--contexts", true},  {"--query-len", true}, {"--query-lens", true},
    {"--page-size", true}, {"--splits", true},    {"--write-cache", false},
    {"--fused-kv", false}};

// The first paged-only flag on the command line, or nullptr.
const char* first_paged_flag(const Args& args);

int run_paged(const Args& args);

}  // namespace attnjit::cli
