#pragma once
// NumPy .npy files (format 1.0, C order, little endian) for dumping problems and
// results so they can be inspected or replayed from Python (`numpy.load`).
//
// NumPy has no bf16 or fp8 types, so those tensors are stored bit for bit in an
// unsigned integer of the same width ('<u2', '|u1'); the logical dtype travels in a
// side file (the CLI's meta.json). Reinterpret with e.g. `torch.from_numpy(a).view(torch.bfloat16)`.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/dtype.h"
#include "compiler/support/result.h"

namespace attnjit::io {

// How one DType is stored: the .npy descr and NumPy's name for it.
struct NpyType {
  const char* descr;       // "<f4", "<u2", "|u1", ...
  const char* numpy_name;  // "float32", "uint16", "uint8", ...
};
NpyType npy_type_of(DType t);

// Bytes per element of a supported descr ('<f4' '<f2' '<u2' '<i4' '<f8' '|i1' '|u1'),
// 0 for anything else.
int npy_item_bytes(std::string_view descr);

struct NpyArray {
  std::string descr;
  std::vector<int64_t> shape;       // empty = a scalar (one element)
  std::vector<unsigned char> data;  // C order, little endian
  int64_t numel() const;
};

// The whole file as bytes. `bytes` must equal numel(shape) * item size of `descr`
// and the descr must be supported; otherwise std::invalid_argument (a caller bug).
std::string encode_npy(std::string_view descr, const std::vector<int64_t>& shape,
                       const void* data, size_t bytes);
// Parses a whole file; the error says what is wrong (bad magic, truncated, a dtype
// or layout this reader does not handle, data size not matching the shape).
Result<NpyArray, std::string> decode_npy(std::string_view file_bytes);

// Writes the file (replacing it); returns the number of bytes written or an error
// naming the path.
Result<size_t, std::string> write_npy(const std::filesystem::path& path,
                                      std::string_view descr,
                                      const std::vector<int64_t>& shape, const void* data,
                                      size_t bytes);
// Convenience: storage descr from the DType, size from the shape.
Result<size_t, std::string> write_npy(const std::filesystem::path& path, DType dtype,
                                      const std::vector<int64_t>& shape, const void* data);
Result<NpyArray, std::string> read_npy(const std::filesystem::path& path);

}  // namespace attnjit::io
