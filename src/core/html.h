// HTML output for bimd's dashboard: the one escaping function every piece of tenant data (app names,
// log lines, failure reasons, commits, audit details, token names) goes through before it is written
// into a page (URLs' parts are made with QueryEscape, docker/engine_http.h). Pure functions, no I/O.
#pragma once

#include <string>
#include <string_view>

namespace bim {

// `text` made safe as HTML text or as a double- or single-quoted attribute value: & < > " ' are
// written as character references, NUL and other C0 controls except tab, LF and CR become U+FFFD
// (browsers would otherwise drop or misparse them), and bytes that are not valid UTF-8 become U+FFFD.
// The result never contains a raw < > & " or ', so it cannot open a tag, close an attribute, or start
// a character reference of its own.
std::string EscapeHtml(std::string_view text);

}  // namespace bim
