#include "core/context_tree.h"

#include <deque>

#include "core/terminal_text.h"

namespace bim {

namespace {

constexpr int kMaxLinkHops = 40;  // Linux's MAXSYMLINKS

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view part = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

std::string Join(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < parts.size(); ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

std::string Quoted(std::string_view name) { return "\"" + EscapeTerminalText(name.substr(0, 200)) + "\""; }

}  // namespace

bool IsSecretFileName(std::string_view basename) { return basename.starts_with(".env"); }

std::string ContextTree::Normalize(std::string_view name) {
  if (name.empty() || name.front() == '/') return "";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return "";
  std::vector<std::string> parts = Split(name);
  for (const auto& p : parts)
    if (p == "..") return "";
  return Join(parts, parts.size());
}

Status ContextTree::Add(std::string_view raw, Type type, std::string_view target) {
  if (!failed_.ok()) return failed_;
  std::string name = Normalize(raw);
  auto refuse = [this](const std::string& message) {
    failed_ = Status::InvalidArgument("build context " + message);
    return failed_;
  };
  if (name.empty()) {
    bool unprintable = false;
    for (unsigned char c : raw) unprintable |= c < 0x20 || c == 0x7f;
    if (raw.empty() || unprintable) return refuse("entry has an empty or unprintable name");
    return refuse("entry " + Quoted(raw) + " points outside the context (absolute or with \"..\")");
  }
  if (entries_.count(name)) return refuse("has " + Quoted(name) + " twice (a later copy could replace a checked one)");
  std::vector<std::string> parts = Split(name);
  if (IsSecretFileName(parts.back()))
    return refuse("holds " + Quoted(name) +
                  ": bim never uploads .env files (they hold secrets; `bim deploy` leaves them out and passes their values to "
                  "the container as env)");
  for (const auto& p : parts) {
    if (IsSecretFileName(p))
      return refuse("holds " + Quoted(name) + " inside a .env directory: bim never uploads .env files");
  }
  Entry e{type, std::string(target)};
  if (type == Type::kHardlink) {
    std::string to = Normalize(target);
    auto it = entries_.find(to);
    if (to.empty() || it == entries_.end() || it->second.type != Type::kFile)
      return refuse("hardlink " + Quoted(name) + " points outside the context (its target must be an earlier file of it)");
    e.target = to;
  } else if (type == Type::kSymlink) {
    if (target.empty() || target.front() == '/')
      return refuse("symlink " + Quoted(name) + " points outside the context (absolute or empty target)");
    for (unsigned char c : target)
      if (c < 0x20 || c == 0x7f) return refuse("symlink " + Quoted(name) + " has an unprintable target");
  }
  entries_.emplace(name, std::move(e));
  order_.push_back(name);
  return Status::OK();
}

bool ContextTree::Resolves(std::vector<std::string> parts, std::string* why) const {
  std::deque<std::string> todo(parts.begin(), parts.end());
  std::vector<std::string> at;
  int hops = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.front());
    todo.pop_front();
    if (part == "..") {
      if (at.empty()) {
        *why = "points outside the context";
        return false;
      }
      at.pop_back();
      continue;
    }
    at.push_back(part);
    auto it = entries_.find(Join(at, at.size()));
    if (it == entries_.end() || it->second.type != Type::kSymlink) continue;
    if (++hops > kMaxLinkHops) {
      *why = "is part of a symlink loop";
      return false;
    }
    at.pop_back();
    std::vector<std::string> target = Split(it->second.target);
    todo.insert(todo.begin(), target.begin(), target.end());
  }
  return true;
}

Status ContextTree::Finish() {
  if (!failed_.ok()) return failed_;
  for (const std::string& name : order_) {
    std::vector<std::string> parts = Split(name);
    for (size_t n = 1; n < parts.size(); ++n) {
      auto parent = entries_.find(Join(parts, n));
      if (parent == entries_.end() || parent->second.type == Type::kDirectory) continue;
      failed_ = Status::InvalidArgument("build context entry " + Quoted(name) + " lies beneath " +
                                        (parent->second.type == Type::kSymlink ? "the symlink " : "the file ") +
                                        Quoted(parent->first) + " (extracting it would write through the link)");
      return failed_;
    }
    const Entry& e = entries_.at(name);
    if (e.type != Type::kSymlink) continue;
    std::vector<std::string> path(parts.begin(), parts.end() - 1);
    std::vector<std::string> target = Split(e.target);
    path.insert(path.end(), target.begin(), target.end());
    std::string why;
    if (!Resolves(path, &why)) {
      failed_ = Status::InvalidArgument("build context symlink " + Quoted(name) + " " + why);
      return failed_;
    }
  }
  return Status::OK();
}

}  // namespace bim
