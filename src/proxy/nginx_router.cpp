#include "proxy/nginx_router.h"

#include <curl/curl.h>
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "base/failpoint.h"
#include "base/file_util.h"
#include "core/template.h"
#include "core/validate.h"

namespace bim {

namespace {

constexpr const char* kMainTemplate = "nginx.conf.mustache";
constexpr const char* kAppTemplate = "app.conf.mustache";
constexpr const char* kLuaModule = "bim_router.lua";

size_t Collect(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

// Names of regular files in `dir` (no dot files).
std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    closedir(d);
  }
  return names;
}

// Writes `contents` to `path` unless it already holds exactly that; sets *changed when it wrote.
Status WriteIfDifferent(const std::string& path, const std::string& contents, bool* changed) {
  std::string current;
  if (ReadFile(path, &current).ok() && current == contents) return Status::OK();
  *changed = true;
  return WriteFileAtomically(path, contents);
}

std::string RouteLine(const std::string& key, const std::vector<Endpoint>& backends) {
  std::string line = key;
  if (!backends.empty()) line += " " + JoinEndpoints(backends);
  return line + "\n";
}

}  // namespace

NginxRouter::NginxRouter(NginxOptions options, CommandRunner* runner)
    : options_(std::move(options)), process_(options_, runner) {}

Status NginxRouter::RenderMain(std::string* out) const {
  std::string tmpl;
  std::string path = options_.template_dir + "/" + kMainTemplate;
  Status s = ReadFile(path, &tmpl);
  if (!s.ok()) return s.Wrap("nginx main template");
  return RenderTemplate(path, tmpl,
                        {{"prefix", options_.prefix},
                         {"listen", options_.listen},
                         {"modules_dir", options_.modules_dir},
                         {"worker_processes", std::to_string(options_.worker_processes)},
                         {"worker_shutdown_timeout", std::to_string(options_.worker_shutdown_timeout_seconds)},
                         {"routes_dict_size", options_.routes_dict_size},
                         {"inflight_dict_size", options_.inflight_dict_size},
                         {"connect_timeout", std::to_string(options_.connect_timeout_seconds)}},
                        out);
}

Status NginxRouter::RenderSite(const Site& site, std::string* out) const {
  if (Status s = ValidateAppName(site.app); !s.ok()) return s;
  if (site.hosts.empty()) return Status::InvalidArgument("site " + site.app + " has no host names");
  std::string tmpl;
  std::string path = options_.template_dir + "/" + kAppTemplate;
  Status s = ReadFile(path, &tmpl);
  if (!s.ok()) return s.Wrap("nginx app template");
  out->clear();
  for (const VirtualHost& host : site.hosts) {
    if (!host.tls_certificate.empty() || !host.tls_key.empty() || host.redirect_to_https)
      return Status::InvalidArgument("site " + site.app + ": HTTPS virtual hosts are not supported yet");
    if (host.server_names.empty()) return Status::InvalidArgument("site " + site.app + " has a host with no names");
    if (!(s = ValidateRouteKey(host.route)).ok()) return s;
    std::string names;
    for (const auto& name : host.server_names) {
      if (!(s = ValidateDomain(name)).ok()) return s.Wrap("site " + site.app);
      names += (names.empty() ? "" : " ") + name;
    }
    std::string block;
    s = RenderTemplate(path, tmpl,
                       {{"app", site.app}, {"server_names", names}, {"route", host.route}, {"listen", options_.listen}},
                       &block);
    if (!s.ok()) return s;
    *out += block;
  }
  return Status::OK();
}

Status NginxRouter::Control(const std::string& method, const std::string& target, const std::string& body,
                            std::string* answer) const {
  CURL* curl = curl_easy_init();
  if (!curl) return Status::Internal("curl_easy_init failed");
  std::string url = "http://bim-nginx" + target;
  std::string socket = process_.ControlSocket();
  answer->clear();
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.control_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, answer);
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK)
    return Status::Unavailable("nginx's control socket " + socket + " did not answer (" + curl_easy_strerror(rc) +
                               "); is bimd's nginx running?");
  if (status == 404) return Status::NotFound(*answer);
  if (status != 200) return Status::Internal("nginx's control socket answered " + std::to_string(status) + ": " + *answer);
  return Status::OK();
}

Status NginxRouter::WriteIndexLocked() {
  std::string index;
  for (const auto& key : route_keys_) index += key + "\n";
  return WriteFileAtomically(options_.prefix + "/routes/_index", index);
}

Status NginxRouter::PushAllRoutesLocked(const RouteTable& routes) {
  std::string body, answer;
  for (const auto& [key, backends] : routes) body += RouteLine(key, backends);
  return Control("POST", "/routes/replace", body, &answer);
}

Status NginxRouter::Start(const std::vector<Site>& sites, const RouteTable& routes) {
  // Own the config like a batch does, so no site change interleaves with the start.
  std::unique_lock<std::mutex> sites_lock(sites_mu_);
  sites_cv_.wait(sites_lock, [&] { return !applying_; });
  applying_ = true;
  sites_lock.unlock();
  struct Release {
    NginxRouter* r;
    ~Release() {
      std::lock_guard<std::mutex> lock(r->sites_mu_);
      r->applying_ = false;
      r->sites_cv_.notify_all();
    }
  } release{this};
  std::lock_guard<std::mutex> routes_lock(routes_mu_);

  for (const char* sub : {"", "/apps", "/routes", "/logs", "/tmp"}) {
    Status s = MakeDirs(options_.prefix + sub, 0755);
    if (!s.ok()) return s;
  }
  for (const char* sub : {"", "/apps", "/routes"}) RemoveTempFiles(options_.prefix + sub);

  // Validate and render everything before touching a file.
  std::string main_conf, lua, site_conf;
  Status s = RenderMain(&main_conf);
  if (!s.ok()) return s;
  if (!(s = ReadFile(options_.template_dir + "/" + kLuaModule, &lua)).ok()) return s.Wrap("nginx Lua module");
  std::map<std::string, std::string> site_files;
  for (const auto& site : sites) {
    if (!(s = RenderSite(site, &site_conf)).ok()) return s;
    site_files[site.app + ".conf"] = site_conf;
  }
  for (const auto& [key, backends] : routes) {
    if (!(s = ValidateRouteKey(key)).ok()) return s;
    for (const auto& b : backends)
      if (!(s = ValidateEndpoint(b)).ok()) return s.Wrap("route " + key);
  }

  std::string main_path = options_.prefix + "/nginx.conf", lua_path = options_.prefix + "/" + kLuaModule;
  std::string previous_main, previous_lua;
  bool had_main = ReadFile(main_path, &previous_main).ok();
  bool had_lua = ReadFile(lua_path, &previous_lua).ok();
  bool changed = false;
  if (!(s = WriteIfDifferent(main_path, main_conf, &changed)).ok()) return s;
  if (!(s = WriteIfDifferent(lua_path, lua, &changed)).ok()) return s;
  // Site and route files are rewritten from the caller's truth (the database) before nginx reads
  // anything, so a file a crash left half-switched never goes live.
  for (const auto& [name, conf] : site_files)
    if (!(s = WriteIfDifferent(options_.prefix + "/apps/" + name, conf, &changed)).ok()) return s;
  for (const auto& name : ListFiles(options_.prefix + "/apps")) {
    if (name.ends_with(".conf") && !site_files.count(name)) {
      unlink((options_.prefix + "/apps/" + name).c_str());
      changed = true;
    }
  }
  bool routes_changed = false;  // routes are data: pushed below, no reload for them
  for (const auto& [key, backends] : routes)
    if (!(s = WriteIfDifferent(RouteFile(key), JoinEndpoints(backends) + "\n", &routes_changed)).ok()) return s;
  route_keys_.clear();
  for (const auto& [key, backends] : routes) route_keys_.insert(key);
  for (const auto& name : ListFiles(options_.prefix + "/routes"))
    if (name != "_index" && !route_keys_.count(name)) unlink(RouteFile(name).c_str());
  if (!(s = WriteIndexLocked()).ok()) return s;

  int master = process_.MasterPid();
  if (changed || master == 0) {
    s = process_.TestConfig();
    if (!s.ok()) {
      if (had_main) WriteFileAtomically(main_path, previous_main);
      if (had_lua) WriteFileAtomically(lua_path, previous_lua);
      return s;
    }
  }
  bool started = false;
  if (!(s = process_.EnsureRunning(&started)).ok()) return s;
  // A running nginx whose config is already right is left alone: restarting bimd drops nothing.
  if (!started && changed && !(s = process_.Reload()).ok()) return s;
  // The dict of an adopted nginx may lag the files (a crash between writing a route and pushing it).
  return PushAllRoutesLocked(routes);
}

Status NginxRouter::EnsureRunning(bool* restarted) {
  std::lock_guard<std::mutex> routes_lock(routes_mu_);
  return process_.EnsureRunning(restarted);
}

Status NginxRouter::SetRoute(const std::string& route, const std::vector<Endpoint>& backends) {
  Status s = ValidateRouteKey(route);
  if (!s.ok()) return s;
  for (const auto& b : backends)
    if (!(s = ValidateEndpoint(b)).ok()) return s.Wrap("route " + route);
  std::lock_guard<std::mutex> lock(routes_mu_);
  std::string path = RouteFile(route), previous;
  bool had_previous = ReadFile(path, &previous).ok();
  bool new_key = !route_keys_.count(route);
  auto restore = [&] {
    std::string answer;
    if (had_previous) {
      WriteFileAtomically(path, previous);
      Control("POST", "/routes/set", route + " " + previous, &answer);
    } else {
      unlink(path.c_str());
      Control("POST", "/routes/delete", route + "\n", &answer);
    }
    if (new_key) {
      route_keys_.erase(route);
      WriteIndexLocked();
    }
  };
  if (!(s = WriteFileAtomically(path, JoinEndpoints(backends) + "\n")).ok()) return s;
  if (new_key) {
    route_keys_.insert(route);
    if (!(s = WriteIndexLocked()).ok()) {
      restore();
      return s;
    }
  }
  Failpoint("route-written");
  std::string answer;
  s = Control("POST", "/routes/set", RouteLine(route, backends), &answer);
  if (!s.ok()) {
    restore();
    return s.Wrap("switching route " + route);
  }
  return Status::OK();
}

Status NginxRouter::RemoveRoute(const std::string& route) {
  Status s = ValidateRouteKey(route);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(routes_mu_);
  std::string answer;
  // The dict first: once the file is gone too, a restart cannot bring the route back.
  s = Control("POST", "/routes/delete", route + "\n", &answer);
  if (!s.ok() && s.code() != Code::kUnavailable) return s;
  unlink(RouteFile(route).c_str());
  if (route_keys_.erase(route)) return WriteIndexLocked();
  return Status::OK();
}

Status NginxRouter::PutSite(const Site& site) {
  SiteChange change;
  change.app = site.app;
  Status s = RenderSite(site, &change.conf);
  if (!s.ok()) return s;
  std::string current;
  if (ReadFile(SiteFile(site.app), &current).ok() && current == change.conf) return Status::OK();
  return SubmitSiteChange(&change);
}

Status NginxRouter::RemoveSite(const std::string& app) {
  if (Status s = ValidateAppName(app); !s.ok()) return s;
  if (access(SiteFile(app).c_str(), F_OK) != 0) return Status::OK();
  SiteChange change;
  change.app = app;
  change.remove = true;
  return SubmitSiteChange(&change);
}

// Group commit: the first caller to find nobody applying becomes the applier and takes every queued
// change as one batch; callers arriving meanwhile queue up for the next batch.
Status NginxRouter::SubmitSiteChange(SiteChange* change) {
  std::unique_lock<std::mutex> lock(sites_mu_);
  queue_.push_back(change);
  while (!change->done) {
    if (applying_) {
      sites_cv_.wait(lock);
      continue;
    }
    applying_ = true;
    std::vector<SiteChange*> batch;
    batch.swap(queue_);
    lock.unlock();
    ApplyBatch(batch);
    lock.lock();
    for (SiteChange* c : batch) c->done = true;
    applying_ = false;
    sites_cv_.notify_all();
  }
  return change->result;
}

void NginxRouter::WriteSiteChange(SiteChange* change) {
  std::string path = SiteFile(change->app);
  change->had_previous = ReadFile(path, &change->previous).ok();
  if (change->remove) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      change->result = Status::Internal("cannot remove " + path + ": " + std::strerror(errno));
  } else {
    change->result = WriteFileAtomically(path, change->conf);
  }
}

void NginxRouter::RestoreSiteChange(const SiteChange* change) {
  std::string path = SiteFile(change->app);
  if (change->had_previous)
    WriteFileAtomically(path, change->previous);
  else
    unlink(path.c_str());
}

void NginxRouter::ApplyBatch(const std::vector<SiteChange*>& batch) {
  std::vector<SiteChange*> written;
  for (SiteChange* c : batch) {
    WriteSiteChange(c);
    if (c->result.ok()) written.push_back(c);
  }
  if (written.empty()) return;
  Status s = process_.TestConfig();
  if (!s.ok()) {
    for (SiteChange* c : written) RestoreSiteChange(c);
    if (written.size() == 1) {
      written[0]->result = s;
      return;
    }
    // Someone's change is broken: find whose, one at a time, and keep the others.
    std::vector<SiteChange*> good;
    for (SiteChange* c : written) {
      WriteSiteChange(c);
      if (!c->result.ok()) continue;
      if (!(c->result = process_.TestConfig()).ok()) {
        RestoreSiteChange(c);
        continue;
      }
      good.push_back(c);
    }
    written = good;
    if (written.empty()) return;
  }
  s = process_.Reload();
  if (!s.ok()) {
    for (SiteChange* c : written) {
      RestoreSiteChange(c);
      c->result = s;
    }
    // Best effort: make the master re-read the restored files too.
    if (process_.MasterPid() != 0) process_.Reload();
  }
}

Status NginxRouter::InFlight(const std::vector<Endpoint>& backends, std::vector<int64_t>* counts) {
  std::string body, answer;
  for (const auto& b : backends) body += b.ToString() + "\n";
  Status s = Control("POST", "/inflight", body, &answer);
  if (!s.ok()) return s;
  counts->assign(backends.size(), 0);
  std::map<std::string, int64_t> by_id;
  std::istringstream in(answer);
  std::string id;
  int64_t n = 0;
  while (in >> id >> n) by_id[id] = n;
  for (size_t i = 0; i < backends.size(); ++i) (*counts)[i] = by_id[backends[i].ToString()];
  return Status::OK();
}

Status NginxRouter::GetRoute(const std::string& route, std::vector<Endpoint>* backends) {
  Status s = ValidateRouteKey(route);
  if (!s.ok()) return s;
  std::string answer;
  backends->clear();
  s = Control("GET", "/routes/get?key=" + route, "", &answer);
  if (s.IsNotFound()) return Status::OK();
  if (!s.ok()) return s;
  std::istringstream in(answer);
  std::string word;
  while (in >> word) {
    Endpoint e;
    if (!(s = ParseEndpoint(word, &e)).ok()) return s.Wrap("nginx's route " + route);
    backends->push_back(e);
  }
  return Status::OK();
}

Status NginxRouter::Stop() {
  std::lock_guard<std::mutex> lock(routes_mu_);
  return process_.Stop();
}

}  // namespace bim
