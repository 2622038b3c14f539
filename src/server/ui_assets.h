// The dashboard's static files, compiled into bimd (no build step, no CDN, nothing to install beside it).
#pragma once

#include <string_view>

namespace bim {

// /ui/assets/ui.css: the one stylesheet (light and dark, narrow screens turn tables into cards).
std::string_view UiStylesheet();
// /ui/assets/logs.js: follows the live-logs page's stream (EventSource); the only script.
std::string_view UiLogsScript();

}  // namespace bim
