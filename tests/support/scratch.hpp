#pragma once
// A test program's scratch folder: <temp>/<prefix>_<pid>, created on first
// use and removed with everything in it when the program exits normally (a
// failed or killed run leaves it for a look). A forked child that returns
// from main does not remove its parent's folder: only the process that
// created it does.
//
//   const std::filesystem::path dir = autodidact_test::scratch_folder("autodidact_io_test");
//   write(dir / "model.safetensors");

#include <filesystem>    // for std::filesystem::path, temp_directory_path, remove_all
#include <map>           // for std::map
#include <string>        // for std::string, std::to_string
#include <system_error>  // for std::error_code
#include <unistd.h>      // for getpid, pid_t

namespace autodidact_test {

inline std::filesystem::path scratch_folder(const std::string& prefix) {
  struct folder {
    std::filesystem::path path;
    pid_t owner = ::getpid();
    folder() = default;
    folder(const folder&) = delete;
    folder& operator=(const folder&) = delete;
    ~folder() {
      if (!path.empty() && ::getpid() == owner) {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
      }
    }
  };
  static std::map<std::string, folder> folders;
  folder& f = folders[prefix];
  if (f.path.empty()) {
    f.path = std::filesystem::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(f.path);
  }
  return f.path;
}

}  // namespace autodidact_test
