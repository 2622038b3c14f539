#include "base/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace bim {

namespace {
std::string Errno() { return std::strerror(errno); }
}  // namespace

Status WriteFileAtomically(const std::string& path, const std::string& contents, int mode, bool sync) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  unsigned random = 0;
  if (int r = open("/dev/urandom", O_RDONLY | O_CLOEXEC); r >= 0) {
    if (read(r, &random, sizeof random) != sizeof random) random = 0;
    close(r);
  }
  std::string tmp = dir + "/." + name + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(random);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return Status::Internal("cannot write " + tmp + ": " + Errno());
  size_t off = 0;
  while (off < contents.size()) {
    ssize_t n = write(fd, contents.data() + off, contents.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = Status::Internal("cannot write " + tmp + ": " + Errno());
      close(fd);
      unlink(tmp.c_str());
      return s;
    }
    off += static_cast<size_t>(n);
  }
  // fchmod because open's mode is filtered by the umask; fsync so a crash after rename cannot leave
  // an empty file behind the new name.
  if (fchmod(fd, mode) != 0 || (sync && fsync(fd) != 0)) {
    Status s = Status::Internal("cannot write " + tmp + ": " + Errno());
    close(fd);
    unlink(tmp.c_str());
    return s;
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Status::Internal("cannot replace " + path + ": " + Errno());
    unlink(tmp.c_str());
    return s;
  }
  return Status::OK();
}

Status ReadFile(const std::string& path, std::string* out) {
  out->clear();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("no file " + path);
    return Status::Internal("cannot read " + path + ": " + Errno());
  }
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::Internal("cannot read " + path + ": " + Errno());
      close(fd);
      return s;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return Status::OK();
}

Status MakeDirs(const std::string& path, int mode) {
  if (path.empty()) return Status::InvalidArgument("empty directory path");
  for (size_t pos = 1;; ++pos) {
    pos = path.find('/', pos);
    std::string part = path.substr(0, pos);
    if (mkdir(part.c_str(), mode) != 0 && errno != EEXIST)
      return Status::Internal("cannot create directory " + part + ": " + Errno());
    if (pos == std::string::npos) break;
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::Internal(path + " exists and is not a directory");
  return Status::OK();
}

void RemoveTempFiles(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string::npos)
      unlink((dir + "/" + name).c_str());
  }
  closedir(d);
}

Status RestrictTree(const std::string& dir) {
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) return Status::Internal("cannot read " + dir + ": " + Errno());
  if (S_ISLNK(st.st_mode)) return Status::OK();
  bool is_dir = S_ISDIR(st.st_mode);
  mode_t want = is_dir ? 0700 : 0600;
  // Sockets too: nginx makes its unix sockets 0666 whatever the umask.
  if ((is_dir || S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode)) && (st.st_mode & 07777) != want &&
      chmod(dir.c_str(), want) != 0)
    return Status::Internal("cannot make " + dir + " private (chmod): " + Errno());
  if (!is_dir) return Status::OK();
  DIR* d = opendir(dir.c_str());
  if (!d) return Status::Internal("cannot read directory " + dir + ": " + Errno());
  Status result;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    Status s = RestrictTree(dir + "/" + name);
    if (!s.ok() && result.ok()) result = s;
  }
  closedir(d);
  return result;
}

long long NowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

long long MonotonicMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace bim
