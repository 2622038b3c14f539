// Text from tenants (build output, container logs, paths in uploads) reaches an admin's terminal and
// bimd's log. Raw, it could forge log lines (a newline and a fake "bimd:" prefix) or drive the
// terminal (escape sequences that retitle the window, rewrite the screen or paste commands).
//
// Pure. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace bim {

// One line made safe to print: colour codes (ESC [ ... m, as Docker's builder puts around stderr) are
// dropped; every other control character (C0 but tab, DEL, and C1 controls U+0080..U+009F) and every
// byte that is not valid UTF-8 is written as \xNN, and a backslash is left as is. Printable text,
// UTF-8 included, is unchanged. Newlines are escaped too: the result is always one line.
std::string EscapeTerminalText(std::string_view text);

// Length of the valid UTF-8 sequence starting at text[i] (1-4), or 0 if it is not one: overlong
// forms, surrogates and code points above U+10FFFF are invalid. (EscapeHtml in core/html.h uses it too.)
size_t Utf8SequenceLength(std::string_view text, size_t i);

}  // namespace bim
