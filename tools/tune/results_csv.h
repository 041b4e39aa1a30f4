#pragma once
// The CSV of a tune run: one row per (task, candidate, variant, shape) timed, and one
// per (task, candidate, variant) that never reached timing, so every candidate shows
// with its config, compile status, check status, times and whether it was chosen.
// docs/tune.md "The CSV" describes each column.
#include <string>
#include <vector>

#include "tools/tune/plan.h"

namespace attnjit::tune {

// The header line's column names, in order.
const std::vector<std::string>& csv_columns();
// The whole file: the header, then the rows of every task in order.
std::string results_csv(const std::vector<Task>& tasks);
// A field as CSV writes it: quoted (quotes doubled) when it holds a comma, quote or
// line break.
std::string csv_field(const std::string& text);

}  // namespace attnjit::tune
