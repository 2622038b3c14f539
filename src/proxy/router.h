// Router: the seam between the Deployer and the HTTP proxy in front of the apps. It separates two kinds
// of change, because they cost very differently:
//
//   * Routes are data. A route is a key ("shop") naming the backends (host:port endpoints, one or many)
//     its requests go to. SetRoute takes effect for the next request, without reloading anything, and
//     costs the same with 10 routes or 50,000. Deploys, rollbacks, env changes and replicas coming and
//     going only ever change routes.
//   * Sites are config. A site is one app's server block(s): which host names exist, which route each
//     uses, TLS files, redirects. Changing a site re-renders its config from the user's templates,
//     checks it (`nginx -t`), reloads (confirmed), and batches concurrent changes into one reload. A
//     config the proxy rejects never goes live.
//
// Balancing: requests spread over a route's backends (round robin). A backend that refuses or times
// out the connection is skipped and the request tried on another one (nothing was sent yet, so for
// any method); an error after the request was sent is retried only for idempotent methods (GET, HEAD,
// PUT, DELETE, OPTIONS), never for POST or PATCH.
// Drain: InFlight reports requests in flight to each backend, as the proxy counts them, so a replaced
// release is stopped once nothing is in flight to it rather than after a fixed time.
// Durability: routes are written to disk before they take effect and reloaded when the proxy
// (re)starts, so a proxy restart serves the last routes before it accepts traffic.
//
// Thread-safety: all methods may be called from any thread. Route changes to different keys run in
// parallel; changes to one key are applied in call order. Site changes are serialised (batched).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/endpoint.h"
#include "core/status.h"

namespace bim {

// One virtual host (a server block) of a site.
struct VirtualHost {
  std::vector<std::string> server_names;  // validated host names ("shop.example.com"); at least one
  std::string route;                      // the route key whose backends serve these names
  // HTTPS (filled by the domains/certificates work): both set = serve TLS with these PEM files.
  std::string tls_certificate;
  std::string tls_key;
  bool redirect_to_https = false;         // plain HTTP answers with a redirect to https://
};

// Everything the proxy config holds for one app: one file, rendered from the app template once per
// virtual host.
struct Site {
  std::string app;                        // validated app name
  std::vector<VirtualHost> hosts;         // at least one
};

using RouteTable = std::map<std::string, std::vector<Endpoint>>;  // route key -> backends

// Route keys: 1-128 characters of [a-z0-9.-], starting with a letter or digit ("shop", "shop.admin").
// A plain app's route key is its name.
Status ValidateRouteKey(std::string_view key);

class Router {
 public:
  virtual ~Router() = default;

  // Brings the proxy in line with the complete truth (every site and every route, e.g. from the
  // database after bimd starts): files of sites and routes not listed are removed, listed ones
  // rewritten where they differ. Then the proxy is started if it is not running, adopted as it is if
  // it runs and nothing changed (restarting bimd drops nothing), reloaded if its config changed, or
  // taken over from orphaned workers left by a killed master (they keep serving until the new master
  // serves, then finish their requests and exit). Routes are in effect before this returns.
  // On failure the error names the proxy's own message; a proxy that was serving keeps serving.
  virtual Status Start(const std::vector<Site>& sites, const RouteTable& routes) = 0;

  // Points `route` at `backends` for the next request: no reload, O(1) in the number of routes. The
  // route is persisted first, so it survives a proxy restart. An empty list makes the route answer
  // 503 "no live release". InvalidArgument for a bad key or endpoint; if the proxy cannot be told
  // (Unavailable), the previous route is restored, on disk and in the proxy.
  virtual Status SetRoute(const std::string& route, const std::vector<Endpoint>& backends) = 0;

  // Forgets the route (requests for it answer 503). OK if it does not exist.
  virtual Status RemoveRoute(const std::string& route) = 0;

  // Creates or replaces the app's site. Reloads (confirmed) only if the rendered config differs from
  // what is live, batched with concurrent site changes into one reload. On failure (template error,
  // the proxy rejects the config, reload not confirmed) the previous site is restored and live
  // routing is unchanged; the error names the proxy's message.
  virtual Status PutSite(const Site& site) = 0;

  // Removes the app's site and reloads (batched). OK if it had none.
  virtual Status RemoveSite(const std::string& app) = 0;

  // Requests in flight to each of `backends` right now (same order), counted across every proxy
  // worker. Unavailable if the proxy does not answer.
  virtual Status InFlight(const std::vector<Endpoint>& backends, std::vector<int64_t>* counts) = 0;

  // The backends the proxy routes `route` to right now (empty if none). For status and tests.
  virtual Status GetRoute(const std::string& route, std::vector<Endpoint>* backends) = 0;

  // Asks the proxy to finish in-flight requests and exit. OK if it is not running.
  virtual Status Stop() = 0;
};

}  // namespace bim
