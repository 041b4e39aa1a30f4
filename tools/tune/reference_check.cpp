#include "tools/tune/reference_check.h"

#include <fmt/format.h>

namespace attnjit::tune {

namespace {

// Fixed seeds: a failure reproduces with `attnjit run` on the same sizes.
constexpr uint64_t kCheckSeed = 20240611;

std::string split_label(int splits) {
  if (splits == kStreamSplit) return "stream split";
  if (splits == 0) return "its own split";
  return splits == 1 ? "no split" : fmt::format("{} segments", splits);
}

}  // namespace

harness::ProblemShape prefill_check_shape() {
  harness::ProblemShape s;
  // 300 rows: two query tiles of the largest BLOCK_M (256) and a partial one of every
  // smaller one; three key tiles of BLOCK_N 128, the last partial.
  s.batch = 2;
  s.seqlen_q = s.seqlen_k = 300;
  return s;
}

harness::PagedProblemShape paged_check_shape(TuneKind kind) {
  harness::PagedProblemShape s;
  if (kind == TuneKind::paged_decode) {
    // One token per sequence after contexts from a partial tile to many segments' worth.
    s.query_lens = {1, 1, 1, 1};
    s.context_lens = {1500, 640, 37, 2900};
  } else {
    // Chunks longer than the decode tile, after empty, short and long contexts.
    s.query_lens = {37, 300, 1, 129};
    s.context_lens = {700, 0, 1200, 64};
  }
  return s;
}

std::vector<int> check_splits(TuneKind kind) {
  switch (kind) {
    case TuneKind::prefill: return {0};
    case TuneKind::paged: return {0, 1, 2};
    case TuneKind::paged_decode: return {0, 1, 2, kStreamSplit};
  }
  return {0};
}

ReferenceCheck::ReferenceCheck(const Task& task) : kind_(task.kind), variants_(task.variants) {
  for (const ir::Variant& v : variants_) {
    auto p = std::make_unique<Problem>();
    if (kind_ == TuneKind::prefill) {
      p->prefill = harness::make_random_problem(v, prefill_check_shape(), kCheckSeed);
      p->prefill_ref = harness::compute_reference(v, p->prefill);
    } else {
      p->paged = harness::make_random_paged_problem(v, paged_check_shape(kind_), kCheckSeed);
      p->paged_ref = harness::compute_paged_reference(v, p->paged);
    }
    problems_.push_back(std::move(p));
  }
}

CheckOutcome ReferenceCheck::check(Engine& engine, size_t variant) {
  const ir::Variant& v = variants_[variant];
  Problem& p = *problems_[variant];
  CheckOutcome outcome;
  for (int splits : check_splits(kind_)) {
    harness::CheckResult result;
    try {
      if (kind_ == TuneKind::prefill) {
        harness::run_on_device(engine, v, p.prefill);
        result = harness::compare_with_reference(v, p.prefill, p.prefill_ref);
      } else {
        harness::PagedRunOptions options;
        options.num_splits = splits;
        harness::run_paged_on_device(engine, v, p.paged, options);
        result = harness::compare_paged_with_reference(v, p.paged, p.paged_ref);
      }
    } catch (const std::exception& e) {
      outcome.status = CheckOutcome::Status::error;
      outcome.detail = printable(fmt::format("{}: {}", split_label(splits), e.what()), 300);
      return outcome;
    }
    if (!result.passed) {
      outcome.status = CheckOutcome::Status::fail;
      outcome.detail = kind_ == TuneKind::prefill
                           ? result.summary()
                           : fmt::format("{}: {}", split_label(splits), result.summary());
      return outcome;
    }
    if (outcome.detail.empty()) outcome.detail = result.summary();
  }
  outcome.status = CheckOutcome::Status::pass;
  return outcome;
}

}  // namespace attnjit::tune
