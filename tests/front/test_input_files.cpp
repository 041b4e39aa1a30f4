// Reading variant files: only regular files, of bounded size, every read checked.
// A FIFO, a directory, a device or a file that fails to read is an error at once
// (these tests would hang or read forever if it were not).
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "catch.h"
#include "compiler/front/parser.h"
#include "compiler/passes/pipeline.h"
#include "compiler/support/text_file.h"
#include "temp_dir.h"

using namespace attnjit;
using attnjit::testing::TempDir;

namespace {

// The one error of reading `path` as a variant file, as rendered.
std::string read_error(const std::string& path) {
  SourceFile file;
  auto module = compile_variants_file(path, &file);
  REQUIRE_FALSE(module.ok());
  REQUIRE(module.error().all().size() == 1);
  CHECK_FALSE(module.error().all()[0].location.known());
  return render(module.error(), file);
}

const char* kGood = "variant v { heads = 8 / 8; head_dim = 64; q = bf16; kv = bf16; out = bf16; }\n";

}  // namespace

TEST_CASE("variant files: a FIFO is refused without waiting for a writer", "[front][files]") {
  TempDir dir;
  const std::string fifo = (dir.path() / "pipe.attn").string();
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(read_error(fifo) == fifo + ": error: cannot open variant file: it is a named pipe (FIFO), "
                                   "not a regular file\n");
}

TEST_CASE("variant files: directories and devices are refused", "[front][files]") {
  TempDir dir;
  CHECK(read_error(dir.path().string()) ==
        dir.path().string() + ": error: cannot open variant file: it is a directory\n");
  CHECK(read_error("/dev/zero") ==
        "/dev/zero: error: cannot open variant file: it is a character device, not a regular file\n");
  CHECK(read_error("/dev/null").find("character device") != std::string::npos);
}

TEST_CASE("variant files: a read that fails is an error, not an empty file", "[front][files]") {
  // /proc/self/mem is a regular file whose first page cannot be read.
  CHECK(read_error("/proc/self/mem") ==
        "/proc/self/mem: error: cannot open variant file: a read failed: Input/output error\n");
}

TEST_CASE("variant files: an unreadable file names the reason", "[front][files]") {
  TempDir dir;
  const std::string path = dir.write("secret.attn", kGood);
  REQUIRE(chmod(path.c_str(), 0) == 0);
  if (geteuid() == 0) {
    SUCCEED("running as root: permissions do not stop reads");
    return;
  }
  CHECK(read_error(path) == path + ": error: cannot open variant file: Permission denied\n");
}

TEST_CASE("variant files: the size limit", "[front][files]") {
  TempDir dir;
  // Exactly at the limit: read (and parsed: a variant padded with a comment).
  std::string text = kGood;
  text += '#';
  text.append(front::kMaxSourceBytes - text.size() - 1, 'x');
  text += '\n';
  REQUIRE(text.size() == front::kMaxSourceBytes);
  CHECK(compile_variants_file(dir.write("at_limit.attn", text)).ok());
  // One byte more: refused before it is read.
  const std::string big = dir.write("big.attn", text + " ");
  CHECK(read_error(big) == big + ": error: cannot open variant file: it is larger than the 2 MiB limit\n");
}

TEST_CASE("variant files: a good file reads back exactly", "[front][files]") {
  TempDir dir;
  const std::string path = dir.write("good.attn", kGood);
  auto file = read_variant_file(path);
  REQUIRE(file.ok());
  CHECK(file->path == path);
  CHECK(file->text == kGood);
  CHECK(compile_variants_file(path).ok());
  // An empty file reads (as nothing) and then has no variant.
  CHECK(read_error(dir.write("empty.attn", "")) == dir.path().string() + "/empty.attn: error: no variant in file\n");
}

TEST_CASE("read_text_file: limits and sizes", "[front][files]") {
  TempDir dir;
  const std::string path = dir.write("ten", "0123456789");
  CHECK(read_text_file(path, 10).ok());
  auto small = read_text_file(path, 9);
  REQUIRE_FALSE(small.ok());
  CHECK(small.error() == "it is larger than the 9 bytes limit");
  CHECK(read_text_file("/nonexistent/file", 10).error() == "No such file or directory");
  CHECK(byte_size_text(2 * 1024 * 1024) == "2 MiB");
  CHECK(byte_size_text(64 * 1024) == "64 KiB");
  CHECK(byte_size_text(1000) == "1000 bytes");
  // /proc files report size 0 but have content: read to their end all the same.
  auto status = read_text_file("/proc/self/status", 1 << 20);
  REQUIRE(status.ok());
  CHECK(status->find("Name:") == 0);
}
