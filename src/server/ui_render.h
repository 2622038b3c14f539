// Small HTML pieces the dashboard's page files share (ui_pages.cpp, ui_app_page.cpp). Every function
// escapes what it is given; the results are HTML.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace bim::ui {

// j[key] as text: strings as they are, numbers and booleans printed, anything else "".
std::string Str(const nlohmann::json& j, const char* key);
// j[key] if it is a number, else 0.
long long Num(const nlohmann::json& j, const char* key);
// The badge colour class for a state word: "ok", "warn", "bad" or "muted".
std::string StateClass(const std::string& state);
// <span class="badge CLASS">text</span>
std::string Badge(const std::string& text);
// <a href="href">text</a> (href is ours, e.g. AppPath)
std::string Link(const std::string& href, const std::string& text);
// A link for an http(s) URL; other text is shown unlinked.
std::string ExternalLink(const std::string& url);
// "/ui/apps/<app>", the app's page.
std::string AppPath(const std::string& app);
// <td data-label="label" class="cls">html</td>; data-label heads the cell when tables become cards
// on a narrow screen.
std::string Cell(const char* label, const std::string& html, const char* cls);

}  // namespace bim::ui
