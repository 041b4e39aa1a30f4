#pragma once
// Reading a file the user named (a variant file, a tuning config) without trusting
// it: only a regular file is read (a directory, FIFO, device or socket is refused
// before anything is read from it, so nothing blocks and nothing streams forever),
// at most `max_bytes` of it, and every failed read is an error rather than a short
// text.
#include <cstddef>
#include <string>

#include "compiler/support/result.h"

namespace attnjit {

// The file's bytes, or why it cannot be read: the reason only ("it is a directory",
// "No such file or directory"), for the caller to put after the path and what the
// file is for.
Result<std::string, std::string> read_text_file(const std::string& path, size_t max_bytes);

// Standard input (a pipe, a file or a terminal), read to its end, but at most
// `max_bytes`: for commands that take "-" as a file name.
Result<std::string, std::string> read_standard_input(size_t max_bytes);

// "2 MiB", "512 KiB", "100 bytes": a size limit as messages and docs write it.
std::string byte_size_text(size_t bytes);

}  // namespace attnjit
