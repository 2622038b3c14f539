#include "cli/app_table.h"

#include <nlohmann/json.hpp>

#include "cli/output.h"

namespace bim {
namespace {

using nlohmann::json;

// Events of the whole document; only strings and integers at depth 3 ({"apps":[{...}]}) are kept.
class AppRowReader : public nlohmann::json_sax<json> {
 public:
  explicit AppRowReader(std::vector<AppRow>* rows) : rows_(rows) {}
  bool saw_apps() const { return saw_apps_; }

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t v) override { return Integer(v); }
  bool number_unsigned(number_unsigned_t v) override { return Integer(static_cast<int64_t>(v)); }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool string(string_t& s) override {
    if (std::string* field = InRow() ? Field() : nullptr) *field = std::move(s);
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) in_apps_ = k == "apps";
    if (depth_ == 3) key_ = std::move(k);
    return true;
  }
  bool start_object(std::size_t) override {
    ++depth_;
    if (depth_ == 3 && in_apps_) rows_->emplace_back();
    return true;
  }
  bool end_object() override { return Leave(); }
  bool start_array(std::size_t) override {
    ++depth_;
    if (depth_ == 2 && in_apps_) saw_apps_ = true;
    return true;
  }
  bool end_array() override { return Leave(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool InRow() const { return depth_ == 3 && in_apps_; }
  bool Leave() {
    if (depth_ == 3) key_.clear();
    --depth_;
    return true;
  }
  bool Integer(int64_t v) {
    if (InRow() && key_ == "updated_at_ms") rows_->back().updated_at_ms = v;
    return true;
  }
  std::string* Field() {
    AppRow& row = rows_->back();
    if (key_ == "app") return &row.app;
    if (key_ == "url") return &row.url;
    if (key_ == "live") return &row.live;
    if (key_ == "latest") return &row.latest;
    if (key_ == "latest_status") return &row.latest_status;
    return nullptr;
  }

  std::vector<AppRow>* rows_;
  int depth_ = 0;
  bool in_apps_ = false;
  bool saw_apps_ = false;
  std::string key_;
};

}  // namespace

Status ParseAppRows(std::string_view text, std::vector<AppRow>* rows) {
  rows->reserve(rows->size() + text.size() / 128);  // bimd's rows are ~200 bytes: one allocation
  AppRowReader reader(rows);
  if (!json::sax_parse(text.begin(), text.end(), &reader)) return Status::Internal("bimd sent an app list that is not JSON");
  if (!reader.saw_apps()) return Status::Internal("bimd sent an app list without \"apps\"");
  return Status::OK();
}

std::string RenderAppTable(const std::vector<AppRow>& rows, int64_t now_ms) {
  std::string out;
  out.reserve(96 + rows.size() * 128);
  AppendColumn(&out, "APP", 20);
  AppendColumn(&out, "LIVE", 6);
  AppendColumn(&out, "LATEST", 16);
  AppendColumn(&out, "UPDATED", 9);
  out += "URL\n";
  for (const AppRow& row : rows) {
    AppendColumn(&out, row.app, 20);
    AppendColumn(&out, row.live.empty() ? "-" : row.live, 6);
    AppendColumn(&out, row.latest.empty() ? std::string("-") : row.latest + " " + row.latest_status, 16);
    AppendColumn(&out, HumanAgo(row.updated_at_ms, now_ms), 9);
    out += row.url;
    out += '\n';
  }
  return out;
}

}  // namespace bim
