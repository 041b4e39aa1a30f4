#pragma once
// `attnjit run`'s runtime values: `--param NAME=VALUE` on the command line, and the
// report of which params, inputs, sinks and ranges a run used.
#include <map>
#include <string>

#include "compiler/ir/variant.h"
#include "runtime/harness/paged_problem.h"
#include "runtime/harness/prefill_problem.h"
#include "tools/attnjit/args.h"

namespace attnjit::cli {

inline const FlagSpec kParamFlag{"--param", true};

// Every --param NAME=VALUE (repeatable; the last value of a name wins). A UsageError
// names a malformed pair, a value that is not a finite number, or a name that is not
// a runtime param of `variant` (listing those it has).
std::map<std::string, float> parse_params(const Args& args, const ir::Variant& variant);

// One line per kind of value the variant takes ("params   cap = 0.5 (given)"), none
// for a variant without runtime values. `shape` holds what the command line gave.
void print_runtime_values(const ir::Variant& variant, const harness::ProblemShape& shape,
                          const harness::HostProblem& problem);
void print_runtime_values(const ir::Variant& variant, const harness::ProblemShape& shape,
                          const harness::HostPagedProblem& problem);

}  // namespace attnjit::cli
