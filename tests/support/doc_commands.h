// Test helper: the `bim ...` command lines named in a text (README, generated agent files, CI
// workflows), so tests can parse or run every one of them. Header-only: used by the unit suite (which
// parses them with the real CLI definition) and the integration suite (which runs them).
#pragma once

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace bim::testing {

// One command found in a text.
struct DocCommand {
  std::string line;               // as written, e.g. "bim rollback APP [--to RELEASE]"
  std::vector<std::string> argv;  // placeholders filled in, optional parts included, argv[0] = "bim"
};

// Values for the placeholders docs use (README's APP, DIR, ...; the agent files' vN, <server>).
inline const std::map<std::string, std::string>& DocPlaceholders() {
  static const std::map<std::string, std::string> kValues = {
      {"APP", "hello"},        {"DIR", "."},          {"NAME", "hello"},     {"RELEASE", "v1"},
      {"N", "5"},              {"ID", "1"},           {"FILE", "/tmp/x"},    {"URL", "http://127.0.0.1:7878"},
      {"KEY=VALUE", "A=1"},    {"KEY", "A"},          {"vN", "v1"},          {"<server>", "http://127.0.0.1:7878"},
      {"<token>", "bim_token"}, {"TOKEN", "bim_token"}};
  return kValues;
}

// Finds command lines: in Markdown, inside `inline code` and ``` fenced blocks; in YAML and other
// files, lines (after "- ", "run: " and leading spaces) or code spans that start with "bim ". A command
// ends at a closing backtick, a comment (" #"), a pipe, "&&", ";" or a redirection. Only words that
// name a command (`command_words`, e.g. {"deploy", "env", ...}) or start with '-' after "bim" count,
// so prose such as "bim is built from source" is skipped. "[opt]" brackets are dropped (the option
// is included), "a|b" alternatives take the first, "X..." takes one X, and placeholders get
// DocPlaceholders() values; $(...) is taken as the token.
inline std::vector<DocCommand> FindDocCommands(const std::string& text, const std::set<std::string>& command_words) {
  std::vector<std::string> candidates;
  // Code spans and fenced lines.
  std::istringstream in(text);
  bool fenced = false;
  for (std::string line; std::getline(in, line);) {
    std::string trimmed = line.substr(std::min(line.find_first_not_of(' '), line.size()));
    if (trimmed.starts_with("```")) {
      fenced = !fenced;
      continue;
    }
    for (const char* prefix : {"- ", "run: "})
      if (trimmed.starts_with(prefix)) trimmed = trimmed.substr(std::string(prefix).size());
    if (fenced || trimmed.starts_with("bim ")) candidates.push_back(trimmed);
    static const std::regex kSpan("`([^`]+)`");
    for (auto it = std::sregex_iterator(line.begin(), line.end(), kSpan); it != std::sregex_iterator(); ++it)
      candidates.push_back((*it)[1]);
  }
  std::vector<DocCommand> found;
  std::set<std::string> seen;
  static const std::regex kStart(R"((^|[\s(])bim (\S))");
  for (const std::string& candidate : candidates) {
    for (auto it = std::sregex_iterator(candidate.begin(), candidate.end(), kStart); it != std::sregex_iterator(); ++it) {
      std::string rest = candidate.substr(static_cast<size_t>(it->position(2)));
      std::string cmd = "bim " + rest;
      for (const char* end : {" #", " |", " &&", ";", " >", " 2>", " <", "`"}) {
        size_t at = cmd.find(end);
        if (at != std::string::npos) cmd.resize(at);
      }
      cmd = std::regex_replace(cmd, std::regex(R"(\$\([^)]*\))"), "TOKEN");
      while (!cmd.empty() && (cmd.back() == ' ' || cmd.back() == '.' || cmd.back() == ',')) cmd.pop_back();
      std::istringstream words(cmd);
      std::vector<std::string> argv;
      for (std::string w; words >> w;) {
        if (w.size() > 2 && w.front() == '[' && w.back() == ']') w = w.substr(1, w.size() - 2);
        else if (w.front() == '[') w = w.substr(1);
        else if (w.back() == ']') w.pop_back();
        if (w.find('|') != std::string::npos && !w.starts_with("-")) w = w.substr(0, w.find('|'));
        if (w.ends_with("...")) w.resize(w.size() - 3);
        auto p = DocPlaceholders().find(w);
        if (p != DocPlaceholders().end()) w = p->second;
        if (!w.empty()) argv.push_back(w);
      }
      if (argv.size() < 2 || argv[1] == "--") continue;
      if (!command_words.count(argv[1]) && !argv[1].starts_with("-")) continue;
      if (!seen.insert(cmd).second) continue;
      found.push_back({cmd, argv});
    }
  }
  return found;
}

}  // namespace bim::testing
