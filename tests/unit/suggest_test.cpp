#include "core/suggest.h"

#include <gtest/gtest.h>

namespace bim {
namespace {

TEST(EditDistanceTest, CountsEditsAndSwaps) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("status", "status"), 0u);
  EXPECT_EQ(EditDistance("statu", "status"), 1u);    // deletion
  EXPECT_EQ(EditDistance("statuss", "status"), 1u);  // insertion
  EXPECT_EQ(EditDistance("stetus", "status"), 1u);   // substitution
  EXPECT_EQ(EditDistance("stauts", "status"), 1u);   // swap of neighbours
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(ClosestMatchTest, SuggestsOnlyWhatIsClose) {
  const std::vector<std::string> commands = {"login", "deploy", "apps",  "server", "status", "releases", "logs",
                                             "destroy", "rollback", "env", "token", "audit", "init", "up", "down"};
  EXPECT_EQ(ClosestMatch("statu", commands), "status");
  EXPECT_EQ(ClosestMatch("stauts", commands), "status");
  EXPECT_EQ(ClosestMatch("deplyo", commands), "deploy");
  EXPECT_EQ(ClosestMatch("rolback", commands), "rollback");
  EXPECT_EQ(ClosestMatch("lgs", commands), "logs");
  EXPECT_EQ(ClosestMatch("stat", commands), "status");  // a prefix
  EXPECT_EQ(ClosestMatch("releas", commands), "releases");
  EXPECT_EQ(ClosestMatch("xyzzy", commands), "");
  EXPECT_EQ(ClosestMatch("ab", commands), "");          // short words need to be one edit away
  EXPECT_EQ(ClosestMatch("", commands), "");
  EXPECT_EQ(ClosestMatch("status", {}), "");
  // Ties go to the first listed.
  EXPECT_EQ(ClosestMatch("dwn", {"down", "dawn"}), "down");
}

}  // namespace
}  // namespace bim
