#pragma once
// The runtime values of a random problem: params, input arrays, sinks and
// bidirectional ranges, each explicit where ProblemShape gives it, random otherwise.
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/harness/prefill_problem.h"
#include "runtime/harness/random_source.h"

namespace attnjit::harness {

// Fills problem.params / inputs / sinks / bidirectional_ranges for `v` (see
// make_random_problem for the distributions). `kv_lens` holds each sequence's key
// count. Throws std::invalid_argument for an explicit value `v` does not take.
void add_runtime_values(const ir::Variant& v, const ProblemShape& s,
                        const std::vector<int>& kv_lens, RandomSource& random,
                        HostProblem& problem);

}  // namespace attnjit::harness
