// Text from tenants made safe for terminals and logs (core/terminal_text.h), and the bounded line
// splitter for Docker's streams (docker/line_splitter.h).
#include "core/terminal_text.h"

#include <gtest/gtest.h>

#include "docker/line_splitter.h"

namespace bim {
namespace {

TEST(TerminalTextTest, PrintableTextIsUnchanged) {
  EXPECT_EQ(EscapeTerminalText("Step 1/3 : FROM scratch"), "Step 1/3 : FROM scratch");
  EXPECT_EQ(EscapeTerminalText("caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x9A\x80\ttab"), "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x9A\x80\ttab");
  EXPECT_EQ(EscapeTerminalText("back\\slash"), "back\\slash");
}

TEST(TerminalTextTest, ControlCharactersAreEscapedAndColoursDropped) {
  // Docker's builder wraps stderr in red: the colour goes, the text stays.
  EXPECT_EQ(EscapeTerminalText("\x1b[91mfailed\x1b[0m"), "failed");
  // A forged log line and terminal commands (OSC window title, clear screen, bell) are made visible.
  EXPECT_EQ(EscapeTerminalText("ok\nbimd: admin logged in"), "ok\\x0abimd: admin logged in");
  EXPECT_EQ(EscapeTerminalText("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
  EXPECT_EQ(EscapeTerminalText("\x1b[2J\r"), "\\x1b[2J\\x0d");
  EXPECT_EQ(EscapeTerminalText(std::string("a\0b\x7f", 4)), "a\\x00b\\x7f");
  // C1 controls (U+009B is a one-byte CSI for some terminals) and bytes that are not UTF-8.
  EXPECT_EQ(EscapeTerminalText("\xC2\x9B" "2J"), "\\xc2\\x9b2J");
  EXPECT_EQ(EscapeTerminalText("\x9b" "2J"), "\\x9b2J");
  EXPECT_EQ(EscapeTerminalText("\xC0\xAF"), "\\xc0\\xaf");  // overlong '/'
  EXPECT_EQ(EscapeTerminalText("\xED\xA0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(EscapeTerminalText("\xE2\x9C"), "\\xe2\\x9c");  // cut short
}

TEST(LineSplitterTest, SplitsAcrossChunksAndCapsLongLines) {
  std::vector<std::string> lines;
  LineSink sink = [&](std::string_view l) { lines.emplace_back(l); };
  LineSplitter split(sink, 8);
  split.Feed("one\ntw");
  split.Feed("o\r\nthree-is-long");
  split.Feed("-and-longer\nfour");
  split.Finish();
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "three-is [line truncated]", "four"}));
  // Memory stays bounded: a gigabyte without a newline is one truncated line.
  lines.clear();
  LineSplitter big(sink, 16);
  std::string chunk(1 << 16, 'x');
  for (int i = 0; i < 100; ++i) big.Feed(chunk);
  big.Feed("\nafter\n");
  EXPECT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], std::string(16, 'x') + " [line truncated]");
  EXPECT_EQ(lines[1], "after");
}

}  // namespace
}  // namespace bim
