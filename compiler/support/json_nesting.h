#pragma once
// A nesting check to run on JSON text before parsing it: nlohmann's parser recurses once
// per level of arrays and objects, so a hostile file of a million '[' would exhaust the
// stack. Every reader of JSON a user supplies (tuning configs, AOT indexes) asks this
// first.
#include <string>
#include <string_view>

namespace attnjit {

// Where `text` first nests arrays and objects deeper than `max_depth`, as
// "line L, column C" (nlohmann's words); empty when it never does. Brackets inside
// strings do not count.
std::string json_too_deep_at(std::string_view text, int max_depth);

}  // namespace attnjit
