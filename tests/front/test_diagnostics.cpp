// Rendering diagnostics for a terminal: text from input escaped, long lines shown as
// a window around the caret, the number and size of messages bounded; line ends of
// every convention.
#include <algorithm>
#include <string>

#include "catch.h"
#include "compiler/front/lexer.h"
#include "compiler/front/parser.h"
#include "compiler/passes/pipeline.h"

using namespace attnjit;

namespace {

// The caret line under the first source line of `rendered` (its third line).
std::string caret_line(const std::string& rendered) {
  size_t first = rendered.find('\n');
  size_t second = rendered.find('\n', first + 1);
  size_t third = rendered.find('\n', second + 1);
  return rendered.substr(second + 1, third - second - 1);
}

// True if `text` has a byte a terminal could take as a control (other than '\n').
bool has_control_bytes(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    unsigned char b = static_cast<unsigned char>(c);
    return (b < 0x20 && b != '\n' && b != '\t') || b == 0x7F;
  });
}

std::string rendered_errors(const std::string& text) {
  auto module = compile_variants({"<t>", text});
  REQUIRE_FALSE(module.ok());
  return render(module.error(), {"<t>", text});
}

const char* kVariantHead = "variant v {\n  heads = 8 / 8; head_dim = 64; q = bf16; kv = bf16; out = bf16;\n";

}  // namespace

TEST_CASE("printable escapes control characters and keeps UTF-8", "[front][diagnostics]") {
  CHECK(printable("plain text: q_pos <= 3") == "plain text: q_pos <= 3");
  CHECK(printable(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(printable("\x1b]0;title\x07") == "\\x1b]0;title\\x07");
  CHECK(printable("\x1b[2J\x7f") == "\\x1b[2J\\x7f");
  CHECK(printable("tab\there\r\n") == "tab\\there\\r\\n");
  CHECK(printable("caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80");
  // Not UTF-8: stray bytes, an overlong '/', a surrogate, a cut sequence.
  CHECK(printable("\xff\xfe") == "\\xff\\xfe");
  CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");
  CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");
  CHECK(printable("\xe2\x86") == "\\xe2\\x86");
  // C1 controls (CSI is U+009B) and a right-to-left override.
  CHECK(printable("\xc2\x9b" "2J") == "\\xc2\\x9b" "2J");
  CHECK(printable("a\xe2\x80\xae" "b") == "a\\u202eb");
  // Escaping twice changes nothing more.
  const std::string once = printable(std::string("\0\x1b\\x00", 6));
  CHECK(printable(once) == once);
  CHECK(printable_lines("line one\x1b\nline two\n") == "line one\\x1b\nline two\n");
}

TEST_CASE("printable cuts long text between characters", "[front][diagnostics]") {
  CHECK(printable(std::string(100, 'a'), 10) == "aaaaaaa...");
  CHECK(printable(std::string(10, 'a'), 10) == std::string(10, 'a'));
  // An escape is never split.
  CHECK(printable("\x1b\x1b\x1b", 7) == "\\x1b...");
  CHECK(printable("\x1b\x1b\x1b", 12) == "\\x1b\\x1b\\x1b");
  // Nor is a UTF-8 character.
  CHECK(printable("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 4) == "\xc3\xa9...");
}

TEST_CASE("diagnostics: control characters from the file are escaped everywhere",
          "[front][diagnostics]") {
  // ESC and BEL in a variant name, NUL in a key; the path has an ESC too.
  const char raw[] = "variant v\x1b\x07 {}\nvariant w { head\0dim = 64; }\n";
  const std::string text(raw, sizeof raw - 1);
  const SourceFile file{"bad\x1b[2Jname.attn", text};
  auto module = compile_variants(file);
  REQUIRE_FALSE(module.ok());
  const std::string shown = render(module.error(), file);
  CHECK_FALSE(has_control_bytes(shown));
  CHECK(shown.find("bad\\x1b[2Jname.attn:1:10: error: unexpected characters '\\x1b\\x07'\n"
                   "variant v\\x1b\\x07 {}\n"
                   "         ^\n") == 0);
  CHECK(shown.find("bad\\x1b[2Jname.attn:2:17: error: unexpected character '\\x00'\n"
                   "variant w { head\\x00dim = 64; }\n"
                   "                ^\n") != std::string::npos);
}

TEST_CASE("diagnostics: the caret stays under its character after escapes, UTF-8 and tabs",
          "[front][diagnostics]") {
  // '@' is at byte column 25 (after an ESC), 26 (after a two-byte 'é'), 4 (after tabs).
  std::string shown = render(front::parse({"<t>", "variant v { score = \x1b + @; }"}).error(), {"<t>", "variant v { score = \x1b + @; }"});
  size_t second = shown.find("<t>:1:25:");
  REQUIRE(second != std::string::npos);
  CHECK(caret_line(shown.substr(second)) == std::string(27, ' ') + "^");

  const std::string accented = "variant v { score = \xc3\xa9 + @; }";
  shown = render(front::parse({"<t>", accented}).error(), {"<t>", accented});
  second = shown.find("<t>:1:26:");
  REQUIRE(second != std::string::npos);
  CHECK(caret_line(shown.substr(second)) == std::string(24, ' ') + "^");

  const std::string tabbed = "\t\t @";
  shown = render(front::parse({"<t>", tabbed}).error(), {"<t>", tabbed});
  CHECK(shown == "<t>:1:4: error: unexpected character '@'\n\t\t @\n\t\t ^\n");
}

TEST_CASE("diagnostics: a megabyte-long line is shown as a window around the caret",
          "[front][diagnostics]") {
  // The error at the end of the line, then one at its start.
  const std::string spaces(1000000, ' ');
  std::string shown = render(front::parse({"<t>", "variant v {" + spaces + "@ }"}).error(),
                             {"<t>", "variant v {" + spaces + "@ }"});
  CHECK(shown.size() < 400);
  CHECK(shown.find("<t>:1:1000012: error: unexpected character '@'\n...") == 0);
  const std::string source = shown.substr(shown.find('\n') + 1, shown.find('\n', shown.find('\n') + 1) - shown.find('\n') - 1);
  CHECK(source.size() <= 126);
  CHECK(source.ends_with("@ }"));
  CHECK(caret_line(shown).size() == source.size() - 2);  // '^' under the '@'

  shown = render(front::parse({"<t>", "@" + spaces + "variant v {}"}).error(), {"<t>", "@" + spaces + "variant v {}"});
  CHECK(shown == "<t>:1:1: error: unexpected character '@'\n@" + std::string(119, ' ') + "...\n^\n");
}

TEST_CASE("diagnostics: a megabyte line full of errors gives a bounded output",
          "[front][diagnostics]") {
  std::string line;
  while (line.size() < 1000000) line += "@ x ";
  const std::string text = std::string(kVariantHead) + "  score = " + line + ";\n}\n";
  const std::string shown = rendered_errors(text);
  CHECK(shown.size() < 48 * 1024);
  CHECK(shown.find("more errors not shown\n") != std::string::npos);
}

TEST_CASE("diagnostics: 20,000 repeated keys print a bounded number of errors",
          "[front][diagnostics]") {
  std::string text = kVariantHead;
  for (int i = 0; i < 20000; ++i) text += "  mask = causal;\n";
  text += "}\n";
  auto module = compile_variants({"<t>", text});
  REQUIRE_FALSE(module.ok());
  // Every repeat after the first is an error (each with a note); the first 50 are kept.
  CHECK(module.error().error_count() == 19999);
  CHECK(module.error().all().size() == 2 * DiagnosticList::kMaxKept);
  const std::string shown = render(module.error(), {"<t>", text});
  CHECK(shown.size() < 32 * 1024);
  CHECK(shown.ends_with("\n<t>: note: 19949 more errors not shown\n"));
}

TEST_CASE("diagnostics: a message quoting a huge name is cut", "[front][diagnostics]") {
  const std::string text = std::string(kVariantHead) + "  " + std::string(100000, 'k') + " = 1;\n}\n";
  const std::string shown = rendered_errors(text);
  const std::string first_line = shown.substr(0, shown.find('\n'));
  CHECK(first_line.find("<t>:3:3: error: unknown key 'kkkk") == 0);
  CHECK(first_line.ends_with("..."));
  CHECK(first_line.size() < 450);
  CHECK(shown.size() < 1024);
}

TEST_CASE("diagnostics: old Mac (CR) and Windows (CRLF) line ends count lines",
          "[front][diagnostics]") {
  for (const std::string end : {"\r", "\r\n", "\n"}) {
    INFO("line end " << printable(end));
    const std::string text = "# comment" + end + "variant v {" + end + "  heads = 8 / 8;" + end +
                             "  x = @;" + end + "}" + end;
    auto tree = front::parse({"<t>", text});
    REQUIRE_FALSE(tree.ok());
    REQUIRE(tree.error().all().size() == 1);
    CHECK(tree.error().all()[0].location.line == 4);
    CHECK(tree.error().all()[0].location.column == 7);
    CHECK(render(tree.error(), {"<t>", text}) ==
          "<t>:4:7: error: unexpected character '@'\n  x = @;\n      ^\n");

    auto lexed = front::lex({"<t>", text});
    REQUIRE(lexed.tokens.size() >= 4);
    CHECK(lexed.tokens[0].text == "variant");  // the comment ended at the line end
    CHECK(lexed.tokens[0].location.line == 2);
    CHECK(lexed.tokens[3].text == "heads");
    CHECK(lexed.tokens[3].location.line == 3);
    CHECK(lexed.tokens[3].location.column == 3);
  }
  // Mixed in one file.
  auto lexed = front::lex({"<t>", "a\rb\r\nc\nd\n\re"});
  std::vector<int> lines;
  for (const front::Token& t : lexed.tokens) lines.push_back(t.location.line);
  CHECK(lines == std::vector<int>{1, 2, 3, 4, 6, 6});
}

TEST_CASE("diagnostics: a file without a variant is an error", "[front][diagnostics]") {
  for (const char* text : {"", "\n\n", "# only a comment\n"}) {
    auto module = compile_variants({"empty.attn", text});
    REQUIRE_FALSE(module.ok());
    CHECK(render(module.error(), {"empty.attn", text}) == "empty.attn: error: no variant in file\n");
  }
}
