#pragma once
// Small helpers for the libraries backends open with dlopen (NVRTC, hiprtc, comgr).
#include <dlfcn.h>

#include <string>

namespace attnjit {

// The path the dynamic loader actually loaded `library` from (it may have been opened
// by soname); `fallback` when the loader does not say.
std::string loaded_path(void* library, const std::string& fallback);

// Looks `symbol` up in `library` into `slot`; when absent, appends its name to
// `missing` (comma-separated) so one message can name every absent symbol.
template <typename Fn>
bool bind_symbol(void* library, const char* symbol, Fn* slot, std::string* missing) {
  *slot = reinterpret_cast<Fn>(dlsym(library, symbol));
  if (!*slot) *missing += std::string(missing->empty() ? "" : ", ") + symbol;
  return *slot != nullptr;
}

}  // namespace attnjit
