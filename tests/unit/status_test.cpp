#include "core/status.h"

#include <gtest/gtest.h>

namespace bim {
namespace {

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.HttpStatus(), 200);
}

TEST(StatusTest, WrapKeepsCodeAndPrefixesMessage) {
  Status s = Status::NotFound("no app \"x\"").Wrap("deploy");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "deploy: no app \"x\"");
  EXPECT_EQ(s.HttpStatus(), 404);
}

TEST(StatusTest, CodeNamesRoundTrip) {
  for (Code c : {Code::kInvalidArgument, Code::kConflict, Code::kFailedPrecondition, Code::kUnavailable}) {
    Status s(c, "m");
    EXPECT_EQ(Status::CodeFromName(s.CodeName()), c);
  }
  EXPECT_EQ(Status::CodeFromName("nonsense"), Code::kInternal);
}

}  // namespace
}  // namespace bim
