// NginxRouter: the Router on bimd's own nginx, with routes in a Lua shared dict (bim_router.lua) so a
// route switch is a write to shared memory instead of a reload. Why this and not a kernel-level switch
// (iptables/nftables DNAT in front of stable per-app ports, as kube-proxy does): it keeps nginx's view
// of every request (in-flight counts per backend for the drain, retries on another backend, access
// logs with the real backend), needs no privileges or kernel state beyond nginx itself, and cleans up
// with nginx's prefix. README "Performance" has the figures.
//
// Files under options.prefix:
//   nginx.conf          rendered from <template_dir>/nginx.conf.mustache
//   bim_router.lua      copied from <template_dir>/bim_router.lua
//   apps/<app>.conf     one per site, app.conf.mustache rendered once per virtual host
//   routes/<key>        one per route: "host:port host:port" (what the route points at)
//   routes/_index       the route keys, one a line (rewritten only when a key is added or removed)
//   control.sock        the control endpoint (unix socket; the data dir is 0700)
//   nginx.pid, logs/, tmp/
//
// A route change writes routes/<key> atomically, then sets the dict through the control socket; the
// dict is filled from the files whenever nginx starts (init_by_lua), so routes survive a restart.
// A site change writes apps/<app>.conf, runs `nginx -t` and reloads with confirmation; concurrent site
// changes are applied as one batch (one `nginx -t`, one reload), and a batch nginx rejects is retried
// change by change so only the broken ones fail.
//
// Thread-safety: all methods may be called from any thread. Route changes are serialised by one mutex
// (each is O(1): a small file and one request on the control socket); site changes are batched.
#pragma once

#include <condition_variable>
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

  Status Start(const std::vector<Site>& sites, const RouteTable& routes) override;
  Status SetRoute(const std::string& route, const std::vector<Endpoint>& backends) override;
  Status RemoveRoute(const std::string& route) override;
  // InvalidArgument for TLS fields: HTTPS sites are not rendered yet.
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
  std::string SiteFile(const std::string& app) const { return options_.prefix + "/apps/" + app + ".conf"; }
  std::string RouteFile(const std::string& route) const { return options_.prefix + "/routes/" + route; }

 private:
  // One site change waiting for a batch: new contents (or removal), and its outcome.
  struct SiteChange {
    std::string app;
    bool remove = false;
    std::string conf;
    std::string previous;
    bool had_previous = false;
    Status result;
    bool done = false;
  };
  Status RenderMain(std::string* out) const;
  Status RenderSite(const Site& site, std::string* out) const;
  Status SubmitSiteChange(SiteChange* change);
  void ApplyBatch(const std::vector<SiteChange*>& batch);
  void WriteSiteChange(SiteChange* change);
  void RestoreSiteChange(const SiteChange* change);
  Status WriteIndexLocked();
  Status Control(const std::string& method, const std::string& target, const std::string& body,
                 std::string* answer) const;
  Status PushAllRoutesLocked(const RouteTable& routes);

  const NginxOptions options_;
  NginxProcess process_;

  std::mutex routes_mu_;                // route files, the index, and pushes to the dict
  std::set<std::string> route_keys_;    // what routes/_index lists

  std::mutex sites_mu_;                 // the batch queue; whoever applies a batch owns nginx's config
  std::condition_variable sites_cv_;
  bool applying_ = false;
  std::vector<SiteChange*> queue_;
};

}  // namespace bim
