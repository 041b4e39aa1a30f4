// GPU test runner: without a usable GPU it prints why, lists the cases it did not run
// and exits 77, which ctest counts as "skipped" rather than hiding it.
#if defined(ATTNJIT_CATCH3)
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

#include <cstdio>
#include <string>

#include "runtime/api/engine.h"

int main(int argc, char** argv) {
  std::string why;
  if (!attnjit::Engine::gpu_available(&why)) {
    std::printf("SKIPPED: GPU tests need a CUDA device: %s\n", why.c_str());
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
