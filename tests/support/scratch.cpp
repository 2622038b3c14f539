#include "support/scratch.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "docker/engine_http.h"
#include "support/local_base_image.h"

namespace bim::testing {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& name) : path_((fs::temp_directory_path() / name).string()) {
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void TempDir::Write(const std::string& rel, const std::string& text, bool append) const {
  fs::create_directories((fs::path(path_) / rel).parent_path());
  std::ofstream(path_ + "/" + rel, std::ios::binary | (append ? std::ios::app : std::ios::trunc)) << text;
}

size_t CountLabelled(const std::string& what, const std::string& key, const std::string& value) {
  using nlohmann::json;
  std::string sep = what.find('?') == std::string::npos ? "?" : "&";
  json list = json::parse(EngineGet("/" + what + sep + "filters=" +
                                    engine::QueryEscape(json{{"label", {key + "=" + value}}}.dump())),
                          nullptr, false);
  return list.is_array() ? list.size() : 0;
}

}  // namespace bim::testing
