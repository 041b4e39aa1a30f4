#include "runtime/io/npy.h"

#include <bit>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>

namespace attnjit::io {

// Element bytes are copied as they lie in memory; .npy's '<' means little endian.
static_assert(std::endian::native == std::endian::little,
              "npy.cpp writes host memory as little-endian data");

namespace {

// "\x93NUMPY", then the format version (major, minor).
constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
// NumPy pads the header so the data starts on a 64-byte boundary (aligned loads and
// memory mapping); readers accept any padding, so we write what NumPy writes.
constexpr size_t kHeaderAlignment = 64;

struct Descr {
  std::string_view descr;
  int bytes;
};
constexpr Descr kDescrs[] = {
    {"<f4", 4}, {"<f2", 2}, {"<u2", 2}, {"<i4", 4}, {"<f8", 8}, {"|i1", 1}, {"|u1", 1},
    {"<i8", 8},
};

std::string shape_text(const std::vector<int64_t>& shape) {
  // Python tuple syntax: a one-element tuple needs its trailing comma.
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  return out + ")";
}

// Checked product of the dimensions; false on a negative dimension or overflow.
bool count_elements(const std::vector<int64_t>& shape, int64_t* out) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return false;
    n *= d;
  }
  *out = n;
  return true;
}

// Just enough of Python literal syntax to read the header dict NumPy writes:
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderReader {
 public:
  explicit HeaderReader(std::string_view text) : text_(text) {}

  Result<NpyArray, std::string> read() {
    NpyArray array;
    bool have_descr = false, have_order = false, have_shape = false;
    if (!expect('{')) return error("expected '{' at the start of the header");
    while (true) {
      skip_space();
      if (peek() == '}') break;
      std::string key;
      if (!string_literal(&key)) return error("expected a quoted key");
      if (!expect(':')) return error("expected ':' after '" + key + "'");
      if (key == "descr") {
        if (!string_literal(&array.descr)) return error("'descr' is not a string");
        have_descr = true;
      } else if (key == "fortran_order") {
        bool fortran = false;
        if (!boolean(&fortran)) return error("'fortran_order' is not True or False");
        if (fortran) return error("Fortran-order arrays are not supported (only C order)");
        have_order = true;
      } else if (key == "shape") {
        if (!tuple(&array.shape)) return error("'shape' is not a tuple of integers");
        have_shape = true;
      } else {
        return error("unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') return error("expected ',' or '}' in the header");
    }
    if (!have_descr || !have_order || !have_shape)
      return error("the header lacks one of 'descr', 'fortran_order', 'shape'");
    return array;
  }

 private:
  static Result<NpyArray, std::string> error(const std::string& what) {
    return fail("bad .npy header: " + what);
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool expect(char c) {
    skip_space();
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  bool string_literal(std::string* out) {
    skip_space();
    char quote = peek();
    if (quote != '\'' && quote != '"') return false;
    size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) return false;
    *out = std::string(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return true;
  }
  bool boolean(bool* out) {
    skip_space();
    for (auto [word, value] : {std::pair{std::string_view("True"), true},
                               std::pair{std::string_view("False"), false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        *out = value;
        return true;
      }
    }
    return false;
  }
  bool tuple(std::vector<int64_t>* out) {
    if (!expect('(')) return false;
    while (true) {
      skip_space();
      if (peek() == ')') {
        ++pos_;
        return true;
      }
      if (!std::isdigit(static_cast<unsigned char>(peek()))) return false;
      int64_t value = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        int digit = peek() - '0';
        if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) return false;
        value = value * 10 + digit;
        ++pos_;
      }
      // NumPy 1.x on some platforms wrote Python 2 longs ("3L").
      if (peek() == 'L') ++pos_;
      out->push_back(value);
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        return false;
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

NpyType npy_type_of(DType t) {
  switch (t) {
    case DType::f16: return {"<f2", "float16"};
    case DType::bf16: return {"<u2", "uint16"};
    case DType::f32: return {"<f4", "float32"};
    case DType::fp8_e4m3: return {"|u1", "uint8"};
    case DType::fp8_e5m2: return {"|u1", "uint8"};
    case DType::i8: return {"|i1", "int8"};
    case DType::u16: return {"<u2", "uint16"};
    case DType::i32: return {"<i4", "int32"};
    case DType::i64: return {"<i8", "int64"};
    case DType::f64: return {"<f8", "float64"};
  }
  throw std::invalid_argument("npy_type_of: unknown DType");
}

int npy_item_bytes(std::string_view descr) {
  for (const Descr& d : kDescrs)
    if (d.descr == descr) return d.bytes;
  return 0;
}

int64_t NpyArray::numel() const {
  int64_t n = 0;
  return count_elements(shape, &n) ? n : 0;
}

std::string encode_npy(std::string_view descr, const std::vector<int64_t>& shape,
                       const void* data, size_t bytes) {
  int item = npy_item_bytes(descr);
  if (item == 0)
    throw std::invalid_argument("encode_npy: unsupported descr '" + std::string(descr) + "'");
  int64_t numel = 0;
  if (!count_elements(shape, &numel))
    throw std::invalid_argument("encode_npy: bad shape " + shape_text(shape));
  if (static_cast<uint64_t>(numel) * static_cast<uint64_t>(item) != bytes)
    throw std::invalid_argument("encode_npy: " + std::to_string(bytes) +
                                " bytes do not match shape " + shape_text(shape) + " of " +
                                std::string(descr));

  std::string dict = "{'descr': '" + std::string(descr) +
                     "', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  // Preamble: magic, version 1.0, uint16 header length; the header ends in '\n'.
  const size_t preamble = kMagicBytes + 2 + 2;
  size_t unpadded = preamble + dict.size() + 1;
  size_t padded = (unpadded + kHeaderAlignment - 1) / kHeaderAlignment * kHeaderAlignment;
  size_t header_len = padded - preamble;
  if (header_len > std::numeric_limits<uint16_t>::max())
    throw std::invalid_argument("encode_npy: shape too long for a version 1.0 header");

  std::string out(kMagic, kMagicBytes);
  out += static_cast<char>(1);  // major
  out += static_cast<char>(0);  // minor
  out += static_cast<char>(header_len & 0xFF);
  out += static_cast<char>(header_len >> 8);
  out += dict;
  out.append(padded - unpadded, ' ');
  out += '\n';
  if (bytes) out.append(static_cast<const char*>(data), bytes);
  return out;
}

Result<NpyArray, std::string> decode_npy(std::string_view file) {
  if (file.size() < kMagicBytes + 2 || file.substr(0, kMagicBytes) != std::string_view(kMagic, kMagicBytes))
    return fail(std::string("not a .npy file (bad magic)"));
  unsigned major = static_cast<unsigned char>(file[kMagicBytes]);
  // Version 1.0 has a 2-byte header length; 2.0 and 3.0 (UTF-8 header) have 4 bytes.
  size_t length_bytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
  if (length_bytes == 0)
    return fail("unsupported .npy format version " + std::to_string(major));
  size_t preamble = kMagicBytes + 2 + length_bytes;
  if (file.size() < preamble) return fail(std::string("truncated .npy header"));
  size_t header_len = 0;
  for (size_t i = 0; i < length_bytes; ++i)
    header_len |= static_cast<size_t>(static_cast<unsigned char>(file[kMagicBytes + 2 + i])) << (8 * i);
  if (file.size() < preamble + header_len) return fail(std::string("truncated .npy header"));

  Result<NpyArray, std::string> parsed = HeaderReader(file.substr(preamble, header_len)).read();
  if (!parsed) return parsed;
  NpyArray array = std::move(parsed.value());

  int item = npy_item_bytes(array.descr);
  if (item == 0)
    return fail("unsupported dtype '" + array.descr +
                "' (supported: <f4 <f2 <u2 <i4 <f8 |i1 |u1, little endian)");
  int64_t numel = 0;
  if (!count_elements(array.shape, &numel)) return fail(std::string("bad .npy shape"));
  std::string_view payload = file.substr(preamble + header_len);
  uint64_t expected = static_cast<uint64_t>(numel) * static_cast<uint64_t>(item);
  if (payload.size() != expected)
    return fail("data is " + std::to_string(payload.size()) + " bytes, shape " +
                shape_text(array.shape) + " of " + array.descr + " needs " +
                std::to_string(expected));
  array.data.assign(payload.begin(), payload.end());
  return array;
}

Result<size_t, std::string> write_npy(const std::filesystem::path& path, std::string_view descr,
                                      const std::vector<int64_t>& shape, const void* data,
                                      size_t bytes) {
  std::string encoded = encode_npy(descr, shape, data, bytes);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return fail("cannot open " + path.string() + " for writing: " + std::strerror(errno));
  out.write(encoded.data(), static_cast<std::streamsize>(encoded.size()));
  out.close();
  if (!out) return fail("cannot write " + path.string() + ": " + std::strerror(errno));
  return encoded.size();
}

Result<size_t, std::string> write_npy(const std::filesystem::path& path, DType dtype,
                                      const std::vector<int64_t>& shape, const void* data) {
  int64_t numel = 0;
  if (!count_elements(shape, &numel))
    throw std::invalid_argument("write_npy: bad shape " + shape_text(shape));
  return write_npy(path, npy_type_of(dtype).descr, shape, data,
                   static_cast<size_t>(numel) * static_cast<size_t>(dtype_bytes(dtype)));
}

Result<NpyArray, std::string> read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot open " + path.string() + ": " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Result<NpyArray, std::string> array = decode_npy(bytes);
  if (!array) return fail(path.string() + ": " + array.error());
  return array;
}

}  // namespace attnjit::io
