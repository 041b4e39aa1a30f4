#include "tools/tune/candidate.h"

#include <algorithm>

namespace attnjit::tune {

const char* check_status_name(CheckOutcome::Status s) {
  switch (s) {
    case CheckOutcome::Status::not_run: return "";
    case CheckOutcome::Status::pass: return "pass";
    case CheckOutcome::Status::fail: return "FAIL";
    case CheckOutcome::Status::error: return "error";
  }
  return "";
}

bool Candidate::compiled() const {
  return !builds.empty() && std::all_of(builds.begin(), builds.end(), [](const KernelBuild& b) {
    return b.status == KernelBuild::Status::ok;
  });
}

bool Candidate::failed_check() const {
  return std::any_of(checks.begin(), checks.end(), [](const CheckOutcome& c) {
    return c.status == CheckOutcome::Status::fail;
  });
}

bool Candidate::checked() const {
  return !checks.empty() && std::all_of(checks.begin(), checks.end(), [](const CheckOutcome& c) {
    return c.status == CheckOutcome::Status::pass;
  });
}

bool Candidate::fully_timed(size_t variants, size_t shapes) const {
  size_t good = 0;
  for (const Timing& t : timings)
    if (t.error.empty() && t.runs > 0) ++good;
  return good == variants * shapes;
}

}  // namespace attnjit::tune
