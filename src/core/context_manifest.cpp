#include "core/context_manifest.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

namespace bim {

namespace {

constexpr std::string_view kManifestHeader = "bim-manifest 1";
constexpr std::string_view kDeltaHeader = "bim-manifest-delta 1 ";

char TypeChar(ContextEntry::Type t) {
  switch (t) {
    case ContextEntry::Type::kFile: return 'F';
    case ContextEntry::Type::kDir: return 'D';
    case ContextEntry::Type::kSymlink: return 'L';
  }
  return '?';
}

std::string FormatEntry(const ContextEntry& e) {
  char mode[16];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(e.mode & 07777));
  std::string line(1, TypeChar(e.type));
  line += ' ';
  line += mode;
  line += ' ' + std::to_string(e.mtime);
  switch (e.type) {
    case ContextEntry::Type::kFile: line += ' ' + std::to_string(e.size) + ' ' + e.sha256; break;
    case ContextEntry::Type::kSymlink: line += ' ' + EncodeManifestPath(e.target); break;
    case ContextEntry::Type::kDir: break;
  }
  line += ' ' + EncodeManifestPath(e.path);
  return line;
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (;;) {
    size_t sp = line.find(' ', start);
    fields.push_back(line.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
    if (sp == std::string_view::npos) return fields;
    start = sp + 1;
  }
}

template <class Int>
bool ParseInt(std::string_view s, Int* out, int base = 10) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// "a/b", never "", "/a", "a//b", "./a", "a/./b" or "a/": one spelling per path, so paths compare
// as strings. ".." is left to the context checks, which say it points outside.
bool IsCanonicalPath(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.back() == '/' || p.find("//") != std::string_view::npos) return false;
  return p != "." && !p.starts_with("./") && !p.ends_with("/.") && p.find("/./") == std::string_view::npos;
}

Status BadLine(size_t line_no, const std::string& why) {
  return Status::InvalidArgument("build context manifest line " + std::to_string(line_no) + ": " + why);
}

// Parses one entry line (F/D/L); `line_no` only names the line in errors.
Status ParseEntry(std::string_view line, size_t line_no, ContextEntry* e) {
  std::vector<std::string_view> f = SplitFields(line);
  if (f[0].size() != 1) return BadLine(line_no, "unknown entry type");
  size_t want = f[0] == "F" ? 6 : f[0] == "L" ? 5 : f[0] == "D" ? 4 : 0;
  if (want == 0) return BadLine(line_no, "unknown entry type \"" + std::string(f[0]) + "\"");
  if (f.size() != want) return BadLine(line_no, "expected " + std::to_string(want) + " fields");
  e->type = f[0] == "F" ? ContextEntry::Type::kFile : f[0] == "L" ? ContextEntry::Type::kSymlink : ContextEntry::Type::kDir;
  if (!ParseInt(f[1], &e->mode, 8) || e->mode > 07777) return BadLine(line_no, "bad mode");
  if (!ParseInt(f[2], &e->mtime)) return BadLine(line_no, "bad mtime");
  e->size = 0;
  e->sha256.clear();
  e->target.clear();
  if (e->type == ContextEntry::Type::kFile) {
    if (!ParseInt(f[3], &e->size) || e->size < 0) return BadLine(line_no, "bad size");
    if (!IsSha256Hex(f[4])) return BadLine(line_no, "bad sha256");
    e->sha256 = std::string(f[4]);
  } else if (e->type == ContextEntry::Type::kSymlink) {
    if (Status s = DecodeManifestPath(f[3], &e->target); !s.ok()) return BadLine(line_no, s.message());
    if (e->target.empty()) return BadLine(line_no, "empty symlink target");
  }
  if (Status s = DecodeManifestPath(f.back(), &e->path); !s.ok()) return BadLine(line_no, s.message());
  if (!IsCanonicalPath(e->path)) return BadLine(line_no, "path is empty or not canonical (no \"//\", \".\" or trailing '/')");
  return Status::OK();
}

// Calls `each(line, line_no)` for every line after the first; stops at the first failure.
template <class Each>
Status ForEachLine(std::string_view text, Each each) {
  size_t line_no = 1;
  size_t pos = text.find('\n');
  if (pos == std::string_view::npos) return Status::OK();
  ++pos;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    ++line_no;
    if (!line.empty())
      if (Status s = each(line, line_no); !s.ok()) return s;
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return Status::OK();
}

Status TooManyEntries(const ManifestLimits& limits) {
  return Status::TooLarge("build context has more than " + std::to_string(limits.max_entries) +
                          " files (add build outputs and dependencies to .dockerignore)");
}

Status CheckLimits(const std::vector<ContextEntry>& entries, const ManifestLimits& limits) {
  if (static_cast<int64_t>(entries.size()) > limits.max_entries) return TooManyEntries(limits);
  int64_t total = 0;
  for (const auto& e : entries) {
    // Sizes are non-negative (ParseEntry); compare without overflowing.
    if (e.size > limits.max_total_bytes - total)
      return Status::TooLarge("build context unpacks to more than " + std::to_string(limits.max_total_bytes) +
                              " bytes (add large files to .dockerignore)");
    total += e.size;
  }
  return Status::OK();
}

}  // namespace

std::string EncodeManifestPath(std::string_view raw) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size());
  for (unsigned char c : raw) {
    if (c <= 0x20 || c == '%' || c >= 0x7f) {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Status DecodeManifestPath(std::string_view encoded, std::string* out) {
  out->clear();
  out->reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      out->push_back(encoded[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= encoded.size() || !std::isxdigit(static_cast<unsigned char>(encoded[i + 1])) ||
        !ParseInt(encoded.substr(i + 1, 2), &value, 16))
      return Status::InvalidArgument("bad %-escape in a path");
    out->push_back(static_cast<char>(value));
    i += 2;
  }
  return Status::OK();
}

void SortEntries(std::vector<ContextEntry>* entries) {
  std::sort(entries->begin(), entries->end(),
            [](const ContextEntry& a, const ContextEntry& b) { return a.path < b.path; });
}

std::string FormatManifest(const std::vector<ContextEntry>& entries) {
  std::string text(kManifestHeader);
  text += '\n';
  for (const auto& e : entries) text += FormatEntry(e) + '\n';
  return text;
}

bool IsManifestDelta(std::string_view text) { return text.starts_with(kDeltaHeader); }

Status ParseManifest(std::string_view text, const ManifestLimits& limits, std::vector<ContextEntry>* out) {
  out->clear();
  std::string_view first = text.substr(0, text.find('\n'));
  if (first != kManifestHeader)
    return Status::InvalidArgument("build context manifest must start with \"" + std::string(kManifestHeader) + "\"");
  Status s = ForEachLine(text, [&](std::string_view line, size_t line_no) -> Status {
    if (static_cast<int64_t>(out->size()) >= limits.max_entries) return TooManyEntries(limits);
    ContextEntry e;
    if (Status s = ParseEntry(line, line_no, &e); !s.ok()) return s;
    if (!out->empty() && !(out->back().path < e.path))
      return BadLine(line_no, "paths must be sorted and unique");
    out->push_back(std::move(e));
    return Status::OK();
  });
  if (s.ok()) s = CheckLimits(*out, limits);
  if (!s.ok()) out->clear();
  return s;
}

std::string FormatManifestDelta(const std::vector<ContextEntry>& base, const std::string& base_id,
                                const std::vector<ContextEntry>& current) {
  std::string text(kDeltaHeader);
  text += base_id + " " + Sha256Hex(FormatManifest(current)) + "\n";
  size_t i = 0, j = 0;
  // Both lists are sorted by path: one merge pass finds removals, additions and changes.
  while (i < base.size() || j < current.size()) {
    if (j == current.size() || (i < base.size() && base[i].path < current[j].path)) {
      text += "- " + EncodeManifestPath(base[i++].path) + "\n";
    } else if (i == base.size() || current[j].path < base[i].path) {
      text += FormatEntry(current[j++]) + "\n";
    } else {
      if (!(base[i] == current[j])) text += FormatEntry(current[j]) + "\n";
      ++i;
      ++j;
    }
  }
  return text;
}

Status ParseDeltaHeader(std::string_view text, std::string* base_id, std::string* result_id) {
  std::string_view first = text.substr(0, text.find('\n'));
  if (!first.starts_with(kDeltaHeader)) return Status::InvalidArgument("not a build context manifest delta");
  std::vector<std::string_view> ids = SplitFields(first.substr(kDeltaHeader.size()));
  if (ids.size() != 2 || !IsSha256Hex(ids[0]) || !IsSha256Hex(ids[1]))
    return Status::InvalidArgument("build context manifest delta: the header must name a base and a result id");
  *base_id = std::string(ids[0]);
  *result_id = std::string(ids[1]);
  return Status::OK();
}

Status ApplyManifestDelta(const std::vector<ContextEntry>& base, std::string_view delta, const ManifestLimits& limits,
                          std::vector<ContextEntry>* out) {
  out->clear();
  std::string base_id, result_id;
  if (Status s = ParseDeltaHeader(delta, &base_id, &result_id); !s.ok()) return s;
  // Changes by path, each path at most once; a removal is an entry with an empty path.
  std::map<std::string, ContextEntry> changes;
  Status s = ForEachLine(delta, [&](std::string_view line, size_t line_no) -> Status {
    if (static_cast<int64_t>(changes.size()) >= limits.max_entries * 2) return TooManyEntries(limits);
    ContextEntry e;
    std::string path;
    if (line.starts_with("- ")) {
      if (Status s = DecodeManifestPath(line.substr(2), &path); !s.ok()) return BadLine(line_no, s.message());
      e.path.clear();
    } else {
      if (Status s = ParseEntry(line, line_no, &e); !s.ok()) return s;
      path = e.path;
    }
    if (path.empty()) return BadLine(line_no, "empty path");
    if (!changes.emplace(path, std::move(e)).second) return BadLine(line_no, "a path may appear once in a delta");
    return Status::OK();
  });
  if (!s.ok()) return s;
  out->reserve(base.size() + changes.size());
  auto change = changes.begin();
  for (size_t i = 0; i < base.size() || change != changes.end();) {
    if (change == changes.end() || (i < base.size() && base[i].path < change->first)) {
      out->push_back(base[i++]);
      continue;
    }
    if (i < base.size() && base[i].path == change->first) ++i;  // replaced or removed
    if (!change->second.path.empty()) out->push_back(std::move(change->second));
    ++change;
  }
  if (Status c = CheckLimits(*out, limits); !c.ok()) {
    out->clear();
    return c;
  }
  return Status::OK();
}

std::string ContextDigest(const std::vector<ContextEntry>& entries, const std::string& dockerfile,
                          const std::map<std::string, std::string>& build_args) {
  Sha256 h;
  // Length-prefixed fields, so no two different contexts feed the same bytes.
  auto feed = [&h](std::string_view s) {
    uint64_t n = s.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    h.Update(len, sizeof len);
    h.Update(s);
  };
  feed("bim-context-digest 1");
  feed(dockerfile);
  feed(std::to_string(build_args.size()));
  for (const auto& [k, v] : build_args) {
    feed(k);
    feed(v);
  }
  feed(std::to_string(entries.size()));
  for (const auto& e : entries) {
    feed(std::string(1, TypeChar(e.type)));
    feed(std::to_string(e.mode & 07777));
    feed(e.path);
    if (e.type == ContextEntry::Type::kFile) {
      feed(std::to_string(e.size));
      feed(e.sha256);
    } else if (e.type == ContextEntry::Type::kSymlink) {
      feed(e.target);
    }
  }
  return "sha256:" + h.HexDigest();
}

std::string SourceDigest(const std::vector<ContextEntry>& entries) { return ContextDigest(entries, "", {}); }

}  // namespace bim
