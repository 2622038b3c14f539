// `bim deploy --build local`: build the image with the developer's own Docker and send bimd only the
// image layers it lacks, with no registry on either side (see ../shared/notes/image-push.md).
//
// The local Docker is reached over its unix socket through the Engine API (docker/docker_client.h):
// DOCKER_HOST when it is a unix:// address, else /var/run/docker.sock. The image is labelled with the
// server's instance and the app (bimd refuses images without them, so its cleanup finds them). bimd
// answers which leading layers it holds as a chain in the app's own kept images; the archive then
// leaves those layer files out and `docker load` on the server skips them. An image bimd already runs
// for the app costs nothing at all.
//
// Thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/context_pack.h"
#include "core/app_config.h"
#include "core/status.h"
#include "docker/docker_client.h"

namespace bim {

// The image a local build produced.
struct LocalImage {
  std::string id;                   // "sha256:..."
  std::vector<std::string> layers;  // diff ids, bottom first
  std::string source_digest;        // SourceDigest of the folder it was built from (PackStats)
};

// What bimd lacks of a local image, and the archive that carries it.
struct ImageUploadPlan {
  bool server_has_image = false;    // nothing to send
  int held_layers = 0;              // leading layers bimd holds
  int64_t archive_bytes = 0;        // size of the archive to send (0 when none)
  int layers_sent = 0;
  int64_t layer_bytes_sent = 0;     // uncompressed layer tars in the archive
  int64_t layer_bytes_held = 0;     // uncompressed layer tars left out
};

// The unix socket path of the developer's Docker (`bim up`, `bim down`, --build local): DOCKER_HOST when
// it is unix://, else /var/run/docker.sock. InvalidArgument for a DOCKER_HOST that is not unix://.
Status LocalDockerSocket(std::string* path);

// The one way bim builds an app folder with a local Docker, shared by `bim up` and `--build local` so
// both build exactly what bimd would: packs DIR by PackContext's rules (*stats: files, warnings, content
// digest; `on_packed` sees them before the build starts, may be empty) and builds it with `docker` as
// `tag`, with bim.toml's build args and `labels`; build output goes to `on_output`. Sets *image_id.
// FailedPrecondition "build failed: <Docker's message>" for a failed build, InvalidArgument for a folder
// that cannot be packed, Unavailable when Docker does not answer.
Status BuildFolder(const DockerClient& docker, const std::string& dir, const AppConfig& config, const std::string& tag,
                   const Labels& labels, const std::function<void(const PackStats&)>& on_packed,
                   const LineSink& on_output, PackStats* stats, std::string* image_id);

// BuildFolder for `--build local`: tagged bim-local/<app>:latest and
// labelled for `instance` and the app; build output goes to `on_output`. FailedPrecondition for a
// failed build (Docker's message), Unavailable when the local Docker does not answer.
Status BuildLocally(const DockerClient& docker, const std::string& dir, const AppConfig& config,
                    const std::string& instance, const LineSink& on_output, LocalImage* out);

// Asks bimd (POST /v1/apps/APP/layers) what it holds of `image`, and unless it has the whole image
// writes the archive to send at `archive_path` (gzip tar) from `docker save`.
Status PlanImageUpload(const ApiClient& client, const DockerClient& docker, const std::string& app,
                       const LocalImage& image, const std::string& archive_path, ImageUploadPlan* out);

}  // namespace bim
