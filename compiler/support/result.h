#pragma once
// Each compiler stage returns a value or an error value (never throws for user
// errors). Result<T, E> holds exactly one of them.
#include <utility>
#include <variant>

#include "compiler/support/diagnostics.h"

namespace attnjit {

template <typename E>
struct Failure {
  E error;
};
template <typename E>
Failure<std::decay_t<E>> fail(E&& e) {
  return {std::forward<E>(e)};
}

template <typename T, typename E = DiagnosticList>
class Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  template <typename F>
  Result(Failure<F> failure) : state_(std::in_place_index<1>, std::move(failure.error)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() {
    ATTNJIT_ASSERT(ok(), "value() on a failed Result");
    return std::get<0>(state_);
  }
  const T& value() const {
    ATTNJIT_ASSERT(ok(), "value() on a failed Result");
    return std::get<0>(state_);
  }
  const E& error() const {
    ATTNJIT_ASSERT(!ok(), "error() on a successful Result");
    return std::get<1>(state_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, E> state_;
};

}  // namespace attnjit
