#include "core/context_manifest.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace bim {
namespace {

ContextEntry File(const std::string& path, const std::string& content, uint32_t mode = 0644, int64_t mtime = 1) {
  ContextEntry e;
  e.type = ContextEntry::Type::kFile;
  e.path = path;
  e.mode = mode;
  e.mtime = mtime;
  e.size = static_cast<int64_t>(content.size());
  e.sha256 = Sha256Hex(content);
  return e;
}

ContextEntry Dir(const std::string& path) {
  ContextEntry e;
  e.type = ContextEntry::Type::kDir;
  e.path = path;
  e.mode = 0755;
  return e;
}

ContextEntry Link(const std::string& path, const std::string& target) {
  ContextEntry e;
  e.type = ContextEntry::Type::kSymlink;
  e.path = path;
  e.mode = 0777;
  e.target = target;
  return e;
}

const ManifestLimits kLimits;

std::vector<ContextEntry> Sample() {
  std::vector<ContextEntry> v = {File("Dockerfile", "FROM scratch\n"), Dir("src"), File("src/a b%.txt", "a", 0755),
                                 Link("src/link", "a b%.txt"), File("src/\xc3\xa9t\xc3\xa9", "utf8")};
  SortEntries(&v);
  return v;
}

TEST(ContextManifestTest, FormatThenParseGivesTheSameEntries) {
  std::vector<ContextEntry> entries = Sample(), parsed;
  std::string text = FormatManifest(entries);
  ASSERT_TRUE(ParseManifest(text, kLimits, &parsed).ok());
  EXPECT_EQ(parsed, entries);
  // Spaces, '%' and non-ASCII bytes are escaped, so each entry stays one line.
  EXPECT_NE(text.find("src/a%20b%25.txt"), std::string::npos) << text;
  EXPECT_NE(text.find("src/%C3%A9t%C3%A9"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 6);
}

TEST(ContextManifestTest, PathEscapingRoundTripsEveryByte) {
  std::string all;
  for (int c = 1; c < 256; ++c) all += static_cast<char>(c);
  std::string decoded;
  ASSERT_TRUE(DecodeManifestPath(EncodeManifestPath(all), &decoded).ok());
  EXPECT_EQ(decoded, all);
  EXPECT_FALSE(DecodeManifestPath("a%2", &decoded).ok());
  EXPECT_FALSE(DecodeManifestPath("a%zz", &decoded).ok());
  EXPECT_FALSE(DecodeManifestPath("a%", &decoded).ok());
}

TEST(ContextManifestTest, RefusesMalformedManifests) {
  std::vector<ContextEntry> out;
  std::string sha = Sha256Hex("x");
  auto parse = [&](const std::string& body) { return ParseManifest("bim-manifest 1\n" + body, kLimits, &out); };
  EXPECT_TRUE(parse("F 0644 1 1 " + sha + " a\n").ok());
  EXPECT_FALSE(ParseManifest("F 0644 1 1 " + sha + " a\n", kLimits, &out).ok()) << "header required";
  EXPECT_FALSE(parse("F 0644 1 1 " + sha.substr(1) + " a\n").ok()) << "short hash";
  EXPECT_FALSE(parse("F 0644 1 -1 " + sha + " a\n").ok()) << "negative size";
  EXPECT_FALSE(parse("F 0944 1 1 " + sha + " a\n").ok()) << "not octal";
  EXPECT_FALSE(parse("F 17777 1 1 " + sha + " a\n").ok()) << "mode beyond 07777";
  EXPECT_FALSE(parse("X 0644 1 a\n").ok()) << "unknown type";
  EXPECT_FALSE(parse("D 0755 1\n").ok()) << "missing path";
  EXPECT_FALSE(parse("D 0755 1 b\nD 0755 1 a\n").ok()) << "unsorted";
  EXPECT_FALSE(parse("D 0755 1 a\nD 0755 1 a\n").ok()) << "repeated";
  EXPECT_FALSE(parse("D 0755 1 a//b\n").ok()) << "not canonical";
  EXPECT_FALSE(parse("D 0755 1 ./a\n").ok()) << "not canonical";
  EXPECT_FALSE(parse("D 0755 1 a/\n").ok()) << "not canonical";
  EXPECT_FALSE(parse("L 0777 1 t%2 a\n").ok()) << "bad escape in a target";
  Status s = parse("F 0644 1 1 " + sha + " a\nF 0644 1 zz " + sha + " b\n");
  EXPECT_NE(s.message().find("line 3"), std::string::npos) << s.message();
}

TEST(ContextManifestTest, EnforcesEntryAndSizeLimits) {
  std::vector<ContextEntry> entries = {File("a", "1234"), File("b", "5678")}, out;
  std::string text = FormatManifest(entries);
  EXPECT_EQ(ParseManifest(text, ManifestLimits{1, 100}, &out).code(), Code::kTooLarge);
  EXPECT_EQ(ParseManifest(text, ManifestLimits{10, 7}, &out).code(), Code::kTooLarge);
  EXPECT_TRUE(ParseManifest(text, ManifestLimits{2, 8}, &out).ok());
}

TEST(ContextManifestTest, DeltaCarriesOnlyWhatChangedAndRebuildsTheManifest) {
  std::vector<ContextEntry> base = Sample();
  std::string base_id = Sha256Hex(FormatManifest(base));
  std::vector<ContextEntry> current = base;
  current[0] = File("Dockerfile", "FROM scratch\nCOPY . /\n");  // changed
  current.erase(current.begin() + 3);                             // "src/link" removed
  current.push_back(File("zz-new", "new"));                      // added
  SortEntries(&current);

  std::string delta = FormatManifestDelta(base, base_id, current);
  EXPECT_TRUE(IsManifestDelta(delta));
  EXPECT_EQ(std::count(delta.begin(), delta.end(), '\n'), 4) << delta;  // header + 3 changes
  std::string parsed_base, parsed_result;
  ASSERT_TRUE(ParseDeltaHeader(delta, &parsed_base, &parsed_result).ok());
  EXPECT_EQ(parsed_base, base_id);
  EXPECT_EQ(parsed_result, Sha256Hex(FormatManifest(current)));

  std::vector<ContextEntry> rebuilt;
  ASSERT_TRUE(ApplyManifestDelta(base, delta, kLimits, &rebuilt).ok());
  EXPECT_EQ(rebuilt, current);

  // Nothing changed: the delta is its header alone.
  std::string empty = FormatManifestDelta(base, base_id, base);
  EXPECT_EQ(std::count(empty.begin(), empty.end(), '\n'), 1);
  ASSERT_TRUE(ApplyManifestDelta(base, empty, kLimits, &rebuilt).ok());
  EXPECT_EQ(rebuilt, base);
}

TEST(ContextManifestTest, DeltaRefusesRepeatsAndLimits) {
  std::vector<ContextEntry> base = Sample(), out;
  std::string id = Sha256Hex(FormatManifest(base));
  std::string header = "bim-manifest-delta 1 " + id + " " + id + "\n";
  EXPECT_FALSE(ApplyManifestDelta(base, header + "- src\n- src\n", kLimits, &out).ok());
  EXPECT_FALSE(ApplyManifestDelta(base, "bim-manifest-delta 1 xyz " + id + "\n", kLimits, &out).ok());
  EXPECT_EQ(ApplyManifestDelta(base, header, ManifestLimits{2, 1000}, &out).code(), Code::kTooLarge);
}

TEST(ContextManifestTest, DigestCoversWhatTheBuildSeesButNotMtimes) {
  std::vector<ContextEntry> entries = Sample();
  std::map<std::string, std::string> args = {{"A", "1"}};
  std::string digest = ContextDigest(entries, "Dockerfile", args);
  EXPECT_TRUE(digest.starts_with("sha256:"));
  EXPECT_EQ(digest.size(), 71u);

  std::vector<ContextEntry> touched = entries;
  for (auto& e : touched) e.mtime += 1000;
  EXPECT_EQ(ContextDigest(touched, "Dockerfile", args), digest) << "a touch is not a change";

  auto changed = [&](auto mutate) {
    std::vector<ContextEntry> copy = entries;
    mutate(copy);
    return ContextDigest(copy, "Dockerfile", args) != digest;
  };
  EXPECT_TRUE(changed([](auto& v) { v[0].sha256 = Sha256Hex("other"); }));
  EXPECT_TRUE(changed([](auto& v) { v[0].mode = 0755; }));
  EXPECT_TRUE(changed([](auto& v) { v[0].path = "Dockerfile2"; }));
  EXPECT_TRUE(changed([](auto& v) { v.pop_back(); }));
  EXPECT_TRUE(changed([](auto& v) {
    for (auto& x : v)
      if (x.type == ContextEntry::Type::kSymlink) x.target = "elsewhere";
  }));
  EXPECT_NE(ContextDigest(entries, "Dockerfile", {{"A", "2"}}), digest);
  EXPECT_NE(ContextDigest(entries, "Dockerfile", {}), digest);
  EXPECT_NE(ContextDigest(entries, "other.Dockerfile", args), digest);
}

}  // namespace
}  // namespace bim
