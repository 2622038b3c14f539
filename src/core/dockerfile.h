// Dockerfile reading for one question: which images will this build read? All apps share one Docker
// image store, so a tenant's Dockerfile could otherwise start FROM (or COPY --from) another app's
// image and read its code and baked-in files in its own build output. bimd asks this before every
// build and refuses references to other apps' images (image_ref.h holds that policy).
//
// The reader follows the classic builder's rules (moby's parser and shell lexer, Docker 20.10):
//   - parser directives at the top (`# escape=`` ` ``), comments, blank lines, a UTF-8 BOM;
//   - line continuations with the escape character, comment lines inside them dropped;
//   - instructions case-insensitive; ONBUILD's inner instruction read like any other;
//   - global ARGs (before the first FROM) expanded in FROM with their defaults, overridden by the
//     build's --build-arg values; $VAR, ${VAR}, ${VAR:-w}, ${VAR-w}, ${VAR:+w}, ${VAR+w}, quotes and
//     escapes as the lexer does them;
//   - stage names (FROM ... AS name) and stage indexes are stages, not images, for COPY --from and
//     later FROMs, but only stages defined earlier (as Docker resolves them).
// Where the classic builder's reading cannot be known for sure, the reader refuses (fails closed)
// instead of guessing: an unsupported ${...} form, variables in --from, a short hex image-ID prefix
// (Docker would match it against every image ID in the store), ADD from a URL (dockerd fetches it
// itself, from the host's network, past the build's network isolation), or an ADD source whose
// variables the Dockerfile does not define.
//
// Pure: no I/O. Thread-safe (no shared state).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim {

// One image a build will read.
struct DockerfileImage {
  int line = 0;             // 1-based line of the instruction in the Dockerfile (0: an ONBUILD trigger,
                            // -1: not from a Dockerfile, e.g. a Compose service's image:)
  std::string instruction;  // "FROM", "COPY --from", "RUN --mount", "ONBUILD COPY --from", ...
  std::string reference;    // as Docker will resolve it: variables expanded, quotes removed
};

// Reads `dockerfile` (its text) and sets *out to every external image it reads (never "scratch" or a
// stage), in order. `build_args` are the --build-arg values the build will get. On a refusal or a
// syntax Docker would reject returns InvalidArgument "Dockerfile line N: <problem> (<fix>)" and
// leaves *out empty.
Status FindDockerfileImages(std::string_view dockerfile, const std::map<std::string, std::string>& build_args,
                            std::vector<DockerfileImage>* out);

// The same checks for the ONBUILD triggers of a base image (Docker's Config.OnBuild: one instruction
// per entry, run at the start of a child build). Variables cannot be resolved there, so they refuse.
Status FindTriggerImages(const std::vector<std::string>& triggers, std::vector<DockerfileImage>* out);

// Expands `word` the way the classic builder's shell lexer does for FROM: quotes removed, escapes
// applied with `escape` ('\\' or '`'), variables from `vars` (unset ones expand to ""). InvalidArgument
// for a ${...} form the lexer would reject or that bim does not follow.
Status ExpandDockerfileWord(std::string_view word, const std::map<std::string, std::string>& vars, char escape,
                            std::string* out);

}  // namespace bim
