#include "proxy/nginx_router.h"

#include <curl/curl.h>
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <functional>
#include <sstream>

#include "base/failpoint.h"
#include "base/certificate.h"
#include "base/file_util.h"
#include "core/template.h"
#include "core/validate.h"

namespace bim {

namespace {

constexpr const char* kMainTemplate = "nginx.conf.mustache";
constexpr const char* kAppTemplate = "app.conf.mustache";
constexpr const char* kLuaModule = "bim_router.lua";
constexpr const char* kIndex = "_index";

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
Status WriteIfDifferent(const std::string& path, const std::string& contents, bool sync, bool* changed) {
  std::string current;
  if (ReadFile(path, &current).ok() && current == contents) return Status::OK();
  *changed = true;
  return WriteFileAtomically(path, contents, 0600, sync);
}

// A site file's "host route" lines.
std::vector<std::pair<std::string, std::string>> ParseSite(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> hosts;
  // "host value..." per line; the value is the route key, then TLS files and flags for HTTPS hosts.
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t space = line.find(' ');
    if (space == std::string::npos || space == 0) continue;
    hosts.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return hosts;
}

std::string SiteText(const std::vector<std::pair<std::string, std::string>>& hosts) {
  std::string text;
  for (const auto& [host, route] : hosts) text += host + " " + route + "\n";
  return text;
}

// The certificate and key paths named by HTTPS hosts' values ("route cert key flags").
std::set<std::string> CertPaths(const std::vector<std::pair<std::string, std::string>>& hosts) {
  std::set<std::string> paths;
  for (const auto& [host, value] : hosts) {
    std::istringstream in(value);
    std::string route, cert, key;
    if (in >> route >> cert >> key) paths.insert({cert, key});
  }
  return paths;
}

bool SafePath(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.find("/../") != std::string::npos) return false;
  return std::all_of(path.begin(), path.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '/' || c == '.' || c == '_' || c == '-' || c == '+';
  });
}

std::string RouteLine(const std::string& key, const std::vector<Endpoint>& backends) {
  std::string line = key;
  if (!backends.empty()) line += " " + JoinEndpoints(backends);
  return line + "\n";
}

}  // namespace

std::string NginxRouter::HttpsPortSuffix() const {
  size_t colon = options_.https_listen.rfind(':');
  std::string port = colon == std::string::npos ? "443" : options_.https_listen.substr(colon + 1);
  return port == "443" ? "" : ":" + port;
}

Status NginxRouter::EnsureFallbackCertificate() const {
  if (options_.https_listen.empty()) return Status::OK();
  std::string dir = options_.prefix + "/tls";
  if (access((dir + "/fallback.crt").c_str(), R_OK) == 0 && access((dir + "/fallback.key").c_str(), R_OK) == 0)
    return Status::OK();
  std::string cert, key;
  Status s = MakeSelfSignedCertificate("bim-no-certificate.invalid", &cert, &key);
  if (!s.ok()) return s;
  if (!(s = MakeDirs(dir, 0700)).ok()) return s;
  if (!(s = WriteFileAtomically(dir + "/fallback.key", key, 0600)).ok()) return s;
  return WriteFileAtomically(dir + "/fallback.crt", cert, 0600);
}

NginxRouter::NginxRouter(NginxOptions options, CommandRunner* runner)
    : options_(std::move(options)), process_(options_, runner) {
  sites_.dir = options_.prefix + "/sites";
  sites_.dict = "/hosts";
  routes_.dir = options_.prefix + "/routes";
  routes_.dict = "/routes";
}

Status NginxRouter::RenderConfig(std::map<std::string, std::string>* files) const {
  TemplateVars vars = {{"prefix", options_.prefix},
                       {"listen", options_.listen},
                       {"modules_dir", options_.modules_dir},
                       {"worker_processes", std::to_string(options_.worker_processes)},
                       {"worker_shutdown_timeout", std::to_string(options_.worker_shutdown_timeout_seconds)},
                       {"hosts_dict_size", options_.hosts_dict_size},
                       {"routes_dict_size", options_.routes_dict_size},
                       {"inflight_dict_size", options_.inflight_dict_size},
                       {"certs_dict_size", options_.certs_dict_size},
                       {"connect_timeout", std::to_string(options_.connect_timeout_seconds)},
                       {"https_listen", options_.https_listen},
                       {"https_port_suffix", HttpsPortSuffix()},
                       {"fallback_certificate", options_.prefix + "/tls/fallback.crt"},
                       {"fallback_key", options_.prefix + "/tls/fallback.key"},
                       {"acme_challenge", options_.acme_challenge}};
  TemplateFlags flags = {{"https", !options_.https_listen.empty()}, {"acme", !options_.acme_challenge.empty()}};
  for (const auto& [name, tmpl_name] : {std::pair<std::string, std::string>{"nginx.conf", kMainTemplate},
                                        std::pair<std::string, std::string>{"apps.conf", kAppTemplate}}) {
    std::string tmpl, path = options_.template_dir + "/" + tmpl_name;
    Status s = ReadFile(path, &tmpl);
    if (!s.ok()) return s.Wrap("nginx template");
    if (!(s = RenderTemplate(path, tmpl, vars, flags, &(*files)[name])).ok()) return s;
  }
  Status s = ReadFile(options_.template_dir + "/" + kLuaModule, &(*files)[kLuaModule]);
  return s.ok() ? s : s.Wrap("nginx Lua module");
}

Status NginxRouter::RenderSite(const Site& site, std::vector<std::pair<std::string, std::string>>* hosts) const {
  if (Status s = ValidateAppName(site.app); !s.ok()) return s;
  if (site.hosts.empty()) return Status::InvalidArgument("site " + site.app + " has no host names");
  hosts->clear();
  std::set<std::string> seen;
  for (const VirtualHost& host : site.hosts) {
    bool tls = !host.tls_certificate.empty() || !host.tls_key.empty();
    if (tls && (host.tls_certificate.empty() || host.tls_key.empty()))
      return Status::InvalidArgument("site " + site.app + ": a TLS host needs both a certificate and a key");
    if (tls && options_.https_listen.empty())
      return Status::InvalidArgument("site " + site.app + " has a certificate but nginx has no HTTPS listener (start bimd with --https-listen)");
    if ((host.redirect_to_https || host.hsts) && !tls)
      return Status::InvalidArgument("site " + site.app + ": HTTPS redirects and HSTS need a certificate");
    for (const std::string& file : {host.tls_certificate, host.tls_key})
      if (!file.empty() && !SafePath(file))
        return Status::InvalidArgument("site " + site.app + ": TLS file " + file +
                                       " must be an absolute path of letters, digits and . _ - + /");
    // The host table's value: the route key, then (HTTPS hosts) certificate, key and flags
    // (r = redirect plain HTTP, h = HSTS, - = neither), read by bim_router.lua.
    std::string value = host.route;
    if (tls) {
      std::string f = std::string(host.redirect_to_https ? "r" : "") + (host.hsts ? "h" : "");
      value += " " + host.tls_certificate + " " + host.tls_key + " " + (f.empty() ? "-" : f);
    }
    if (host.server_names.empty()) return Status::InvalidArgument("site " + site.app + " has a host with no names");
    if (Status s = ValidateRouteKey(host.route); !s.ok()) return s;
    for (std::string name : host.server_names) {
      if (Status s = ValidateDomain(name); !s.ok()) return s.Wrap("site " + site.app);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!seen.insert(name).second)
        return Status::InvalidArgument("site " + site.app + " lists the host name " + name + " twice");
      hosts->emplace_back(name, value);
    }
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

Status NginxRouter::Push(const std::string& path, const std::string& body) const {
  std::string answer;
  return Control("POST", path, body, &answer);
}

Status NginxRouter::WriteIndex(const Table& table) {
  std::string index;
  for (const auto& key : table.keys) index += key + "\n";
  return WriteFileAtomically(table.dir + "/" + kIndex, index, 0600, false);
}

Status NginxRouter::PutFile(Table* table, const std::string& key, const std::string* value,
                            std::function<void()>* undo) {
  std::string path = table->dir + "/" + key, previous;
  bool had_file = ReadFile(path, &previous).ok();
  bool had_key = table->keys.count(key) > 0;
  *undo = [this, table, key, path, previous, had_file, had_key] {
    if (had_file)
      WriteFileAtomically(path, previous, 0600, false);
    else
      unlink(path.c_str());
    if (had_key != (table->keys.count(key) > 0)) {
      if (had_key)
        table->keys.insert(key);
      else
        table->keys.erase(key);
      WriteIndex(*table);
    }
  };
  Status s;
  if (value) {
    if (!(s = WriteFileAtomically(path, *value, 0600, false)).ok()) return s;
    if (!had_key) {
      table->keys.insert(key);
      s = WriteIndex(*table);
    }
  } else {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return Status::Internal("cannot remove " + path + ": " + std::strerror(errno));
    if (had_key) {
      table->keys.erase(key);
      s = WriteIndex(*table);
    }
  }
  if (!s.ok()) (*undo)();
  return s;
}

Status NginxRouter::ResetTable(Table* table, const std::map<std::string, std::string>& contents) {
  bool changed = false;
  for (const auto& [key, text] : contents)
    if (Status s = WriteIfDifferent(table->dir + "/" + key, text, false, &changed); !s.ok()) return s;
  for (const auto& name : ListFiles(table->dir))
    if (name != kIndex && !contents.count(name)) unlink((table->dir + "/" + name).c_str());
  table->keys.clear();
  for (const auto& [key, text] : contents) table->keys.insert(key);
  return WriteIndex(*table);
}

Status NginxRouter::Start(const std::vector<Site>& sites, const RouteTable& routes) {
  if (Status s = EnsureFallbackCertificate(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  for (const char* sub : {"", "/sites", "/routes", "/logs", "/tmp"}) {
    Status s = MakeDirs(options_.prefix + sub, 0755);
    if (!s.ok()) return s;
  }
  for (const char* sub : {"", "/sites", "/routes"}) RemoveTempFiles(options_.prefix + sub);

  // Validate and render everything before touching a file.
  std::map<std::string, std::string> config, site_files, route_files;
  Status s = RenderConfig(&config);
  if (!s.ok()) return s;
  std::map<std::string, std::string> owners;
  std::string host_lines, route_lines;
  for (const auto& site : sites) {
    std::vector<std::pair<std::string, std::string>> hosts;
    if (!(s = RenderSite(site, &hosts)).ok()) return s;
    for (const auto& [host, route] : hosts) {
      if (auto it = owners.find(host); it != owners.end() && it->second != site.app)
        return Status::Conflict("host name " + host + " belongs to both " + it->second + " and " + site.app);
      owners[host] = site.app;
      host_lines += host + " " + route + "\n";
    }
    site_files[site.app] = SiteText(hosts);
  }
  for (const auto& [key, backends] : routes) {
    if (!(s = ValidateRouteKey(key)).ok()) return s;
    for (const auto& b : backends)
      if (!(s = ValidateEndpoint(b)).ok()) return s.Wrap("route " + key);
    route_files[key] = JoinEndpoints(backends) + "\n";
    route_lines += RouteLine(key, backends);
  }

  // The config: only templates decide it, so it changes only when they do.
  std::map<std::string, std::pair<bool, std::string>> previous;  // file -> (existed, contents)
  bool changed = false;
  for (const auto& [name, text] : config) {
    std::string path = options_.prefix + "/" + name, old;
    bool existed = ReadFile(path, &old).ok();
    previous[name] = {existed, old};
    if (!(s = WriteIfDifferent(path, text, true, &changed)).ok()) return s;
  }
  // The one-server-block-per-app layout of earlier versions goes.
  for (const auto& name : ListFiles(options_.prefix + "/apps")) unlink((options_.prefix + "/apps/" + name).c_str());
  rmdir((options_.prefix + "/apps").c_str());

  // The data is rewritten from the caller's truth (the database) before nginx reads anything, so a
  // file a crash left half-switched never goes live.
  if (!(s = ResetTable(&sites_, site_files)).ok()) return s;
  if (!(s = ResetTable(&routes_, route_files)).ok()) return s;
  host_owner_ = owners;

  int master = process_.MasterPid();
  if (changed || master == 0) {
    if (!(s = process_.TestConfig()).ok()) {
      for (const auto& [name, old] : previous) {
        std::string path = options_.prefix + "/" + name;
        if (old.first)
          WriteFileAtomically(path, old.second);
        else
          unlink(path.c_str());
      }
      return s;
    }
  }
  bool started = false;
  if (!(s = process_.EnsureRunning(&started)).ok()) return s;
  // A running nginx whose config is already right is left alone: restarting bimd drops nothing.
  if (!started && changed && !(s = process_.Reload()).ok()) return s;
  // The dicts of an adopted nginx may lag the files (a crash between writing a file and pushing it).
  if (!options_.https_listen.empty()) {
    std::set<std::string> paths;
    for (const auto& [app, text] : site_files)
      for (const auto& p : CertPaths(ParseSite(text))) paths.insert(p);
    std::string keep;
    for (const auto& path : paths) {
      keep += path + "\n";
      std::string pem;
      // A certificate that went missing must not keep every app offline: its names get the
      // fallback certificate until bimd puts a new one.
      if (!ReadFile(path, &pem).ok()) {
        std::fprintf(stderr, "bimd: warning: certificate file %s is missing\n", path.c_str());
        continue;
      }
      if (!(s = Push("/certs/set?path=" + path, pem)).ok()) return s;
    }
    if (!(s = Push("/certs/retain", keep)).ok()) return s;
  }
  if (!(s = Push("/hosts/replace", host_lines)).ok()) return s;
  return Push("/routes/replace", route_lines);
}

Status NginxRouter::EnsureRunning(bool* restarted) {
  std::lock_guard<std::mutex> lock(mu_);
  return process_.EnsureRunning(restarted);
}

Status NginxRouter::SetRoute(const std::string& route, const std::vector<Endpoint>& backends) {
  Status s = ValidateRouteKey(route);
  if (!s.ok()) return s;
  for (const auto& b : backends)
    if (!(s = ValidateEndpoint(b)).ok()) return s.Wrap("route " + route);
  std::lock_guard<std::mutex> lock(mu_);
  std::string previous;
  bool had_previous = ReadFile(RouteFile(route), &previous).ok();
  std::string text = JoinEndpoints(backends) + "\n";
  std::function<void()> undo;
  if (!(s = PutFile(&routes_, route, &text, &undo)).ok()) return s;
  Failpoint("route-written");
  if (!(s = Push("/routes/set", RouteLine(route, backends))).ok()) {
    undo();
    // Best effort: nginx may have applied it before the answer was lost.
    if (had_previous)
      Push("/routes/set", route + " " + previous);
    else
      Push("/routes/delete", route + "\n");
    return s.Wrap("switching route " + route);
  }
  return Status::OK();
}

Status NginxRouter::RemoveRoute(const std::string& route) {
  Status s = ValidateRouteKey(route);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  // nginx first: once the file is gone too, a restart cannot bring the route back. If nginx is down,
  // removing the file is enough (it reads the files when it starts).
  s = Push("/routes/delete", route + "\n");
  if (!s.ok() && s.code() != Code::kUnavailable) return s;
  std::function<void()> undo;
  return PutFile(&routes_, route, nullptr, &undo);
}

Status NginxRouter::PutSite(const Site& site) {
  std::vector<std::pair<std::string, std::string>> hosts;
  Status s = RenderSite(site, &hosts);
  if (!s.ok()) return s;
  std::string text = SiteText(hosts);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [host, route] : hosts)
    if (auto it = host_owner_.find(host); it != host_owner_.end() && it->second != site.app)
      return Status::Conflict("host name " + host + " already belongs to app " + it->second +
                              " (remove it there first)");
  std::string previous_text;
  ReadFile(SiteFile(site.app), &previous_text);
  if (previous_text == text && sites_.keys.count(site.app)) return Status::OK();
  // Certificates first: read (a missing file changes nothing), then in nginx before a host names them.
  std::set<std::string> paths = CertPaths(hosts), old_paths = CertPaths(ParseSite(previous_text));
  std::vector<std::pair<std::string, std::string>> pems;
  for (const auto& path : paths) {
    if (old_paths.count(path)) continue;
    std::string pem;
    if (!(s = ReadFile(path, &pem)).ok()) return s.Wrap("site " + site.app + ": TLS file");
    pems.emplace_back(path, std::move(pem));
  }
  for (const auto& [path, pem] : pems)
    if (!(s = Push("/certs/set?path=" + path, pem)).ok()) return s.Wrap("loading the certificate of " + site.app);
  std::string unused_paths;
  for (const auto& path : old_paths)
    if (!paths.count(path)) unused_paths += path + "\n";
  std::set<std::string> gone;
  for (const auto& [host, route] : ParseSite(previous_text)) gone.insert(host);
  std::string set_lines, delete_lines;
  for (const auto& [host, route] : hosts) {
    gone.erase(host);
    set_lines += host + " " + route + "\n";
  }
  for (const auto& host : gone) delete_lines += host + "\n";

  std::function<void()> undo;
  if (!(s = PutFile(&sites_, site.app, &text, &undo)).ok()) return s;
  s = Push("/hosts/set", set_lines);
  if (s.ok() && !delete_lines.empty()) s = Push("/hosts/delete", delete_lines);
  if (!s.ok()) {
    undo();
    // Best effort: put nginx back as it was too.
    std::string added;
    for (const auto& [host, route] : hosts)
      if (previous_text.find(host + " ") == std::string::npos) added += host + "\n";
    if (!added.empty()) Push("/hosts/delete", added);
    if (!previous_text.empty()) Push("/hosts/set", previous_text);
    std::string loaded;
    for (const auto& [path, pem] : pems) loaded += path + "\n";
    if (!loaded.empty()) Push("/certs/delete", loaded);
    return s.Wrap("routing the host names of " + site.app);
  }
  // Best effort: a certificate no host names any more only costs memory until the next Start.
  if (!unused_paths.empty()) Push("/certs/delete", unused_paths);
  for (const auto& host : gone) host_owner_.erase(host);
  for (const auto& [host, route] : hosts) host_owner_[host] = site.app;
  return Status::OK();
}

Status NginxRouter::RemoveSite(const std::string& app) {
  if (Status s = ValidateAppName(app); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  std::string previous_text;
  if (!ReadFile(SiteFile(app), &previous_text).ok() && !sites_.keys.count(app)) return Status::OK();
  std::string delete_lines;
  for (const auto& [host, route] : ParseSite(previous_text)) delete_lines += host + "\n";
  // nginx first, so the names stop reaching the app before anything else goes.
  Status s = Push("/hosts/delete", delete_lines);
  if (!s.ok() && s.code() != Code::kUnavailable) return s;
  std::function<void()> undo;
  if (!(s = PutFile(&sites_, app, nullptr, &undo)).ok()) return s;
  std::string unused_paths;
  for (const auto& path : CertPaths(ParseSite(previous_text))) unused_paths += path + "\n";
  if (!unused_paths.empty() && !options_.https_listen.empty()) Push("/certs/delete", unused_paths);
  for (const auto& [host, route] : ParseSite(previous_text))
    if (auto it = host_owner_.find(host); it != host_owner_.end() && it->second == app) host_owner_.erase(it);
  return Status::OK();
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
  std::lock_guard<std::mutex> lock(mu_);
  return process_.Stop();
}

}  // namespace bim
