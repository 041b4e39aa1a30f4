#pragma once
// The prefill kind's parameter block from a validated call: shared by the mma.sync
// launch (launch_prefill.cpp) and the Hopper one (launch_prefill_hopper.cpp), whose
// block holds it after its tensor maps.
#include "compiler/ir/variant.h"
#include "runtime/api/prefill_args.h"
#include "templates/kernels/variant_args.h"  // before the parameter block that holds it
#include "templates/kernels/prefill_params.h"

namespace attnjit {

AttnjitPrefillParams prefill_params(const ir::Variant& variant, const PrefillArgs& args,
                                    const PrefillShape& shape);

}  // namespace attnjit
