// MultipartReader: the deploy upload's body parser. Every body is fed split at every possible
// point (and byte by byte), so a delimiter or header cut across pieces is handled like a whole one.
#include "core/multipart.h"

#include <gtest/gtest.h>

#include <vector>

namespace bim {
namespace {

struct Parsed {
  std::vector<MultipartPart> parts;
  std::vector<std::string> data;  // one per part
  Status status;
};

Parsed Parse(const std::string& boundary, const std::vector<std::string_view>& pieces, size_t max_header = 8192) {
  Parsed out;
  MultipartReader reader(
      boundary,
      [&](const MultipartPart& p) {
        out.parts.push_back(p);
        out.data.emplace_back();
        return true;
      },
      [&](std::string_view d) {
        out.data.back().append(d);
        return true;
      },
      max_header);
  for (std::string_view piece : pieces) {
    out.status = reader.Feed(piece);
    if (!out.status.ok()) return out;
  }
  out.status = reader.Finish();
  return out;
}

// Every way of cutting `body` in two, plus byte by byte.
std::vector<std::vector<std::string_view>> Splits(const std::string& body) {
  std::vector<std::vector<std::string_view>> all;
  std::string_view b(body);
  for (size_t i = 0; i <= b.size(); ++i) all.push_back({b.substr(0, i), b.substr(i)});
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < b.size(); ++i) bytes.push_back(b.substr(i, 1));
  all.push_back(bytes);
  return all;
}

const std::string kBody =
    "preamble to ignore\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"meta\"\r\n"
    "Content-Type: application/json\r\n"
    "\r\n"
    "{\"app\":\"a\"}\r\n"
    "--XyZ\r\n"
    "content-disposition: form-data; name=\"context\"; filename=\"c.tar\"\r\n"
    "\r\n"
    "tar\r\n-- bytes\r\n--Xy\r\n"
    "--XyZ--\r\n"
    "epilogue";

TEST(MultipartTest, PartsSurviveEverySplit) {
  for (const auto& pieces : Splits(kBody)) {
    Parsed p = Parse("XyZ", pieces);
    ASSERT_TRUE(p.status.ok()) << p.status.message();
    ASSERT_EQ(p.parts.size(), 2u);
    EXPECT_EQ(p.parts[0].name, "meta");
    EXPECT_EQ(p.parts[0].content_type, "application/json");
    EXPECT_EQ(p.data[0], "{\"app\":\"a\"}");
    EXPECT_EQ(p.parts[1].name, "context");
    EXPECT_EQ(p.parts[1].filename, "c.tar");
    // Text that merely looks like the boundary stays data.
    EXPECT_EQ(p.data[1], "tar\r\n-- bytes\r\n--Xy");
  }
}

TEST(MultipartTest, BodyWithoutPreambleAndEmptyPart) {
  Parsed p = Parse("b", {"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n\r\n--b--"});
  ASSERT_TRUE(p.status.ok()) << p.status.message();
  ASSERT_EQ(p.parts.size(), 1u);
  EXPECT_EQ(p.data[0], "");
}

TEST(MultipartTest, CutOffBodyIsAnError) {
  std::string cut = kBody.substr(0, kBody.find("--XyZ--"));
  Parsed p = Parse("XyZ", {cut});
  EXPECT_EQ(p.status.code(), Code::kInvalidArgument);
  EXPECT_NE(p.status.message().find("closing boundary"), std::string::npos) << p.status.message();
}

TEST(MultipartTest, OversizedPartHeadersAreRefused) {
  std::string body = "--b\r\nContent-Disposition: form-data; name=\"x\"\r\nX-Pad: " + std::string(10000, 'a') + "\r\n\r\nv\r\n--b--";
  Parsed p = Parse("b", {body}, 4096);
  EXPECT_EQ(p.status.code(), Code::kInvalidArgument);
  EXPECT_NE(p.status.message().find("larger than 4096"), std::string::npos) << p.status.message();
  // Fed in small pieces it is refused as soon as the headers pass the limit, not at the end.
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < body.size(); i += 100) pieces.push_back(std::string_view(body).substr(i, 100));
  EXPECT_EQ(Parse("b", pieces, 4096).status.code(), Code::kInvalidArgument);
}

TEST(MultipartTest, MalformedBodiesAreRefused) {
  EXPECT_FALSE(Parse("b", {"--b\r\nno colon here\r\n\r\nv\r\n--b--"}).status.ok());
  EXPECT_FALSE(Parse("b", {"--bX\r\n"}).status.ok());                                    // no CRLF after it
  EXPECT_FALSE(Parse("b", {"--b\r\nContent-Disposition: attachment\r\n\r\nv\r\n--b--"}).status.ok());
  EXPECT_FALSE(Parse("b", {"no delimiter at all"}).status.ok());
}

TEST(MultipartTest, HandlerCanStopTheReader) {
  MultipartReader reader("b", [](const MultipartPart&) { return true; }, [](std::string_view) { return false; });
  Status s = reader.Feed("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nvalue\r\n--b--");
  EXPECT_EQ(s.code(), Code::kCancelled);
  EXPECT_EQ(reader.Feed("more").code(), Code::kCancelled);  // stays failed
}

TEST(MultipartTest, MemoryStaysBoundedForLargeParts) {
  // 8 MiB of data in 64 KiB pieces passes through without being collected.
  MultipartReader reader("b", [](const MultipartPart&) { return true; }, [](std::string_view d) {
    EXPECT_LE(d.size(), (64u << 10) + 16);
    return true;
  });
  ASSERT_TRUE(reader.Feed("--b\r\nContent-Disposition: form-data; name=\"context\"\r\n\r\n").ok());
  std::string chunk(64 << 10, 'z');
  for (int i = 0; i < 128; ++i) ASSERT_TRUE(reader.Feed(chunk).ok());
  ASSERT_TRUE(reader.Feed("\r\n--b--\r\n").ok());
  EXPECT_TRUE(reader.Finish().ok());
}

TEST(MultipartTest, BoundaryFromContentType) {
  std::string b;
  ASSERT_TRUE(MultipartBoundary("multipart/form-data; boundary=------abc123", &b).ok());
  EXPECT_EQ(b, "------abc123");
  ASSERT_TRUE(MultipartBoundary("Multipart/Form-Data; charset=x; BOUNDARY=\"quoted; b\"", &b).ok());
  EXPECT_EQ(b, "quoted; b");
  EXPECT_FALSE(MultipartBoundary("application/json", &b).ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data", &b).ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'x'), &b).ok());
}

}  // namespace
}  // namespace bim
