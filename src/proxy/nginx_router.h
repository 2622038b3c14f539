// NginxRouter: the Router on bimd's own nginx, with routing as data. nginx's config holds one server
// for all apps (app.conf.mustache, rendered once) and a Lua module (bim_router.lua) that reads three
// shared dicts: host -> route key (the sites), route key -> backends (the routes), and in-flight
// counts per backend. Deploys, new apps and new domains are writes to those dicts through a control
// endpoint, so nothing reloads nginx except a change of its templates, and a change costs the same
// with 10 apps or 50,000.
//
// Why data and not one server block per app: Debian's Lua module (0.10.23) builds an OpenSSL context
// for every location it merges, so with it loaded each server block costs about 2 ms and 30 KB to
// load (measured: 2,000 server blocks 4.7 s / 103 MB with the module, 0.8 s / 45 MB without), and a
// reload re-reads them all. And why Lua rather than a kernel switch (iptables/nftables DNAT in front
// of stable per-app ports, as kube-proxy does): it keeps nginx's view of every request (in-flight
// counts for the drain, retries on another backend, access logs with the real backend), needs no
// privileges or kernel state beyond nginx itself, and is cleaned up with nginx's prefix.
//
// Files under options.prefix:
//   nginx.conf          rendered from <template_dir>/nginx.conf.mustache
//   apps.conf           rendered from <template_dir>/app.conf.mustache (the server every app uses)
//   bim_router.lua      copied from <template_dir>/bim_router.lua
//   sites/<app>         "host route" lines: the app's host names and the route each uses
//                       ("host route cert.pem key.pem flags" for names served over HTTPS)
//   tls/fallback.{crt,key}  with HTTPS: the self-signed certificate for handshakes naming no known host
//   routes/<key>        "host:port host:port": the backends of a route
//   sites/_index, routes/_index   the keys of each table, one a line (rewritten when a key comes or goes)
//   control.sock        the control endpoint (unix socket; the data dir is 0700)
//   nginx.pid, logs/, tmp/
//
// A change writes its file first (atomically, not fsynced: Start rebuilds every file from the
// database after a reboot), then sets the dict through the control socket; nginx fills the dicts from
// the files whenever it starts (init_by_lua), so it serves the last routes before its first request.
//
// Thread-safety: all methods may be called from any thread; changes are serialised by one mutex (each
// is O(1): a small file and one request on the control socket).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/command_runner.h"
#include "proxy/nginx_process.h"
#include "proxy/router.h"

namespace bim {

class NginxRouter : public Router {
 public:
  // `runner` (used for `nginx -t` and starting nginx) must outlive this object.
  NginxRouter(NginxOptions options, CommandRunner* runner);

  // Renders the templates; if they changed, checks them with `nginx -t` and reloads (confirmed). A
  // config nginx rejects is put back to what it was and the error names nginx's message (the running
  // nginx keeps serving the previous config).
  Status Start(const std::vector<Site>& sites, const RouteTable& routes) override;
  Status SetRoute(const std::string& route, const std::vector<Endpoint>& backends) override;
  Status RemoveRoute(const std::string& route) override;
  // Data like a route: no reload. Host names are matched case-insensitively (stored lower-case).
  // Conflict if a name already belongs to another app's site. HTTPS hosts (certificate and key set)
  // need an HTTPS listener; their PEM files are read here (a missing one changes nothing) and put in
  // nginx's certificate table before any host names them, and dropped from it once none does.
  // Certificate files are never rewritten in place: a new certificate is new paths.
  Status PutSite(const Site& site) override;
  Status RemoveSite(const std::string& app) override;
  Status InFlight(const std::vector<Endpoint>& backends, std::vector<int64_t>* counts) override;
  Status GetRoute(const std::string& route, std::vector<Endpoint>* backends) override;
  Status Stop() override;

  // If nginx's master is gone (killed), starts a new one from the files on disk, taking over from
  // orphaned workers if there are any; *restarted says whether it had to. OK at once while it runs.
  Status EnsureRunning(bool* restarted);

  NginxProcess& process() { return process_; }
  const NginxOptions& options() const { return options_; }
  std::string SiteFile(const std::string& app) const { return options_.prefix + "/sites/" + app; }
  std::string RouteFile(const std::string& route) const { return options_.prefix + "/routes/" + route; }

 private:
  // One of the two tables (sites, routes): a file per key plus an index, mirrored into a dict.
  struct Table {
    std::string dir;                    // <prefix>/sites or <prefix>/routes
    std::string dict;                   // the control path prefix: "/hosts" or "/routes"
    std::set<std::string> keys;         // what <dir>/_index lists
  };
  Status RenderConfig(std::map<std::string, std::string>* files) const;
  Status RenderSite(const Site& site, std::vector<std::pair<std::string, std::string>>* hosts) const;
  // ":8443" when HTTPS is served on a port other than 443, else "".
  std::string HttpsPortSuffix() const;
  // With HTTPS on: a self-signed certificate in <prefix>/tls for handshakes naming no known host
  // (nginx needs one per TLS server; each app's own comes from the host table, see bim_router.lua).
  Status EnsureFallbackCertificate() const;
  Status WriteIndex(const Table& table);
  // Writes `table`'s file for `key` (or removes it when `value` is null), keeping the index in step.
  // *undo restores both.
  Status PutFile(Table* table, const std::string& key, const std::string* value, std::function<void()>* undo);
  Status ResetTable(Table* table, const std::map<std::string, std::string>& contents);
  Status Control(const std::string& method, const std::string& target, const std::string& body,
                 std::string* answer) const;
  Status Push(const std::string& path, const std::string& body) const;

  const NginxOptions options_;
  NginxProcess process_;

  std::mutex mu_;
  Table sites_, routes_;
  std::map<std::string, std::string> host_owner_;  // host name -> app, for the sites in sites_
};

}  // namespace bim
