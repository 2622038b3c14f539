#include "core/placement.h"

namespace bim {
namespace {

constexpr const char* kExample = " (write e.g. \"node.labels.zone==eu\" or \"node.role!=manager\")";

bool ValueChar(char c, bool label) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-' || (label && (c == '/' || c == ':'));
}

bool ValidWord(std::string_view s, bool label) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!ValueChar(c, label)) return false;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// The constraint as the user wrote it, printable and short, for messages.
std::string Shown(std::string_view s) {
  std::string out(s.substr(0, 80));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '"') c = '?';
  return "\"" + out + (s.size() > 80 ? "...\"" : "\"");
}

}  // namespace

Status ValidateReplicas(long replicas) {
  if (replicas < 1 || replicas > kMaxReplicas)
    return Status::InvalidArgument("replicas must be between 1 and " + std::to_string(kMaxReplicas) + " (got " +
                                   std::to_string(replicas) + ")");
  return Status::OK();
}

Status ValidatePlacementConstraint(std::string_view constraint, std::string* normalized) {
  size_t op = constraint.find("==");
  size_t ne = constraint.find("!=");
  if ((op == std::string_view::npos) == (ne == std::string_view::npos) ||
      constraint.find("==", (op == std::string_view::npos ? ne : op) + 2) != std::string_view::npos ||
      constraint.find("!=", (op == std::string_view::npos ? ne : op) + 2) != std::string_view::npos) {
    return Status::InvalidArgument("placement constraint " + Shown(constraint) +
                                   " needs exactly one == or !=" + kExample);
  }
  size_t at = op == std::string_view::npos ? ne : op;
  std::string_view key = Trim(constraint.substr(0, at));
  std::string_view value = Trim(constraint.substr(at + 2));
  static const char* const kFixed[] = {"node.id", "node.hostname", "node.role", "node.platform.os",
                                       "node.platform.arch"};
  bool known = false;
  for (const char* k : kFixed) known = known || key == k;
  for (std::string_view prefix : {std::string_view("node.labels."), std::string_view("engine.labels.")}) {
    if (key.substr(0, prefix.size()) == prefix) {
      if (!ValidWord(key.substr(prefix.size()), true))
        return Status::InvalidArgument("placement constraint " + Shown(constraint) +
                                       ": the label name must be 1-128 characters of [A-Za-z0-9._/:-]" + kExample);
      known = true;
    }
  }
  if (!known)
    return Status::InvalidArgument("placement constraint " + Shown(constraint) +
                                   ": unknown attribute; use node.id, node.hostname, node.role, node.platform.os, "
                                   "node.platform.arch, node.labels.<label> or engine.labels.<label>");
  if (!ValidWord(value, false))
    return Status::InvalidArgument("placement constraint " + Shown(constraint) +
                                   ": the value must be 1-128 characters of [A-Za-z0-9._-]" + kExample);
  if (key == "node.role" && value != "manager" && value != "worker")
    return Status::InvalidArgument("placement constraint " + Shown(constraint) +
                                   ": node.role is manager or worker");
  *normalized = std::string(key) + (op == std::string_view::npos ? "!=" : "==") + std::string(value);
  return Status::OK();
}

Status ValidatePlacement(std::vector<std::string>* constraints) {
  if (constraints->size() > kMaxPlacementConstraints)
    return Status::InvalidArgument("at most " + std::to_string(kMaxPlacementConstraints) +
                                   " placement constraints (got " + std::to_string(constraints->size()) + ")");
  for (std::string& c : *constraints) {
    std::string normalized;
    if (Status s = ValidatePlacementConstraint(c, &normalized); !s.ok()) return s;
    c = std::move(normalized);
  }
  return Status::OK();
}

}  // namespace bim
