#include "core/dockerfile.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <set>

#include "core/dockerfile_text.h"
#include "core/image_ref.h"

namespace bim {

namespace {

using Vars = std::map<std::string, std::string>;
using dockerfile_text::IsSpace;
using dockerfile_text::Lower;
using dockerfile_text::Show;
using dockerfile_text::Trim;
using dockerfile_text::TrimLeft;

// One instruction after continuations were joined: its lower-case name, leading --flags (quotes
// removed, as moby's extractBuilderFlags does) and the rest of the line.
struct Instruction {
  int line = 0;
  std::string name;
  std::vector<std::string> flags;
  std::string args;
};

// Splits leading "--flag" words off `rest`, removing quotes and escapes inside them.
void SplitFlags(std::string_view rest, char escape, std::vector<std::string>* flags, std::string* args) {
  size_t pos = 0;
  for (;;) {
    while (pos < rest.size() && IsSpace(rest[pos])) ++pos;
    if (rest.substr(pos, 2) != "--") break;
    std::string word;
    char quote = 0;
    size_t i = pos;
    for (; i < rest.size(); ++i) {
      char c = rest[i];
      if (quote == 0 && IsSpace(c)) break;
      if (c == escape && i + 1 < rest.size()) {
        word.push_back(rest[++i]);
      } else if (quote != 0 && c == quote) {
        quote = 0;
      } else if (quote == 0 && (c == '"' || c == '\'')) {
        quote = c;
      } else {
        word.push_back(c);
      }
    }
    pos = i;
    if (word == "--") break;
    flags->push_back(word);
  }
  *args = std::string(Trim(rest.substr(std::min(pos, rest.size()))));
}

Instruction MakeInstruction(int line, std::string_view text, char escape) {
  Instruction in;
  in.line = line;
  text = Trim(text);
  size_t end = 0;
  while (end < text.size() && !IsSpace(text[end])) ++end;
  in.name = Lower(text.substr(0, end));
  SplitFlags(text.substr(end), escape, &in.flags, &in.args);
  return in;
}

// Splits the Dockerfile into instructions (moby's parser.Parse). Sets *escape from the directive.
Status ReadInstructions(std::string_view text, char* escape, std::vector<Instruction>* out) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<std::string_view> lines;
  for (size_t start = 0; start <= text.size();) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view l = text.substr(start, nl - start);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    lines.push_back(l);
    start = nl + 1;
  }
  *escape = '\\';
  bool directives = true, saw_escape = false;
  auto is_comment = [](std::string_view l) { return TrimLeft(l).starts_with("#"); };
  // Ends with the escape character (and optional spaces/tabs): strips it and says "continues".
  auto continues = [escape](std::string_view* l) {
    std::string_view t = *l;
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.empty() || t.back() != *escape) return false;
    t.remove_suffix(1);
    *l = t;
    return true;
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (directives) {
      std::string_view t = Trim(l);
      size_t eq = t.find('=');
      if (t.starts_with("#") && eq != std::string_view::npos) {
        std::string key = Lower(Trim(t.substr(1, eq - 1)));
        std::string value(Trim(t.substr(eq + 1)));
        bool name_ok = !key.empty() && key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") == std::string::npos;
        if (name_ok && !value.empty()) {
          if (key == "escape") {
            if (saw_escape) return Status::InvalidArgument("Dockerfile line " + std::to_string(i + 1) + ": only one escape directive is allowed");
            if (value != "\\" && value != "`")
              return Status::InvalidArgument("Dockerfile line " + std::to_string(i + 1) + ": the escape directive takes \\ or `");
            *escape = value[0];
            saw_escape = true;
          }
          continue;
        }
      }
      directives = false;
    }
    l = TrimLeft(l);
    if (l.empty() || l.starts_with("#")) continue;
    int first = static_cast<int>(i + 1);
    std::string joined;
    bool more = continues(&l);
    joined += l;
    while (more && i + 1 < lines.size()) {
      std::string_view next = lines[++i];
      if (is_comment(next) || TrimLeft(next).empty()) continue;
      more = continues(&next);
      joined += next;
    }
    if (Trim(joined).empty()) continue;
    out->push_back(MakeInstruction(first, joined, *escape));
  }
  return Status::OK();
}

// Splits on whitespace, keeping quoted runs together (moby's parseWords), quotes kept in the words.
std::vector<std::string> Words(std::string_view s, char escape) {
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote == 0 && IsSpace(c)) {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    word.push_back(c);
    if (c == escape && quote != '\'' && i + 1 < s.size()) {
      word.push_back(s[++i]);
    } else if (quote != 0 && c == quote) {
      quote = 0;
    } else if (quote == 0 && (c == '"' || c == '\'')) {
      quote = c;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

// Splits on ASCII whitespace only, quotes and all (moby's parseStringsWhitespaceDelimited, used for
// FROM and for ADD/COPY outside the JSON form).
std::vector<std::string> Fields(std::string_view s) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !IsSpace(s[i])) ++i;
    if (i > start) fields.emplace_back(s.substr(start, i - start));
  }
  return fields;
}

// Anything that could make ADD download: a scheme ("http://", "s3://", ...) anywhere, or a git remote.
bool LooksLikeUrl(std::string_view s) {
  std::string l = Lower(s);
  return l.find("://") != std::string::npos || l.find("git@") != std::string::npos;
}

// Reads a whole Dockerfile (or a base image's ONBUILD triggers) and collects the images it reads.
class ImageFinder {
 public:
  ImageFinder(const Vars& build_args, char escape, bool triggers)
      : build_args_(build_args), escape_(escape), triggers_(triggers) {}

  Status Run(const std::vector<Instruction>& instructions, std::vector<DockerfileImage>* out) {
    if (triggers_) StartStage();  // triggers run in the child's stage, after its FROM
    for (const Instruction& in : instructions) {
      if (Status s = Handle(in, "", out); !s.ok()) {
        std::string where = triggers_ ? "ONBUILD trigger of the base image" : "Dockerfile line " + std::to_string(in.line);
        return Status::InvalidArgument(where + ": " + s.message());
      }
    }
    return Status::OK();
  }

 private:
  Status Expand(std::string_view word, const Vars& vars, std::string* out, std::set<std::string>* missing = nullptr) {
    return dockerfile_text::ExpandWord(word, vars, escape_, missing, out);
  }

  void StartStage() {
    in_stage_ = true;
    vars_.clear();
  }

  // `ref` names a stage or an image; images are appended to *out. `what` says where it was written.
  Status Reference(const Instruction& in, const std::string& what, const std::string& ref, bool from_flag,
                   std::vector<DockerfileImage>* out) {
    if (ref.empty()) return Status::InvalidArgument(what + " names no image");
    if (stages_.count(Lower(ref))) return Status::OK();
    if (from_flag) {
      bool index = ref.size() < 10 && ref.find_first_not_of("0123456789") == std::string::npos;
      if (index && std::stoi(ref) < stage_count_) return Status::OK();
      if (ref.find('$') != std::string::npos)
        return Status::InvalidArgument(what + "=" + Show(ref) +
                                       " uses a variable; name the stage or image directly (bim checks which images a build reads)");
    } else if (ref == "scratch") {
      return Status::OK();
    }
    ImageReference parsed;
    if (Status s = ParseImageReference(ref, &parsed); !s.ok()) return Status::InvalidArgument(what + ": " + s.message());
    out->push_back(DockerfileImage{triggers_ ? 0 : in.line, what, ref});
    return Status::OK();
  }

  Status Handle(const Instruction& in, const std::string& prefix, std::vector<DockerfileImage>* out) {
    const std::string& name = in.name;
    if (name == "onbuild") return OnBuild(in, out);
    if (name == "arg") return Arg(in);
    if (name == "env") return Env(in);
    if (name == "from") return From(in, out);
    if (name != "copy" && name != "add" && name != "run") return Status::OK();
    std::string what = prefix + dockerfile_text::Upper(name);
    for (const std::string& flag : in.flags) {
      size_t eq = flag.find('=');
      std::string key = Lower(flag.substr(0, eq));
      std::string value = eq == std::string::npos ? "" : flag.substr(eq + 1);
      Status s;
      if (key == "--from") s = Reference(in, what + " --from", value, true, out);
      else if (key == "--mount") s = Mount(in, what + " --mount", value, out);
      if (!s.ok()) return s;
    }
    return name == "add" ? Add(in, prefix) : Status::OK();
  }

  // ONBUILD <instruction>: runs in some later child build, where neither this Dockerfile's variables
  // nor its stages exist (a stage name there may read as an image, or as a short image id).
  Status OnBuild(const Instruction& in, std::vector<DockerfileImage>* out) {
    Instruction inner = MakeInstruction(in.line, in.args, escape_);
    if (inner.name == "onbuild" || inner.name == "from")
      return Status::InvalidArgument("ONBUILD " + dockerfile_text::Upper(inner.name) + " is not allowed");
    Vars vars = vars_;
    std::set<std::string> stages = stages_;
    int count = stage_count_;
    vars_.clear();
    stages_.clear();
    stage_count_ = 0;
    Status s = Handle(inner, "ONBUILD ", out);
    vars_ = vars;
    stages_ = stages;
    stage_count_ = count;
    return s;
  }

  // RUN --mount=type=bind,from=IMAGE,...: the image (or stage) the mount reads.
  Status Mount(const Instruction& in, const std::string& what, const std::string& spec,
               std::vector<DockerfileImage>* out) {
    for (size_t start = 0; start <= spec.size();) {
      size_t comma = spec.find(',', start);
      std::string field = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      size_t eq = field.find('=');
      std::string key = Lower(Trim(field.substr(0, eq)));
      if (eq != std::string::npos && (key == "from" || key == "source-image")) {
        std::string value(Trim(field.substr(eq + 1)));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
          value = value.substr(1, value.size() - 2);
        if (Status s = Reference(in, what, value, true, out); !s.ok()) return s;
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return Status::OK();
  }

  // ARG name[=default]...: before the first FROM a global ARG (FROM may use it); a --build-arg
  // replaces the default. Inside a stage an ARG's value can be overridden by an ENV of the base image
  // (ENV wins over ARG), which bim cannot see, so it counts as unknown there.
  Status Arg(const Instruction& in) {
    for (const std::string& word : Words(in.args, escape_)) {
      size_t eq = word.find('=');
      std::string key = word.substr(0, eq);
      if (key.empty()) return Status::InvalidArgument("ARG needs a name");
      if (in_stage_) {
        vars_.erase(key);
        continue;
      }
      std::optional<std::string> value;
      if (eq != std::string::npos) {
        std::string expanded;
        if (Status s = Expand(word.substr(eq + 1), meta_, &expanded); !s.ok()) return Status::InvalidArgument("ARG " + s.message());
        value = expanded;
      }
      if (auto it = build_args_.find(key); it != build_args_.end()) value = it->second;
      if (value) meta_[key] = *value;
      else meta_.erase(key);
    }
    return Status::OK();
  }

  // ENV k=v ... or the legacy ENV k v. A value counts as known only if every variable in it is known.
  Status Env(const Instruction& in) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::vector<std::string> words = Words(in.args, escape_);
    if (words.empty()) return Status::OK();
    if (words[0].find('=') == std::string::npos) {
      pairs.emplace_back(words[0], std::string(Trim(std::string_view(in.args).substr(words[0].size()))));
    } else {
      for (const std::string& word : words) {
        size_t eq = word.find('=');
        if (eq == std::string::npos) return Status::InvalidArgument("ENV " + Show(word) + " is not KEY=VALUE");
        pairs.emplace_back(word.substr(0, eq), word.substr(eq + 1));
      }
    }
    for (const auto& [key, raw] : pairs) {
      std::set<std::string> missing;
      std::string value;
      if (Status s = Expand(raw, vars_, &value, &missing); !s.ok()) return Status::InvalidArgument("ENV " + s.message());
      if (missing.empty()) vars_[key] = value;
      else vars_.erase(key);
    }
    return Status::OK();
  }

  Status From(const Instruction& in, std::vector<DockerfileImage>* out) {
    std::vector<std::string> words = Fields(in.args);
    if (words.empty()) return Status::InvalidArgument("FROM names no image");
    if (words.size() != 1 && !(words.size() == 3 && Lower(words[1]) == "as"))
      return Status::InvalidArgument("FROM takes an image and an optional \"AS name\"");
    std::string image;
    if (Status s = Expand(words[0], meta_, &image); !s.ok()) return Status::InvalidArgument("FROM " + s.message());
    if (Status s = Reference(in, "FROM", image, false, out); !s.ok()) return s;
    StartStage();
    ++stage_count_;
    if (words.size() == 3) stages_.insert(Lower(words[2]));
    return Status::OK();
  }

  // ADD downloads URLs itself (dockerd, from the host's network, past the build's network rules):
  // refused, as are sources with variables bim cannot resolve (the base image's ENV could make them
  // a URL).
  Status Add(const Instruction& in, const std::string& prefix) {
    const std::string what = prefix + "ADD";
    auto url_refusal = [&](std::string_view src) {
      return Status::InvalidArgument(what + " from a URL (" + Show(src) +
                                     ") is not allowed: dockerd would download it from the host's network; download it "
                                     "in a RUN step instead (RUN curl -fsSLo FILE URL), where the build's network rules apply");
    };
    if (LooksLikeUrl(in.args)) return url_refusal(in.args);
    std::vector<std::string> sources;
    nlohmann::json list = nlohmann::json::parse(in.args, nullptr, false);
    if (std::string_view(in.args).starts_with("[") && list.is_array()) {
      for (const auto& item : list)
        if (item.is_string()) sources.push_back(item.get<std::string>());
    } else {
      sources = Fields(in.args);
    }
    if (!sources.empty()) sources.pop_back();  // the destination
    for (const std::string& raw : sources) {
      std::set<std::string> missing;
      std::string src;
      if (Status s = Expand(raw, vars_, &src, &missing); !s.ok()) return Status::InvalidArgument(what + " " + s.message());
      if (!missing.empty())
        return Status::InvalidArgument(what + " source " + Show(raw) + " uses $" + *missing.begin() +
                                       ", which no ENV of this stage sets (the base image could make it a URL); "
                                       "set it with ENV first, or use COPY");
      if (LooksLikeUrl(src)) return url_refusal(src);
    }
    return Status::OK();
  }

  const Vars& build_args_;
  const char escape_;
  const bool triggers_;
  bool in_stage_ = false;
  Vars meta_;                     // global ARGs and their values
  Vars vars_;                     // the current stage's variables whose values are known
  std::set<std::string> stages_;  // lower-case names of the stages defined so far
  int stage_count_ = 0;
};

}  // namespace

Status FindDockerfileImages(std::string_view dockerfile, const std::map<std::string, std::string>& build_args,
                            std::vector<DockerfileImage>* out) {
  out->clear();
  char escape = '\\';
  std::vector<Instruction> instructions;
  if (Status s = ReadInstructions(dockerfile, &escape, &instructions); !s.ok()) return s;
  std::vector<DockerfileImage> found;
  if (Status s = ImageFinder(build_args, escape, false).Run(instructions, &found); !s.ok()) return s;
  *out = std::move(found);
  return Status::OK();
}

Status FindTriggerImages(const std::vector<std::string>& triggers, std::vector<DockerfileImage>* out) {
  out->clear();
  std::vector<Instruction> instructions;
  for (const std::string& t : triggers) {
    Instruction in = MakeInstruction(0, t, '\\');
    if (in.name == "from" || in.name == "onbuild")
      return Status::InvalidArgument("ONBUILD trigger of the base image: " + dockerfile_text::Upper(in.name) +
                                     " is not allowed there");
    instructions.push_back(std::move(in));
  }
  static const Vars kNoArgs;
  std::vector<DockerfileImage> found;
  if (Status s = ImageFinder(kNoArgs, '\\', true).Run(instructions, &found); !s.ok()) return s;
  *out = std::move(found);
  return Status::OK();
}

}  // namespace bim
