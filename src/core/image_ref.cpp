#include "core/image_ref.h"

#include <algorithm>

#include "core/deploy_plan.h"
#include "core/dockerfile_text.h"

namespace bim {

namespace {

using dockerfile_text::Lower;
using dockerfile_text::Show;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsHex(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// path-component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
bool ValidPathComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (sep != "." && sep != "_" && sep != "__" && !dashes) return false;
    i = j;
  }
  return true;
}

// domain: labels of [A-Za-z0-9-] joined by '.', optional :port.
bool ValidDomain(std::string_view d) {
  size_t colon = d.rfind(':');
  if (colon != std::string_view::npos) {
    std::string_view port = d.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return false;
    d = d.substr(0, colon);
  }
  if (d.empty()) return false;
  size_t start = 0;
  for (;;) {
    size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!IsLowerAlnum(c) && !(c >= 'A' && c <= 'Z') && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool ValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!word(t.front())) return false;
  for (char c : t)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

Status Invalid(std::string_view text, const std::string& why) {
  return Status::InvalidArgument("\"" + Show(text) + "\" is not an image reference Docker accepts (" + why + ")");
}

}  // namespace

Status ParseImageReference(std::string_view text, ImageReference* out) {
  *out = ImageReference();
  if (text.empty() || text.size() > 512) return Invalid(text, "empty or too long");
  // Image ids: Docker reads a bare 64-digit hex string, or "sha256:" and 64 digits, as an id. Shorter
  // hex strings it matches against the prefixes of every image id it has, after trying them as a
  // name: such a reference can name any image in the store.
  std::string_view hex = text.starts_with("sha256:") ? text.substr(7) : text;
  if (IsHex(hex) && hex.size() == 64) {
    out->id = "sha256:" + std::string(hex);
    return Status::OK();
  }
  if (IsHex(hex) || text.starts_with("sha256:"))
    return Status::InvalidArgument("\"" + Show(text) +
                                   "\" reads as a short image id, which Docker matches against every image in its store; "
                                   "use the image's name (repository:tag) or its full id");
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    std::string_view digest = rest.substr(at + 1);
    size_t colon = digest.find(':');
    if (colon == std::string_view::npos || colon == 0 || digest.size() - colon - 1 < 32 ||
        !IsHex(Lower(digest.substr(colon + 1))))
      return Invalid(text, "bad digest");
    out->digest = Lower(digest);
    rest = rest.substr(0, at);
  }
  // A ':' after the last '/' starts the tag (a ':' before it belongs to a registry port).
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    out->tag = std::string(rest.substr(colon + 1));
    if (!ValidTag(out->tag)) return Invalid(text, "bad tag");
    rest = rest.substr(0, colon);
  }
  // The registry: a first component with '.' or ':', "localhost", or upper case (Docker's
  // splitDockerDomain); anything else is a Docker Hub name.
  std::string_view remainder = rest;
  size_t first = rest.find('/');
  std::string_view head = first == std::string_view::npos ? "" : rest.substr(0, first);
  if (!head.empty() && (head.find_first_of(".:") != std::string_view::npos || head == "localhost" || Lower(head) != head)) {
    if (!ValidDomain(head)) return Invalid(text, "bad registry host");
    out->domain = Lower(head);
    remainder = rest.substr(first + 1);
  } else {
    out->domain = "docker.io";
  }
  if (out->domain == "index.docker.io" || out->domain == "registry-1.docker.io") out->domain = "docker.io";
  if (remainder.empty()) return Invalid(text, "no repository");
  for (size_t start = 0;;) {
    size_t next = remainder.find('/', start);
    std::string_view component = remainder.substr(start, next == std::string_view::npos ? std::string_view::npos : next - start);
    if (!ValidPathComponent(component))
      return Invalid(text, Lower(component) != component ? "repository names are lower case" : "bad repository name");
    if (next == std::string_view::npos) break;
    start = next + 1;
  }
  out->path = std::string(remainder);
  if (out->domain == "docker.io" && out->path.find('/') == std::string::npos) out->path = "library/" + out->path;
  if (out->domain.size() + 1 + out->path.size() > 255) return Invalid(text, "name longer than 255 characters");
  return Status::OK();
}

std::string BimAppOfReference(const ImageReference& ref) {
  // An app's images are "bim/<app>" (deploy_plan.h); on a cluster the same path sits under the
  // registry's host, perhaps under a namespace too, so the last two path components decide.
  size_t last = ref.path.rfind('/');
  if (last == std::string::npos || last == 0) return "";
  size_t before = ref.path.rfind('/', last - 1);
  size_t start = before == std::string::npos ? 0 : before + 1;
  return ref.path.substr(start, last - start) == kImageRepository ? ref.path.substr(last + 1) : "";
}

Status CheckBuildImage(const DockerfileImage& use, const ImageReference& ref, const ResolvedImage* resolved,
                       const std::string& app, const std::string& instance) {
  // line < 0: not from a Dockerfile (a Compose service's image:); the instruction says where.
  std::string where = use.line > 0 ? "Dockerfile line " + std::to_string(use.line) + ": "
                      : use.line == 0 ? "an ONBUILD trigger of the base image: " : "";
  std::string what = where + use.instruction + " " + Show(use.reference);
  const std::string fix = "; a build may read its own app's images and shared base images, never another app's";
  // Case folded too: Docker reads "BIM/x" as a registry named BIM, but nothing is gained by letting a
  // spelling of another app's repository through.
  std::string owner = BimAppOfReference(ref);
  ImageReference folded;
  if (owner.empty() && ParseImageReference(dockerfile_text::Lower(use.reference), &folded).ok())
    owner = BimAppOfReference(folded);
  if (!owner.empty() && owner != app)
    return Status::InvalidArgument(what + " is app \"" + Show(owner) + "\"'s image" + fix);
  if (!resolved) {
    if (ref.IsId()) return Status::InvalidArgument(what + " names an image id this server does not have");
    return Status::OK();  // Docker would pull it from its registry: not one of ours
  }
  for (const std::string& tag : resolved->tags) {
    ImageReference t;
    if (!ParseImageReference(tag, &t).ok()) continue;
    std::string tag_owner = BimAppOfReference(t);
    if (!tag_owner.empty() && tag_owner != app)
      return Status::InvalidArgument(what + " is image " + Show(resolved->id.substr(0, 19)) + ", app \"" +
                                     Show(tag_owner) + "\"'s image " + Show(tag) + fix);
  }
  if (!resolved->app_label.empty() && (resolved->app_label != app || resolved->instance_label != instance))
    return Status::InvalidArgument(what + " is an image built for " +
                                   (resolved->app_label != app ? "app \"" + Show(resolved->app_label) + "\""
                                                               : "an app of another bim server") + fix);
  if (resolved->tags.empty())
    return Status::InvalidArgument(what + " is an untagged image (a build step of some app, holding its files); "
                                   "build FROM a tagged base image instead" );
  return Status::OK();
}

}  // namespace bim
