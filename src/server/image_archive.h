// Checks on an image archive uploaded by `bim deploy --build local` (a `docker save` tar, layers bimd
// already holds left out), before it gets anywhere near `docker load`. Like a build context, the
// archive is hostile until proven otherwise: it must not tag anything (a tag in it could take over
// another app's image name), must hold exactly the image it claims, and must carry the labels bimd's
// cleanup relies on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace bim {

struct ImageArchiveRules {
  std::string image_id;     // the id the client claims ("sha256:<hex>"): the SHA-256 of the config file
  std::string instance_id;  // the image's labels must name this bimd instance...
  std::string app;          // ...and this app
  int64_t max_entries = 10000;
  int64_t max_json_bytes = int64_t{4} << 20;  // manifest.json and the config
};

struct ImageArchiveFacts {
  std::vector<std::string> diff_ids;  // the config's rootfs.diff_ids, bottom first
  int layer_files_present = 0;        // layer files the archive carries
};

// Reads the tar (plain or gzip) at `path` and returns OK only if: every entry is a regular file or
// directory with a relative path free of "..", NUL and control characters; there is no legacy
// `repositories` file; manifest.json lists exactly one image with no RepoTags, whose Config file is in
// the archive and hashes to rules.image_id, whose Layers are safe paths (a missing one must be a layer
// bimd holds; docker load says so otherwise), one per diff id; and the config's labels name
// rules.instance_id and rules.app. InvalidArgument naming the problem otherwise, TooLarge for a limit.
Status CheckImageArchive(const std::string& path, const ImageArchiveRules& rules, ImageArchiveFacts* facts);

}  // namespace bim
