// Test helper: a Docker base image made from Debian packages installed on this host, for tests that
// must build a Dockerfile whose FROM needs a real userland (a compiler) while no registry is reachable.
//
// The image holds the files of `packages` and of everything they depend on (the Depends/Pre-Depends
// closure among installed packages, read from dpkg's database), minus documentation, laid out like the
// host (merged /usr: /bin, /lib, /lib64, /sbin are symlinks into /usr). It is imported through the
// Engine API (POST /images/create?fromSrc=-) with a label, so it and every image built on top of it
// (which inherit the label) can be found and removed.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace bim::testing {

struct BaseImageStats {
  int packages = 0;
  long long files = 0;
  long long bytes = 0;       // file bytes in the tar
  long long tar_ms = 0;      // time to write the tar
  long long import_ms = 0;   // time for dockerd to import it
};

// Builds the image `tag` (e.g. "bim-test-gcc-1a2b:12") labelled `label_key`=`label_value`. Returns false
// and sets *error when a package is not installed, a file cannot be read, or dockerd refuses the import.
bool MakeLocalBaseImage(const std::vector<std::string>& packages, const std::string& tag, const std::string& label_key,
                        const std::string& label_value, BaseImageStats* stats, std::string* error);

// Removes every image (including intermediate build images) labelled `label_key`=`label_value`, children
// first. Returns how many images are still there afterwards (0 on success), or -1 if Docker could not
// list them.
int RemoveLabelledImages(const std::string& label_key, const std::string& label_value);

// Engine API GET (loopback unix socket): the answer body, or "" on failure. For tests that inspect dockerd.
std::string EngineGet(const std::string& target);

}  // namespace bim::testing
