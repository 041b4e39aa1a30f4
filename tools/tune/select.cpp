#include "tools/tune/select.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace attnjit::tune {

namespace {

bool takes_part(const Candidate& c, size_t variants, size_t shapes) {
  return c.pruned.empty() && c.compiled() && c.checked() && c.fully_timed(variants, shapes);
}

}  // namespace

double median_of(const Candidate& c, size_t variant, const Shape& shape) {
  for (const Timing& t : c.timings)
    if (t.variant == variant && t.shape == shape && t.error.empty() && t.runs > 0)
      return t.median_ms;
  return 0;
}

Selection select_candidate(std::vector<Candidate>& candidates, size_t variants,
                           const std::vector<Shape>& shapes) {
  Selection s;
  for (Candidate& c : candidates) c.chosen = false, c.score = 0;
  int baseline = -1;
  for (size_t i = 0; i < candidates.size(); ++i)
    if (candidates[i].baseline && takes_part(candidates[i], variants, shapes.size()))
      baseline = static_cast<int>(i);

  // Each (variant, shape)'s yardstick: the baseline's time, else the fastest one.
  std::vector<double> reference(variants * shapes.size(), 0);
  for (size_t v = 0; v < variants; ++v)
    for (size_t k = 0; k < shapes.size(); ++k) {
      double& ref = reference[v * shapes.size() + k];
      if (baseline >= 0) {
        ref = median_of(candidates[baseline], v, shapes[k]);
        continue;
      }
      for (const Candidate& c : candidates)
        if (takes_part(c, variants, shapes.size())) {
          const double t = median_of(c, v, shapes[k]);
          if (ref == 0 || t < ref) ref = t;
        }
    }

  int best = -1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    Candidate& c = candidates[i];
    if (!takes_part(c, variants, shapes.size())) continue;
    double log_sum = 0, worst_ratio = 0;
    for (size_t v = 0; v < variants; ++v)
      for (size_t k = 0; k < shapes.size(); ++k) {
        const double ratio = median_of(c, v, shapes[k]) / reference[v * shapes.size() + k];
        log_sum += std::log(ratio);
        worst_ratio = std::max(worst_ratio, ratio);
      }
    const size_t n = variants * shapes.size();
    c.score = n > 0 ? std::exp(log_sum / static_cast<double>(n)) : 1.0;
    if (c.baseline) continue;
    if (baseline >= 0 && worst_ratio > 1 + kShapeSlack) continue;
    if (best < 0 || c.score < candidates[best].score) best = static_cast<int>(i);
  }

  if (baseline >= 0 && (best < 0 || candidates[best].score > 1 - kMinGain)) {
    s.chosen = baseline;
    s.reason = best < 0 ? "no candidate is at least as fast on every shape; the baseline stays"
                        : fmt::format("the best candidate ({}) gains {:.1f}% (< {:.0f}%); the "
                                      "baseline stays",
                                      tile_name(candidates[best].tile),
                                      100 * (1 - candidates[best].score), 100 * kMinGain);
  } else if (best >= 0) {
    s.chosen = best;
    s.reason = baseline >= 0
                   ? fmt::format("{:.1f}% faster than the baseline (geometric mean)",
                                 100 * (1 / candidates[best].score - 1))
                   : "the baseline could not be timed; fastest of the candidates that were";
  } else {
    s.reason = "no candidate compiled, passed the reference check and was timed";
  }
  if (s.chosen >= 0) candidates[s.chosen].chosen = true;
  return s;
}

}  // namespace attnjit::tune
