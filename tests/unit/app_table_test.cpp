#include "cli/app_table.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace bim {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;

TEST(AppTableTest, ReadsTheTableFieldsOfEveryAppAndSkipsTheRest) {
  // Fields the table ignores, nested values (also ones named like table fields) and a null live.
  const std::string text = R"({"apps":[
    {"app":"api","url":"http://api.example.com/","live":"v3","status":"live","latest":"v4",
     "latest_status":"failed","updated_at_ms":1799999880000,"extra":{"app":"not-me","url":"x"},
     "list":[{"live":"v9"}]},
    {"app":"new","url":"http://new.example.com/","live":null}],
    "next":{"apps":[{"app":"ghost"}]}})";
  std::vector<AppRow> rows;
  ASSERT_TRUE(ParseAppRows(text, &rows).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].app, "api");
  EXPECT_EQ(rows[0].url, "http://api.example.com/");
  EXPECT_EQ(rows[0].live, "v3");
  EXPECT_EQ(rows[0].latest, "v4");
  EXPECT_EQ(rows[0].latest_status, "failed");
  EXPECT_EQ(rows[0].updated_at_ms, 1799999880000);
  EXPECT_EQ(rows[1].app, "new");
  EXPECT_EQ(rows[1].live, "");
  EXPECT_EQ(rows[1].latest, "");
  EXPECT_EQ(rows[1].updated_at_ms, 0);

  std::string table = RenderAppTable(rows, kNow);
  EXPECT_EQ(table,
            "APP                   LIVE    LATEST            UPDATED    URL\n"
            "api                   v3      v4 failed         2m ago     http://api.example.com/\n"
            "new                   -       -                 -          http://new.example.com/\n");
}

TEST(AppTableTest, AnEmptyListIsNoRowsAndBrokenAnswersAreErrors) {
  std::vector<AppRow> rows;
  EXPECT_TRUE(ParseAppRows(R"({"apps":[]})", &rows).ok());
  EXPECT_TRUE(rows.empty());
  EXPECT_FALSE(ParseAppRows(R"({"apps":[{"app":"a"})", &rows).ok()) << "truncated";
  EXPECT_FALSE(ParseAppRows(R"({"error":{"code":"internal"}})", &rows).ok()) << "no apps array";
  EXPECT_FALSE(ParseAppRows(R"({"apps":{"app":"a"}})", &rows).ok()) << "apps is not an array";
  EXPECT_FALSE(ParseAppRows("", &rows).ok());
}

TEST(AppTableTest, MatchesTheTreeParseOnALargeList) {
  nlohmann::json doc = {{"apps", nlohmann::json::array()}};
  for (int i = 0; i < 2000; ++i)
    doc["apps"].push_back({{"app", "app-" + std::to_string(i)},
                           {"url", "http://app-" + std::to_string(i) + ".localhost/"},
                           {"live", i % 7 ? nlohmann::json("v" + std::to_string(i % 5 + 1)) : nlohmann::json()},
                           {"latest", "v" + std::to_string(i % 5 + 1)},
                           {"latest_status", i % 3 ? "live" : "failed"},
                           {"updated_at_ms", kNow - i * 1000LL}});
  std::vector<AppRow> rows;
  ASSERT_TRUE(ParseAppRows(doc.dump(), &rows).ok());
  ASSERT_EQ(rows.size(), 2000u);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& a = doc["apps"][i];
    EXPECT_EQ(rows[i].app, a["app"]);
    EXPECT_EQ(rows[i].live, a["live"].is_string() ? a["live"].get<std::string>() : "");
    EXPECT_EQ(rows[i].latest_status, a["latest_status"]);
    EXPECT_EQ(rows[i].updated_at_ms, a["updated_at_ms"]);
  }
}

}  // namespace
}  // namespace bim
