// Image references as Docker reads them (distribution/reference), and bim's rule for which images an
// app's build may read: anything but another app's images. bim tags every app image
// "bim/<app>:v<N>" (deploy_plan.h) and labels it with its app and bimd instance; both are checked,
// by name before the build and on what Docker resolved the name to (its id, tags and labels).
//
// Pure: no I/O. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/dockerfile.h"
#include "core/status.h"

namespace bim {

struct ImageReference {
  std::string domain;  // registry host[:port]; "docker.io" for Docker Hub names ("debian", "bim/x")
  std::string path;    // "library/debian", "bim/hello" (always lower case when valid)
  std::string tag;     // "" when none
  std::string digest;  // "sha256:<hex>" when the reference pins one, else ""
  std::string id;      // "sha256:<64 hex>" when the reference is an image id, else ""
  bool IsId() const { return !id.empty(); }
};

// Parses a reference the way `docker build` does for FROM and COPY --from: a name with optional
// registry, tag and digest, or a full image id (64 hex digits, with or without "sha256:").
// InvalidArgument for an invalid reference, and for a short hex string Docker would match against
// the prefixes of every image id in its store (so it could name any image, another app's too).
Status ParseImageReference(std::string_view text, ImageReference* out);

// The app whose bim repository `ref` names ("bim/<app>", under any registry), or "" for other images.
std::string BimAppOfReference(const ImageReference& ref);

// What Docker resolved a reference to (its image inspect answer).
struct ResolvedImage {
  std::string id;                 // "sha256:..."
  std::vector<std::string> tags;  // RepoTags
  std::string app_label;          // the image's bim app label, "" if none
  std::string instance_label;     // the image's bimd instance label, "" if none
};

// May app `app` of bimd instance `instance` read the image `use` names? By name: not if it is another
// app's bim repository. On what Docker resolved (`resolved`, null when the image is not in the store
// and Docker would pull it): not if it carries another app's tag or labels (of any bimd instance),
// and not if it is untagged (a build step of some app: its files are that app's files).
// InvalidArgument naming the Dockerfile line and the fix otherwise.
Status CheckBuildImage(const DockerfileImage& use, const ImageReference& ref, const ResolvedImage* resolved,
                       const std::string& app, const std::string& instance);

}  // namespace bim
