#include "compiler/backend/saved_source.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

namespace attnjit {

std::string file_name_safe(const std::string& name) {
  std::string safe = name.empty() ? "kernel" : name;
  for (char& c : safe) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.';
    if (!keep) c = '_';
  }
  return safe;
}

std::string save_failed_source(const GeneratedSource& src, const std::string& directory,
                               const std::string& suffix, std::string* why) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = directory.empty() ? fs::temp_directory_path(ec) : fs::path(directory);
  if (ec) {
    *why = "no temp directory: " + ec.message();
    return "";
  }
  fs::create_directories(dir, ec);
  fs::path target = dir / ("attnjit-failed-" + file_name_safe(src.uri) + suffix);
  fs::path temp = target;
  temp += fmt::format(".tmp.{}.{:08x}", getpid(), std::random_device{}());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << src.text;
    out.close();
    if (!out) {
      *why = "cannot write " + temp.string();
      fs::remove(temp, ec);
      return "";
    }
  }
  fs::rename(temp, target, ec);
  if (ec) {
    *why = "cannot rename " + temp.string() + ": " + ec.message();
    fs::remove(temp, ec);
    return "";
  }
  return target.string();
}

CompileError compile_failure(const GeneratedSource& src, const std::vector<std::string>& options,
                             std::string message, std::string log, bool save_source,
                             const std::string& save_dir, const std::string& suffix) {
  CompileError error{std::move(message), std::move(log), options, ""};
  if (save_source) {
    std::string why;
    error.source_path = save_failed_source(src, save_dir, suffix, &why);
    if (error.source_path.empty()) error.message += " (source not saved: " + why + ")";
  }
  return error;
}

}  // namespace attnjit
