// Router: the seam between the Deployer and the HTTP proxy in front of the apps. Everything that
// changes while apps come, go and release is data, applied for the next request without reloading
// the proxy, at a cost that does not grow with the number of apps:
//
//   * Routes. A route is a key ("shop") naming the backends (host:port endpoints, one or many) its
//     requests go to. Deploys, rollbacks, env changes and replicas coming and going change routes.
//   * Sites. A site is one app's host names ("shop.example.com", custom domains, extra names a
//     Compose service is routed at) and the route each name uses, plus (later) its TLS files.
//
// The proxy's config comes from the user's templates only; it is re-rendered when bimd starts, checked
// (`nginx -t`) and reloaded (confirmed) only if it changed, and a config the proxy rejects never goes
// live.
//
// Balancing: requests spread over a route's backends (round robin). A backend that refuses or times
// out the connection is skipped and the request tried on another one (nothing was sent yet, so for
// any method); an error after the request was sent is retried only for idempotent methods (GET, HEAD,
// PUT, DELETE, OPTIONS), never for POST or PATCH.
// Drain: InFlight reports requests in flight to each backend, as the proxy counts them, so a replaced
// release is stopped once nothing is in flight to it rather than after a fixed time.
// Durability: sites and routes are written to disk before they take effect and reloaded when the
// proxy (re)starts, so a proxy restart serves the last routes before it accepts traffic.
//
// Thread-safety: all methods may be called from any thread; changes apply in call order.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/endpoint.h"
#include "core/status.h"

namespace bim {

// Some host names of a site and the route they use.
struct VirtualHost {
  std::vector<std::string> server_names;  // validated host names ("shop.example.com"); at least one
  std::string route;                      // the route key whose backends serve these names
  // HTTPS (filled by the domains/certificates work): both set = serve TLS with these PEM files.
  std::string tls_certificate;
  std::string tls_key;
  bool redirect_to_https = false;         // plain HTTP answers with a redirect to https:// (needs TLS)
  bool hsts = false;                      // HTTPS answers carry Strict-Transport-Security
};

// Which host names reach one app, and through which route each.
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
  // database after bimd starts): sites and routes not listed are removed, listed ones rewritten where
  // they differ, and the config re-rendered from the templates. Then the proxy is started if it is not
  // running, adopted as it is if it runs and its config is unchanged (restarting bimd drops nothing),
  // reloaded if its config changed, or taken over from orphaned workers left by a killed master (they
  // keep serving until the new master serves, then finish their requests and exit). Sites and routes
  // are in effect before this returns. On failure the error names the proxy's own message; a proxy
  // that was serving keeps serving its previous config. Conflict if two sites claim one host name.
  virtual Status Start(const std::vector<Site>& sites, const RouteTable& routes) = 0;

  // Points `route` at `backends` for the next request: no reload, O(1) in the number of routes. The
  // route is persisted first, so it survives a proxy restart. An empty list makes the route answer
  // 503 "no live release". InvalidArgument for a bad key or endpoint; if the proxy cannot be told
  // (Unavailable), the previous route is restored, on disk and in the proxy.
  virtual Status SetRoute(const std::string& route, const std::vector<Endpoint>& backends) = 0;

  // Forgets the route (requests for it answer 503). OK if it does not exist.
  virtual Status RemoveRoute(const std::string& route) = 0;

  // Creates or replaces the app's site: its host names reach their routes from the next request on,
  // names it no longer lists stop reaching it (404). No reload; OK at once if nothing changed.
  // InvalidArgument for a bad name or route key, Conflict for a name another app's site has. On
  // failure the previous site stays in effect.
  virtual Status PutSite(const Site& site) = 0;

  // Removes the app's site (its names answer 404). OK if it had none.
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
