#pragma once
// One include for both Catch2 generations (v3 as a package, v2 as a single header).
#if defined(ATTNJIT_CATCH3)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
