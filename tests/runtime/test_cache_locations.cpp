// Where the JIT cache lives when nothing names it: a temp directory of the user's own.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>

#include "catch.h"
#include "scoped_env.h"
#include "runtime/cache/cache_locations.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using attnjit::testing::ScopedEnv;
using attnjit::testing::TempDir;

TEST_CASE("without a home the cache is a temp directory only this user can write",
          "[runtime][cache]") {
  TempDir tmp;
  ScopedEnv no_cache_dir("ATTNJIT_CACHE_DIR", nullptr), no_xdg("XDG_CACHE_HOME", nullptr),
      no_home("HOME", nullptr), tmpdir("TMPDIR", tmp.path().c_str());
  const fs::path own = tmp.path() / ("attnjit-cache-" + std::to_string(::getuid()));

  // Made with mode 0700 when absent, and used.
  attnjit::CacheLocation first = attnjit::default_cache_location();
  CHECK(first.path == own);
  struct stat info;
  REQUIRE(::stat(own.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);

  // Someone else can write it (or made it for us): not used; a private one instead.
  REQUIRE(::chmod(own.c_str(), 0777) == 0);
  attnjit::CacheLocation refused = attnjit::default_cache_location();
  CHECK(refused.path != own);
  CHECK(refused.path.parent_path() == tmp.path());
  REQUIRE(::stat(refused.path.c_str(), &info) == 0);
  CHECK((info.st_mode & 077) == 0);

  // A symlink in its place is not followed.
  fs::remove_all(own);
  fs::create_directory_symlink(refused.path, own);
  CHECK(attnjit::default_cache_location().path != own);
}
