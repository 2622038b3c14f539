// The Compose file walker shared by compose.cpp (the file) and compose_service.cpp (one service).
// Private to src/core.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/compose.h"

namespace bim::compose_internal {

inline constexpr const char* kSupportTable =
    " (see \"Apps with several services\" in bim's README for the Compose keys bim deploys)";

using Entries = std::vector<std::pair<std::string, YAML::Node>>;

// A relative path inside the folder, normalised ("./web/" -> "web", "." -> "."), or "" if it is
// absolute or climbs out.
inline std::string InsidePath(const std::string& path) {
  if (path.empty() || path[0] == '/' || path[0] == '~') return "";
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  if (s.empty()) s = ".";
  if (s == ".." || s.starts_with("../")) return "";
  return s;
}

class Walker {
 public:
  explicit Walker(const ComposeSource& in) : in_(in) {}

  Status Error(const YAML::Node& at, const std::string& path, const std::string& message) const {
    std::string where = in_.file_name;
    if (at.IsDefined() && at.Mark().line >= 0) where += " line " + std::to_string(at.Mark().line + 1);
    return Status::InvalidArgument(where + ": " + path + " " + message);
  }
  Status Unsupported(const YAML::Node& at, const std::string& path) const {
    return Error(at, path, std::string("is not supported by bim") + kSupportTable);
  }

  // A mapping's entries in document order, merge keys (<<) applied, duplicates refused.
  Status Map(const YAML::Node& node, const std::string& path, Entries* out) const {
    if (!node.IsMap()) return Error(node, path, "must be a mapping (key: value lines)");
    out->clear();
    std::set<std::string> seen;
    std::vector<YAML::Node> merged;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) return Error(it->first, path, "has a key that is not a plain name");
      std::string key = it->first.Scalar();
      if (key == "<<") {
        if (it->second.IsMap()) merged.push_back(it->second);
        else if (it->second.IsSequence())
          for (const auto& m : it->second) merged.push_back(m);
        else return Error(it->first, path, "has a merge key (<<) that is not a mapping or a list of mappings");
        continue;
      }
      if (!seen.insert(key).second) return Error(it->first, path + "." + key, "appears twice");
      out->emplace_back(key, it->second);
    }
    for (const auto& m : merged) {
      Entries more;
      if (Status s = Map(m, path + ".<<", &more); !s.ok()) return s;
      for (auto& [key, value] : more)
        if (seen.insert(key).second) out->emplace_back(key, value);
    }
    return Status::OK();
  }

  Status String(const YAML::Node& node, const std::string& path, std::string* out) const {
    if (!node.IsScalar()) return Error(node, path, "must be a single value (a string or number)");
    return Interp(node, path, node.Scalar(), out);
  }
  Status Interp(const YAML::Node& node, const std::string& path, const std::string& text, std::string* out) const {
    Status s = Interpolate(text, in_.variables, in_.require_variables, path, out);
    if (!s.ok()) return Error(node, "", s.message());
    return Status::OK();
  }
  // A string, or a list of strings.
  Status StringOrList(const YAML::Node& node, const std::string& path, std::vector<std::string>* out) const {
    out->clear();
    if (node.IsScalar()) return String(node, path, &out->emplace_back());
    if (!node.IsSequence()) return Error(node, path, "must be a string or a list of strings");
    for (size_t i = 0; i < node.size(); ++i)
      if (Status s = String(node[i], path + "[" + std::to_string(i) + "]", &out->emplace_back()); !s.ok()) return s;
    return Status::OK();
  }
  Status Int(const YAML::Node& node, const std::string& path, long min, long max, long* out) const {
    std::string text;
    if (Status s = String(node, path, &text); !s.ok()) return s;
    bool digits = !text.empty() && text.size() <= 10 && text.find_first_not_of("0123456789") == std::string::npos;
    long value = digits ? std::atol(text.c_str()) : -1;
    if (!digits || value < min || value > max)
      return Error(node, path, "must be a whole number " + std::to_string(min) + "-" + std::to_string(max));
    *out = value;
    return Status::OK();
  }
  Status Bool(const YAML::Node& node, const std::string& path, bool* out) const {
    std::string text;
    if (Status s = String(node, path, &text); !s.ok()) return s;
    if (text == "true" || text == "True" || text == "TRUE") *out = true;
    else if (text == "false" || text == "False" || text == "FALSE") *out = false;
    else return Error(node, path, "must be true or false");
    return Status::OK();
  }
  Status Duration(const YAML::Node& node, const std::string& path, std::chrono::milliseconds* out) const {
    std::string text;
    if (Status s = String(node, path, &text); !s.ok()) return s;
    if (Status s = ParseComposeDuration(text, out); !s.ok()) return Error(node, path, s.message());
    return Status::OK();
  }

  Status Service(const std::string& name, const YAML::Node& node, ComposeService* svc) const;
  Status Build(const YAML::Node& node, const std::string& path, ComposeService* svc) const;
  Status Environment(const YAML::Node& node, const std::string& path, EnvList* env) const;
  Status EnvFiles(const YAML::Node& node, const std::string& path, EnvList* env) const;
  Status Volume(const YAML::Node& node, const std::string& path, ComposeVolume* out) const;
  Status Port(const YAML::Node& node, const std::string& path, bool expose, int* port) const;
  Status DependsOn(const YAML::Node& node, const std::string& path, std::vector<ComposeDependency>* out) const;
  Status Healthcheck(const YAML::Node& node, const std::string& path, ComposeHealthcheck* out) const;
  Status Deploy(const YAML::Node& node, const std::string& path, ComposeService* svc) const;

 private:
  const ComposeSource& in_;
};

}  // namespace bim::compose_internal
