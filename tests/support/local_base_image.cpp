#include "support/local_base_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "docker/engine_http.h"
#include "support/bimd_harness.h"

namespace bim::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kSocket[] = "/var/run/docker.sock";

long long NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(0, 1);
  return s;
}

struct Installed {
  std::map<std::string, std::string> list_name;           // package -> its dpkg .list file name stem
  std::map<std::string, std::vector<std::vector<std::string>>> depends;  // package -> alternatives
  std::map<std::string, std::string> provided_by;         // virtual name -> an installed package
};

// One dpkg-query call gives every installed package with its dependencies.
bool ReadInstalled(Installed* db, std::string* error) {
  CommandResult r = RunProcess(
      {"/usr/bin/dpkg-query", "-W", "-f=${Package}\t${binary:Package}\t${db:Status-Status}\t${Provides}\t${Depends}, ${Pre-Depends}\n"});
  if (r.exit_code != 0) {
    *error = "dpkg-query failed: " + r.err;
    return false;
  }
  auto names = [](const std::string& field) {  // "a (>= 1) | b:any" -> {"a", "b"}
    std::vector<std::string> out;
    std::stringstream ss(field);
    for (std::string alt; std::getline(ss, alt, '|');) {
      alt = Trim(alt.substr(0, alt.find('(')));
      alt = alt.substr(0, alt.find(':'));
      if (!alt.empty()) out.push_back(alt);
    }
    return out;
  };
  std::stringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string part; std::getline(ls, part, '\t');) f.push_back(part);
    if (f.size() < 5 || f[2] != "installed") continue;
    db->list_name[f[0]] = f[1];
    std::stringstream provides(f[3]);
    for (std::string p; std::getline(provides, p, ',');)
      for (const auto& n : names(p)) db->provided_by.emplace(n, f[0]);
    std::stringstream deps(f[4]);
    for (std::string d; std::getline(deps, d, ',');)
      if (auto alts = names(d); !alts.empty()) db->depends[f[0]].push_back(alts);
  }
  return true;
}

bool Skipped(const std::string& path) {
  for (const char* prefix : {"/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/locale",
                             "/usr/share/lintian", "/usr/share/bug", "/usr/share/doc-base"})
    if (path.rfind(prefix, 0) == 0) return true;
  return false;
}

class TarWriter {
 public:
  explicit TarWriter(const std::string& path) : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_);
    ok_ = archive_write_open_filename(a_, path.c_str()) == ARCHIVE_OK;
  }
  ~TarWriter() { archive_write_free(a_); }
  bool ok() const { return ok_; }
  std::string error() const { return archive_error_string(a_) ? archive_error_string(a_) : "tar write failed"; }

  void Dir(const std::string& rel, int mode) {
    if (rel.empty() || !dirs_.insert(rel).second) return;
    Parents(rel);
    if (!Unique(rel)) return;
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, rel.c_str());
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, mode);
    ok_ = ok_ && archive_write_header(a_, e) == ARCHIVE_OK;
    archive_entry_free(e);
  }
  void Symlink(const std::string& rel, const std::string& target) {
    Parents(rel);
    if (!Unique(rel)) return;
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, rel.c_str());
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_set_perm(e, 0777);
    archive_entry_set_symlink(e, target.c_str());
    ok_ = ok_ && archive_write_header(a_, e) == ARCHIVE_OK;
    archive_entry_free(e);
  }
  // Adds the host file `path` as `rel`; returns its size.
  long long File(const std::string& path, const std::string& rel, const struct stat& st) {
    Parents(rel);
    if (!Unique(rel)) return 0;
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, rel.c_str());
    archive_entry_copy_stat(e, &st);
    archive_entry_set_nlink(e, 1);
    ok_ = ok_ && archive_write_header(a_, e) == ARCHIVE_OK;
    archive_entry_free(e);
    std::ifstream in(path, std::ios::binary);
    char buf[1 << 16];
    while (ok_ && in) {
      in.read(buf, sizeof buf);
      if (in.gcount() > 0) ok_ = archive_write_data(a_, buf, static_cast<size_t>(in.gcount())) >= 0;
    }
    return st.st_size;
  }
  bool Close() { return ok_ && archive_write_close(a_) == ARCHIVE_OK; }

 private:
  void Parents(const std::string& rel) {
    size_t slash = rel.rfind('/');
    if (slash != std::string::npos) Dir(rel.substr(0, slash), 0755);
  }
  // Docker refuses a tar naming a path twice; a path can be met twice (the /bin symlink is both added
  // up front and owned by a package), so only the first is kept.
  bool Unique(const std::string& rel) { return names_.insert(rel).second; }
  archive* a_;
  bool ok_ = false;
  std::set<std::string> dirs_, names_;
};

// The path with its directory part resolved (so /lib/x/libc.so.6 becomes /usr/lib/x/libc.so.6 on a
// merged-/usr host) but the last component kept, so symlinks stay symlinks. "" if it does not exist.
std::string RealLocation(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  fs::path parent = fs::canonical(p.parent_path(), ec);
  if (ec) return "";
  std::string out = (parent / p.filename()).string();
  struct stat st;
  return lstat(out.c_str(), &st) == 0 ? out : "";
}

}  // namespace

bool MakeLocalBaseImage(const std::vector<std::string>& packages, const std::string& tag, const std::string& label_key,
                        const std::string& label_value, BaseImageStats* stats, std::string* error) {
  long long t0 = NowMs();
  Installed db;
  if (!ReadInstalled(&db, error)) return false;
  std::set<std::string> closure;
  std::vector<std::string> todo;
  for (const auto& p : packages) {
    if (!db.list_name.count(p)) {
      *error = "package " + p + " is not installed (apt-get install " + p + ")";
      return false;
    }
    todo.push_back(p);
  }
  while (!todo.empty()) {
    std::string p = todo.back();
    todo.pop_back();
    if (!closure.insert(p).second) continue;
    for (const auto& alts : db.depends[p]) {
      for (const auto& alt : alts) {
        std::string real = db.list_name.count(alt) ? alt : db.provided_by.count(alt) ? db.provided_by[alt] : "";
        if (real.empty()) continue;
        todo.push_back(real);
        break;
      }
    }
  }
  stats->packages = static_cast<int>(closure.size());

  // Every file the packages own, with the symlinks' targets (e.g. /etc/alternatives entries) added.
  std::set<std::string> paths;
  std::vector<std::string> pending;
  for (const auto& p : closure) {
    std::ifstream list("/var/lib/dpkg/info/" + db.list_name[p] + ".list");
    if (!list) list.open("/var/lib/dpkg/info/" + p + ".list");
    for (std::string line; std::getline(list, line);) pending.push_back(line);
  }
  std::string tar_path = (fs::temp_directory_path() / ("bim-base-" + UniqueSuffix() + ".tar")).string();
  struct Cleanup {
    std::string path;
    ~Cleanup() { unlink(path.c_str()); }
  } cleanup{tar_path};
  TarWriter tar(tar_path);
  if (!tar.ok()) {
    *error = "cannot write " + tar_path + ": " + tar.error();
    return false;
  }
  for (const char* top : {"/bin", "/lib", "/lib64", "/sbin"}) {
    std::error_code ec;
    if (fs::is_symlink(top, ec)) tar.Symlink(top + 1, fs::read_symlink(top, ec).string());
  }
  tar.Dir("tmp", 01777);
  while (!pending.empty()) {
    std::string path = pending.back();
    pending.pop_back();
    if (path.empty() || path == "/." || Skipped(path)) continue;
    std::string real = RealLocation(path);
    if (real.empty() || Skipped(real) || !paths.insert(real).second) continue;
    struct stat st;
    if (lstat(real.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      fs::path target = fs::read_symlink(real, ec);
      if (ec) continue;
      tar.Symlink(real.substr(1), target.string());
      pending.push_back((target.is_absolute() ? target : fs::path(real).parent_path() / target).string());
    } else if (S_ISREG(st.st_mode)) {
      stats->bytes += tar.File(real, real.substr(1), st);
      ++stats->files;
    }
  }
  if (!tar.Close()) {
    *error = "cannot write " + tar_path + ": " + tar.error();
    return false;
  }
  stats->tar_ms = NowMs() - t0;

  long long t1 = NowMs();
  size_t colon = tag.rfind(':');
  engine::Request request;
  request.method = "POST";
  request.target = "/images/create?fromSrc=-&repo=" + engine::QueryEscape(tag.substr(0, colon)) +
                   "&tag=" + engine::QueryEscape(colon == std::string::npos ? "latest" : tag.substr(colon + 1)) +
                   "&changes=" + engine::QueryEscape("LABEL " + label_key + "=" + label_value) +
                   "&changes=" + engine::QueryEscape("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  request.body_file = tar_path;
  request.content_type = "application/x-tar";
  request.timeout_seconds = 600;
  engine::Response response;
  Status s = engine::Perform(kSocket, request, &response);
  stats->import_ms = NowMs() - t1;
  if (!s.ok() || response.status >= 400 || response.body.find("\"error") != std::string::npos) {
    *error = "docker import " + tag + ": " + (s.ok() ? response.body : s.message());
    return false;
  }
  return true;
}

std::string EngineGet(const std::string& target) {
  engine::Request request;
  request.target = target;
  engine::Response response;
  Status s = engine::Perform(kSocket, request, &response);
  return s.ok() && response.status < 400 ? response.body : "";
}

int RemoveLabelledImages(const std::string& label_key, const std::string& label_value) {
  std::string target = "/images/json?all=1&filters=" +
                       engine::QueryEscape(json{{"label", {label_key + "=" + label_value}}}.dump());
  size_t left = 0;
  for (int pass = 0; pass < 20; ++pass) {
    json images = json::parse(EngineGet(target), nullptr, false);
    if (!images.is_array()) return -1;  // could not even list them: never report "nothing left"
    left = images.size();
    if (left == 0) return 0;
    // Children must go before their parents; a parent refuses (409) until then, so go round again.
    for (const auto& image : images) {
      engine::Request request;
      request.method = "DELETE";
      request.target = "/images/" + engine::PathEscape(image.value("Id", "")) + "?force=1";
      engine::Response response;
      (void)engine::Perform(kSocket, request, &response);
    }
  }
  return static_cast<int>(left);
}

}  // namespace bim::testing
