#include "core/template.h"

#include <kainjow/mustache.hpp>

#include <exception>
#include <string>

namespace bim {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int LineOf(std::string_view text, size_t pos) {
  int line = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) line += text[i] == '\n';
  return line;
}

// Finds the first variable tag ({{x}}, {{{x}}}, {{&x}}) whose name is not in `vars`. Mustache itself
// renders unknown names as "", which in an nginx config silently routes nowhere; so the tags are
// scanned here, following "{{=<% %>=}}" delimiter changes the way the engine does. Section, comment
// and partial tags are not variables. Returns false and sets *name/*line when one is missing. The
// template has already been validated by the engine, so malformed tags need no reporting here.
bool FindMissingVar(std::string_view text, const TemplateVars& vars, std::string* name, int* line) {
  std::string open = "{{", close = "}}";
  size_t i = 0;
  while (true) {
    size_t p = text.find(open, i);
    if (p == std::string_view::npos) return true;
    size_t start = p + open.size();
    std::string_view tag;
    if (open == "{{" && start < text.size() && text[start] == '{') {
      size_t end = text.find("}}}", start);
      if (end == std::string_view::npos) return true;
      tag = Trim(text.substr(start + 1, end - start - 1));
      i = end + 3;
    } else {
      size_t end = text.find(close, start);
      if (end == std::string_view::npos) return true;
      std::string_view inner = Trim(text.substr(start, end - start));
      i = end + close.size();
      if (inner.empty()) continue;
      char kind = inner[0];
      if (kind == '#' || kind == '^' || kind == '/' || kind == '!' || kind == '>') continue;
      if (kind == '=') {
        // "{{=<% %>=}}": the new open and close delimiters, separated by blanks.
        std::string_view spec = inner.substr(1);
        if (!spec.empty() && spec.back() == '=') spec.remove_suffix(1);
        spec = Trim(spec);
        size_t gap = spec.find_first_of(" \t");
        if (gap == std::string_view::npos) return true;
        open = std::string(spec.substr(0, gap));
        close = std::string(Trim(spec.substr(gap)));
        if (open.empty() || close.empty()) return true;
        continue;
      }
      tag = kind == '&' ? Trim(inner.substr(1)) : inner;
    }
    if (tag.empty() || tag == ".") continue;
    if (vars.find(std::string(tag)) == vars.end()) {
      *name = std::string(tag);
      *line = LineOf(text, p);
      return false;
    }
  }
}

std::string KnownNames(const TemplateVars& vars, const TemplateFlags& flags) {
  if (vars.empty() && flags.empty()) return "none";
  std::string out;
  for (const auto& [k, v] : vars) out += (out.empty() ? "" : ", ") + k;
  for (const auto& [k, v] : flags) out += (out.empty() ? "" : ", ") + k;
  return out;
}

}  // namespace

Status RenderTemplate(std::string_view name, std::string_view tmpl, const TemplateVars& vars,
                      std::string* out) {
  return RenderTemplate(name, tmpl, vars, {}, out);
}

Status RenderTemplate(std::string_view name, std::string_view tmpl, const TemplateVars& vars,
                      const TemplateFlags& flags, std::string* out) {
  const std::string where(name);
  try {
    kainjow::mustache::mustache engine{std::string(tmpl)};
    if (!engine.is_valid()) return Status::InvalidArgument(where + ": " + engine.error_message());

    std::string missing;
    int line = 0;
    if (!FindMissingVar(tmpl, vars, &missing, &line)) {
      return Status::InvalidArgument(where + " line " + std::to_string(line) + ": unknown variable {{" +
                                     missing + "}} (known variables: " + KnownNames(vars, flags) + ")");
    }

    // These are config files, not HTML: "&" or "<" in a value must reach nginx unchanged.
    engine.set_custom_escape([](const std::string& s) { return s; });
    kainjow::mustache::data data;
    for (const auto& [k, v] : vars) data.set(k, v);
    for (const auto& [k, v] : flags) data.set(k, v ? kainjow::mustache::data::type::bool_true
                                                 : kainjow::mustache::data::type::bool_false);
    std::string rendered = engine.render(data);
    if (!engine.is_valid()) return Status::InvalidArgument(where + ": " + engine.error_message());
    *out = std::move(rendered);
    return Status::OK();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(where + ": " + e.what());
  }
}

}  // namespace bim
