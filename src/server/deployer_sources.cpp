// What a deploy runs: nothing new, a kept image, an uploaded image, or a fresh build. Decided under the
// app's lock before a release is recorded, so "unchanged" always compares against what is live now.
#include <unistd.h>

#include <algorithm>
#include <set>

#include "base/file_util.h"
#include "base/random.h"
#include "core/deploy_plan.h"
#include "server/deployer.h"

namespace bim {

using nlohmann::json;

namespace {

bool SameSettings(const App& a, const App& b) {
  return a.port == b.port && a.health_path == b.health_path && a.health_timeout_ms == b.health_timeout_ms;
}

}  // namespace

Status Deployer::ChooseSource(const App& before, const App& after, const DeployRequest& request, ReleaseSpec* spec,
                              const EventSink& events, std::string* written) {
  const bool by_image = !request.image_id.empty();
  if (request.context_digest.empty() && !by_image) return Status::OK();  // a whole-tar upload: build it
  spec->context_digest = request.context_digest;
  // A Compose app is built each time (Docker's cache makes an unchanged build quick): its release
  // also depends on env files the context leaves out, and the Deployer keeps every service whose
  // image, env and settings did not change running untouched (ServiceDigest).
  if (!request.compose.text.empty()) return WriteContext(before.name, request, spec, written);
  auto same_source = [&](const Release& r) {
    return by_image ? r.image_id == request.image_id : r.context_digest == request.context_digest;
  };

  std::vector<Release> releases;  // newest first
  Status s = store_->ListReleases(before.name, 0, &releases);
  if (!s.ok() && !s.IsNotFound()) return s;
  for (const Release& r : releases) {
    if (r.status != release_status::kLive && r.status != release_status::kRetired) continue;
    if (!same_source(r) || r.image_tag.empty()) continue;
    if (r.version == before.live_version && r.env_digest == store_->DigestEnv(spec->env) && SameSettings(before, after) &&
        r.git_commit == spec->git_commit && r.git_dirty == spec->git_dirty) {
      // Same source, commit, env and settings as the live release: nothing to do if it is up. A new
      // commit of the same files is a release (reusing the image), so the record names the commit.
      Workload live;
      if (engine_->Inspect(r.container_name, &live).ok() && !live.RunningEndpoints().empty()) {
        spec->nothing_to_do = true;
        events({{"event", "step"},
                {"step", "unchanged"},
                {"message", "Nothing to deploy: " + ReleaseName(r.version) +
                                " is live with the same build context, build args, commit, env and settings"}});
        return Status::OK();
      }
    }
    ImageInfo image;
    if (!images_->InspectImage(r.image_tag, &image).ok()) continue;  // pruned: look further, else build
    spec->image_tag = r.image_tag;
    spec->image_id = r.image_id;
    spec->audit_detail = "reused the image of " + ReleaseName(r.version);
    events({{"event", "step"},
            {"step", "reuse"},
            {"message", "Reusing image " + r.image_tag + " of " + ReleaseName(r.version) + " (same " +
                            (by_image ? "image" : "build context and build args") + ", nothing to build)"}});
    return Status::OK();
  }

  if (by_image) {
    if (request.image_archive_path.empty())
      return Status::FailedPrecondition("bimd no longer has image " + request.image_id.substr(0, 19) +
                                        " (pruned since the upload was planned); run bim deploy again");
    spec->image_archive = request.image_archive_path;
    spec->image_id = request.image_id;
    return Status::OK();
  }
  return WriteContext(before.name, request, spec, written);
}

Status Deployer::WriteContext(const std::string& app, const DeployRequest& request, ReleaseSpec* spec,
                              std::string* written) {
  if (!request.write_context) return Status::Internal("deploy request has a context digest but no context");
  std::string dir = options_.data_dir + "/uploads";
  Status s = MakeDirs(dir, 0700);
  if (!s.ok()) return s;
  *written = dir + "/" + app + "-" + RandomHex(8) + ".tar";
  if (!(s = request.write_context(*written)).ok()) return s;
  spec->context_path = *written;
  return Status::OK();
}

Status Deployer::HeldImageLayers(const std::string& app, const std::string& image_id,
                                 const std::vector<std::string>& layers, bool* has_image, int* held_layers) {
  *has_image = false;
  *held_layers = 0;
  std::vector<Release> releases;
  Status s = store_->ListReleases(app, 0, &releases);
  if (s.IsNotFound()) return Status::OK();
  if (!s.ok()) return s;
  std::set<std::string> inspected;
  int kept = 0;
  for (const Release& r : releases) {  // newest first; the images PruneImages keeps
    if (r.status != release_status::kLive && r.status != release_status::kRetired) continue;
    if (++kept > options_.keep_releases + 1) break;
    if (r.image_tag.empty() || !inspected.insert(r.image_tag).second) continue;
    ImageInfo image;
    if (!images_->InspectImage(r.image_tag, &image).ok()) continue;
    if (image.id == image_id) *has_image = true;
    // A layer counts only with every layer below it: docker load skips a layer whose chain it holds.
    int common = 0;
    while (common < static_cast<int>(layers.size()) && common < static_cast<int>(image.layers.size()) &&
           layers[common] == image.layers[common])
      ++common;
    *held_layers = std::max(*held_layers, common);
  }
  return Status::OK();
}

Status Deployer::LoadImage(const std::string& archive, const std::string& image_id, const std::string& tag,
                           const EventSink& events) {
  events({{"event", "step"}, {"step", "load"}, {"message", "Loading uploaded image " + image_id.substr(0, 19) + " as " + tag}});
  std::vector<std::string> loaded;
  Status s = images_->LoadImage(archive, &loaded);
  if (!s.ok())
    return s.code() == Code::kFailedPrecondition ? Status::FailedPrecondition("image upload refused: " + s.message())
                                                 : s.Wrap("loading the image");
  ImageInfo image;
  if (!images_->InspectImage(image_id, &image).ok())
    return Status::FailedPrecondition("the uploaded archive did not hold image " + image_id.substr(0, 19));
  size_t colon = tag.rfind(':');
  if (!(s = images_->TagImage(image_id, tag.substr(0, colon), tag.substr(colon + 1))).ok())
    return s.Wrap("tagging the uploaded image");
  return Status::OK();
}

}  // namespace bim
