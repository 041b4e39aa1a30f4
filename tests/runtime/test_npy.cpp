// .npy writer and reader: the exact header NumPy expects, and round trips of every
// dtype the dumps use.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "catch.h"
#include "runtime/io/npy.h"

namespace {

using attnjit::DType;
namespace io = attnjit::io;

// The header dict as it appears in the file (between the preamble and the padding).
std::string header_dict(const std::string& file) {
  const size_t len = static_cast<unsigned char>(file[8]) | static_cast<unsigned char>(file[9]) << 8;
  std::string header = file.substr(10, len);
  return header.substr(0, header.find('}') + 1);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::filesystem::path temp_dir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("attnjit-test-npy-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

// A file NumPy could have written, from a handmade header (for reader-side cases).
std::string handmade(const std::string& dict, const std::string& payload, int major = 1) {
  std::string out = std::string("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  std::string header = dict + "\n";
  const size_t len = header.size();
  out += static_cast<char>(len & 0xFF);
  out += static_cast<char>((len >> 8) & 0xFF);
  if (major >= 2) out += std::string(2, '\0');
  return out + header + payload;
}

}  // namespace

TEST_CASE("npy header is NumPy's format 1.0 layout", "[io]") {
  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  const std::string file = io::encode_npy("<f4", {2, 3}, values.data(), values.size() * 4);

  CHECK(file.substr(0, 6) == std::string("\x93NUMPY", 6));
  CHECK(file[6] == 1);  // major
  CHECK(file[7] == 0);  // minor
  const size_t header_len =
      static_cast<unsigned char>(file[8]) | static_cast<unsigned char>(file[9]) << 8;
  // Data starts 64-byte aligned and the header ends with a newline.
  CHECK((10 + header_len) % 64 == 0);
  CHECK(file[10 + header_len - 1] == '\n');
  CHECK(header_dict(file) == "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
  // Only spaces pad the dict up to the newline.
  const std::string padding = file.substr(10 + header_dict(file).size(),
                                          header_len - header_dict(file).size() - 1);
  CHECK(padding.find_first_not_of(' ') == std::string::npos);
  REQUIRE(file.size() == 10 + header_len + values.size() * 4);
  CHECK(std::memcmp(file.data() + 10 + header_len, values.data(), values.size() * 4) == 0);
}

TEST_CASE("npy shapes are written as Python tuples", "[io]") {
  const int32_t one = 7;
  std::vector<int32_t> five(5, 1);
  CHECK(header_dict(io::encode_npy("<i4", {5}, five.data(), 20)) ==
        "{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }");
  CHECK(header_dict(io::encode_npy("<i4", {}, &one, 4)) ==
        "{'descr': '<i4', 'fortran_order': False, 'shape': (), }");
  CHECK(header_dict(io::encode_npy("|u1", {0, 3}, nullptr, 0)) ==
        "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 3), }");
}

TEST_CASE("npy stores bf16 and fp8 bit for bit in unsigned integers", "[io]") {
  CHECK(std::string(io::npy_type_of(DType::bf16).descr) == "<u2");
  CHECK(std::string(io::npy_type_of(DType::bf16).numpy_name) == "uint16");
  CHECK(std::string(io::npy_type_of(DType::fp8_e4m3).descr) == "|u1");
  CHECK(std::string(io::npy_type_of(DType::fp8_e5m2).descr) == "|u1");
  CHECK(std::string(io::npy_type_of(DType::f16).descr) == "<f2");
  CHECK(std::string(io::npy_type_of(DType::f32).descr) == "<f4");
  CHECK(std::string(io::npy_type_of(DType::i32).descr) == "<i4");
  CHECK(std::string(io::npy_type_of(DType::i64).descr) == "<i8");
  CHECK(std::string(io::npy_type_of(DType::f64).descr) == "<f8");
  CHECK(std::string(io::npy_type_of(DType::i8).descr) == "|i1");
}

TEST_CASE("npy files round trip through write_npy and read_npy", "[io]") {
  const std::filesystem::path dir = temp_dir();
  const DType types[] = {DType::f16, DType::bf16, DType::f32, DType::fp8_e4m3,
                         DType::fp8_e5m2, DType::i8, DType::u16, DType::i32, DType::i64,
                         DType::f64};
  for (DType t : types) {
    const std::vector<int64_t> shape = {2, 3, 4};
    std::vector<unsigned char> bytes(24 * attnjit::dtype_bytes(t));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 37 + 11);
    const auto path = dir / (std::string(attnjit::dtype_name(t)) + ".npy");

    auto written = io::write_npy(path, t, shape, bytes.data());
    REQUIRE(written.ok());
    CHECK(written.value() == std::filesystem::file_size(path));

    auto read = io::read_npy(path);
    REQUIRE(read.ok());
    CHECK(read->descr == io::npy_type_of(t).descr);
    CHECK(read->shape == shape);
    CHECK(read->numel() == 24);
    CHECK(read->data == bytes);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("npy reader accepts what NumPy writes", "[io]") {
  const std::vector<double> values = {0.5, -2.0};
  const std::string payload(reinterpret_cast<const char*>(values.data()), 16);

  SECTION("version 2.0 header, double quotes, no trailing comma") {
    auto a = io::decode_npy(handmade(R"({"descr": "<f8", "fortran_order": False, "shape": (2,)})",
                                     payload, 2));
    REQUIRE(a.ok());
    CHECK(a->descr == "<f8");
    CHECK(a->shape == std::vector<int64_t>{2});
    CHECK(std::memcmp(a->data.data(), values.data(), 16) == 0);
  }
  SECTION("keys in another order") {
    auto a = io::decode_npy(
        handmade("{'shape': (1, 2), 'fortran_order': False, 'descr': '<f8', }", payload));
    REQUIRE(a.ok());
    CHECK(a->shape == std::vector<int64_t>{1, 2});
  }
}

TEST_CASE("npy reader rejects what it cannot read, saying why", "[io]") {
  const std::string eight(8, '\0');
  auto error_of = [](const std::string& file) {
    auto a = io::decode_npy(file);
    REQUIRE_FALSE(a.ok());
    return a.error();
  };
  CHECK(contains(error_of("PK\x03\x04 not numpy"), "magic"));
  CHECK(contains(error_of(handmade("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", eight)),
             "Fortran"));
  CHECK(contains(error_of(handmade("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", eight)),
             ">f4"));
  CHECK(contains(error_of(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", eight)),
             "needs 12"));
  CHECK(contains(error_of(handmade("{'descr': '<f4', 'fortran_order': False}", eight)),
             "lacks"));
  CHECK(contains(error_of(handmade("{'descr': '<f4', 'shape': (2,), 'order': 'C', }", eight)),
             "unexpected key 'order'"));
  const std::string good = io::encode_npy("<f4", {2}, eight.data(), 8);
  CHECK(contains(error_of(good.substr(0, 12)), "truncated"));
  CHECK(contains(error_of(good + "x"), "needs 8"));

  auto missing = io::read_npy("/nonexistent/attnjit/none.npy");
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.error(), "/nonexistent/attnjit/none.npy"));
}

TEST_CASE("npy writer refuses a size that does not match the shape", "[io]") {
  const std::vector<float> values(5);
  CHECK_THROWS_AS(io::encode_npy("<f4", {2, 3}, values.data(), 20), std::invalid_argument);
  CHECK_THROWS_AS(io::encode_npy("<c8", {5}, values.data(), 20), std::invalid_argument);
}
