#include "docker/build_cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>


namespace bim {

namespace {

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The hierarchies a cgroup of this name may exist in: the unified root (v2) and every v1 controller
// mount under it (Docker's cgroupfs driver creates the parent in each one).
std::vector<std::string> Hierarchies(const std::string& root) {
  std::vector<std::string> out = {root};
  if (DIR* d = opendir(root.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && IsDir(root + "/" + n) && access((root + "/" + n + "/cgroup.procs").c_str(), F_OK) == 0)
        out.push_back(root + "/" + n);
    }
    closedir(d);
  }
  return out;
}

// Writes a cgroup control file in place (cgroupfs has no temp files or renames).
bool WriteControl(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  return close(fd) == 0 && ok;
}

bool RemoveDir(const std::string& path) { return rmdir(path.c_str()) == 0 || errno == ENOENT; }

}  // namespace

Status BuildCgroup::Create(const std::string& root, const std::string& name, int64_t pids) {
  // v2: one tree with cgroup.controllers at its root; v1: the pids controller's own mount.
  bool v2 = access((root + "/cgroup.controllers").c_str(), F_OK) == 0;
  std::string dir = (v2 ? root : root + "/pids") + "/" + name;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::Unavailable("cannot create the build cgroup " + dir + ": " + std::strerror(errno));
  root_ = root;
  name_ = name;
  if (v2) WriteControl(dir + "/cgroup.subtree_control", "+pids");  // best effort; pids.max below decides
  if (!WriteControl(dir + "/pids.max", std::to_string(pids))) {
    Remove();
    return Status::Unavailable("cannot set pids.max in " + dir + " (is the pids controller enabled?)");
  }
  return Status::OK();
}

bool BuildCgroup::RemoveNamed(const std::string& root, const std::string& name) {
  bool gone = true;
  for (const std::string& h : Hierarchies(root))
    if (IsDir(h + "/" + name)) gone = RemoveDir(h + "/" + name) && gone;
  return gone;
}

bool BuildCgroup::Remove() {
  if (name_.empty()) return true;
  if (!RemoveNamed(root_, name_)) return false;
  name_.clear();
  return true;
}

std::string BuildCgroup::Release() {
  std::string name = name_;
  name_.clear();
  return name;
}

void BuildCgroup::RemoveStale(const std::string& root, const std::string& prefix) {
  for (const std::string& h : Hierarchies(root)) {
    DIR* d = opendir(h.c_str());
    if (!d) continue;
    std::vector<std::string> stale;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.starts_with(prefix)) stale.push_back(h + "/" + n);
    }
    closedir(d);
    for (const auto& path : stale) rmdir(path.c_str());
  }
}

}  // namespace bim
