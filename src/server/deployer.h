// Deployer: carries out releases (Ninja's Builder to core's ReleasePlan). A release runs an app's
// services (core/app_services.h: one, "web", for a plain app; every service of a Compose app):
//   build each service's image -> publish them to the engine -> compare each service with the live
//   release (image, env, settings): unchanged ones keep running untouched -> start the changed ones
//   in depends_on order, each once the services it depends on are ready (healthy: its HTTP health
//   path answers, its healthcheck passes, or it kept running for options.service_settle) -> switch
//   the routes of HTTP services to their new endpoints -> record it live -> retire the replaced
//   workloads (HTTP ones once the router reports nothing in flight to them, capped by the drain
//   grace; workers at once, in depends_on order).
// A service that says stop-first (or owns named volumes) has its old workload stopped just before
// its new one starts. Any failure before the switch removes the new workloads (after saving the
// failing one's last log lines), starts again what was stopped first, leaves the previous release
// serving and records the release as failed with the reason.
//
// Volumes (deployer_volumes.cpp) belong to the app, not to a release: they survive deploys,
// rollbacks, env changes and bimd restarts, and `Destroy` keeps them unless asked not to.
// Watch after the switch (deploys and env changes, not rollbacks or first releases; deployer_watch.cpp):
// for the app's watch window the workload a release replaced keeps running as the route's standby (it
// gets a request only if the new release cannot take it: Endpoint::standby) while ReleaseWatch observes
// the new one. If it exits or fails its health checks, the route goes back to the previous release, the
// new one is recorded "failed: rolled back after <reason>" with the evidence, and it is retired; if the
// window passes, the previous release is retired. Starting another release of the app ends the watch:
// the watched release is kept (it is what the new release replaces) and the standby retired.
// Only a release of one HTTP service that replaces one start-first is watched (every plain app; a
// Compose file of one such service). A Compose app of several services (or one replaced stop-first)
// is not: the server's default window does not apply to it, and a bim.toml asking for a watch is
// refused (InvalidArgument, one line) before anything is recorded.
//
// It works only through seams, so it never asks "one host or Swarm?": images are built through an
// ImageBuilder (bimd's own dockerd), workloads run on an Engine (engine.h), traffic is steered by a
// Router (router.h). Switching a release is a route change, and an app's host names are its site:
// both are data, so no release reloads the proxy.
//
// Tenants (deployer_isolation.cpp): each app builds and runs on its own network (Engine::EnsureNetwork); a build may
// read no other app's image (checked on the Dockerfile before it starts) and reuses only its own
// app's build cache; builds and containers run with the limits of ServerOptions (and bim.toml's
// [resources] within its maxima); a build past its deadline, a Cancel, or a Destroy stops the
// release, which fails cleanly and frees the app.
//
// Thread-safety: all methods may be called concurrently. Operations on one app are serialised in
// arrival order by AppLocks; different apps run in parallel.
// Ownership: the Deployer owns none of DeployerDeps; they must outlive it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <set>
#include <condition_variable>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/app_config.h"
#include "core/dockerfile.h"
#include "core/app_services.h"
#include "core/compose.h"
#include "core/deploy_plan.h"
#include "core/dotenv.h"
#include "core/endpoint.h"
#include "docker/docker_client.h"
#include "docker/engine.h"
#include "proxy/router.h"
#include "server/app_locks.h"
#include "server/options.h"
#include "server/release_watch.h"
#include "store/store.h"

namespace bim {

// Receives progress events ({"event":"step"|"build"|...}) as the release proceeds.
using EventSink = std::function<void(const nlohmann::json& event)>;

class ContextStore;

struct DeployRequest {
  AppConfig config;           // validated
  EnvList env;                // the folder's .env (validated keys)
  ComposeSource compose;      // the folder's Compose file (text "" for a plain app; variables and
                              // profiles are filled in by the Deployer)
  std::string context_path;   // a checked build-context tar; the Deployer deletes it when done
  // Content-addressed deploys (what the CLI sends by default): the ContextDigest of the build context
  // and build args, and how to write that context as a tar at a given path when a build is needed
  // (called under the app's lock). A deploy whose digest, env and settings equal the running live
  // release's has nothing to do; one whose digest equals a kept release's reuses that image.
  std::string context_digest;
  std::function<Status(const std::string& tar_path)> write_context;
  // `bim deploy --build local`: the id of the image the developer built and, unless bimd already has
  // it, a checked `docker save` archive of it (layers bimd holds left out) that the Deployer loads and
  // deletes. The same unchanged/reuse rules apply, by image id.
  std::string image_id;
  std::string image_archive_path;
  std::string git_commit;     // "" if unknown
  bool git_dirty = false;     // the folder had changes git_commit does not hold
  std::string source_digest;  // "sha256:..." of the build context's content, "" if unknown
  std::string actor;          // who asked (token name), for the audit log
  bool wait = true;           // false: fail with Conflict at once if the app is busy
  bool wait_watch = false;    // return only when the watch after the switch is over (see Deploy)
};

// Told about every change of what is live, e.g. to keep the git deployment history. Calls come on
// the thread doing the release, with the app's lock held, after the change is recorded; an observer
// must not call back into the Deployer.
class ReleaseObserver {
 public:
  virtual ~ReleaseObserver() = default;
  // `live` just went live (a deploy, rollback or env change) running with `env`.
  virtual void OnLive(const Release& live, const EnvList& env) = 0;
  // The app was destroyed.
  virtual void OnDestroyed(const std::string& app) = 0;
  // The app's custom domains changed (`summary` says how, e.g. "domains: added shop.example.com").
  virtual void OnDomainsChanged(const std::string& app, const std::string& summary) {}
  // `failed` (status failed, failure_reason "rolled back after ...") failed its watch and `live`, the
  // release it replaced, serves again with `env`. By default the same as OnLive(live, env).
  virtual void OnAutoRollback(const Release& failed, const Release& live, const EnvList& env) {
    (void)failed;
    OnLive(live, env);
  }
};

struct DeployOutcome {
  Release release;            // as recorded (status live or failed); the live one when unchanged
  bool unchanged = false;     // nothing to do: the live release already runs this source, env and settings
  std::string url;
  std::vector<std::string> log_tail;  // the failed container's last log lines
  nlohmann::json watch;       // the release's watch (WatchJson), null when it is not watched
};

// Probes one endpoint's health path: OK for a 2xx/3xx answer, else why not (ProbeHealth's contract).
using HealthProbe = std::function<Status(const Endpoint& at, const std::string& path, std::chrono::milliseconds timeout)>;

// What the Deployer works through. Not owned; all must outlive the Deployer.
struct DeployerDeps {
  Store* store = nullptr;
  ImageBuilder* images = nullptr;   // builds on bimd's own dockerd (DockerClient)
  Engine* engine = nullptr;         // runs workloads (LocalEngine; SwarmEngine on a cluster)
  Router* router = nullptr;         // steers requests to them (NginxRouter)
  ContextStore* contexts = nullptr; // uploaded build contexts (nullptr: none); pruned like old images
  HealthProbe probe;                // empty: ProbeHealth over HTTP (unit tests substitute a fake)
};

class Deployer {
 public:
  Deployer(const ServerOptions& options, DeployerDeps deps, std::string instance_id);
  ~Deployer();  // stops retiring workloads early (they are cleaned by Reconcile on next start)

  // Builds and releases a new version. OK when the new release is live; otherwise the status says
  // why (FailedPrecondition for a build failure or an unhealthy release, Cancelled when `cancelled`
  // fired before the switch, Conflict when busy and !wait), and `out` still describes the failed
  // release (if one was recorded). With request.wait_watch it returns only when the release's watch
  // is over (progress events meanwhile): FailedPrecondition if it was rolled back (out->release is
  // then the failed release, out->log_tail its last lines), OK if it passed or a newer release ended
  // the watch; a client that goes away stops the waiting, not the watch.
  Status Deploy(const DeployRequest& request, const EventSink& events, const CancelCheck& cancelled,
                DeployOutcome* out);

  // Re-activates an earlier release's image with the env it had (no rebuild), through the same health
  // gate and switch as a deploy, as a new release of kind "rollback". `to_version` 0 means the newest
  // retired release older than the live one. NotFound if there is no such release; FailedPrecondition
  // if its image was pruned (bimd keeps options.keep_releases images per app) or it never went live.
  Status Rollback(const std::string& app, int64_t to_version, const std::string& actor, bool wait,
                  const EventSink& events, const CancelCheck& cancelled, DeployOutcome* out);

  // Stores `set`/`unset` in the app's env and, if a release is live, releases its image again with
  // the live env plus `set` minus `unset` (kind "env"). With nothing live only the stored env changes
  // (out->release.id stays 0). InvalidArgument for a bad key.
  Status ChangeEnv(const std::string& app, const EnvList& set, const std::vector<std::string>& unset,
                   const std::string& actor, bool wait, const EventSink& events, const CancelCheck& cancelled,
                   DeployOutcome* out);

  // Runs the live release's image and env again with `replicas` instances, as a new release (kind
  // "scale") through the same health gate and switch; the app keeps that count for later releases
  // until bim.toml's [deploy] replicas sets another. InvalidArgument for a count outside 1-100;
  // FailedPrecondition when nothing is live or the engine cannot run that many (one host runs one).
  Status Scale(const std::string& app, int replicas, const std::string& actor, bool wait, const EventSink& events,
               const CancelCheck& cancelled, DeployOutcome* out);

  // The hosts apps run on (Swarm's nodes, or this one host) with this bimd's instances on each.
  Status Nodes(nlohmann::json* out);

  // What bimd's machinery holds now, for the dashboard's server page: {"docker": {"state", "error"},
  // "images": {"count", "bytes"} (this instance's images, sizes as Docker reports each one, so shared
  // layers count once per image), "proxy": {"state", "error"}, "contexts": {"apps", "bytes"} (stored
  // build contexts)}. Never fails: a part that does not answer says so in its "state" and "error".
  nlohmann::json ServerState();

  // The env the app runs with: the live release's env, or the stored env when nothing is live.
  Status EffectiveEnv(const std::string& app, EnvList* out);

  // For `bim deploy --build local`: whether a kept release of `app` (live or retired, image present)
  // runs `image_id`, and how many leading `layers` (diff ids, bottom first) bimd holds as a chain in
  // those releases' images. Answers from the app's own releases only, so a caller learns nothing about
  // other apps' images. An unknown app holds nothing (OK, false, 0).
  Status HeldImageLayers(const std::string& app, const std::string& image_id, const std::vector<std::string>& layers,
                         bool* has_image, int* held_layers);

  // Removes the app's records (and revokes the tokens limited to it), then its route, containers,
  // images and network; its named volumes too if `volumes`, else they are kept (and listed in
  // removed["kept_volumes"]) for a later deploy of the same app name; a volume the engine keeps where
  // bimd cannot remove it (Swarm: on another node) is listed in removed["volumes_elsewhere"] as what
  // to run there. A release in progress is
  // cancelled first (Cancel), not waited for. NotFound if there is no such app. The records go first
  // and are the commit point: if removing something after that fails (or bimd stops), the app is
  // still gone, the error (Internal) names what is left, and Reconcile removes it at the next start
  // (never its volumes).
  Status Destroy(const std::string& app, const std::string& actor, bool volumes, nlohmann::json* removed);

  // Brings the engine and the router in line with the database after a start or crash: sites and
  // routes are rewritten to the live workloads' endpoints (before the proxy serves anything),
  // releases left in building/starting are marked failed, workloads that belong to no live release
  // are drained and removed, images beyond options.keep_releases are pruned (a crash between a switch
  // and its prune) and images of apps the database no longer has (a destroy a crash cut short) are
  // removed. Running live workloads are not touched.
  Status Reconcile();

  // A JSON description of the app for `bim status`: settings, live release, container state, and
  // "watch" while the live release is being watched ({"summary": "watching v7: 42 s left, 0 failures"}).
  Status DescribeApp(const std::string& app, nlohmann::json* out);

  // Registers the one observer (nullptr to clear). Call before serving requests; not owned.
  void SetObserver(ReleaseObserver* observer) { observer_ = observer; }
  // The store of uploaded build contexts (DeployerDeps::contexts): the API plans uploads with it; the
  // Deployer prunes it after every release like old images and empties it when the app is destroyed.
  ContextStore* context_store() const { return contexts_; }

  // Builds get options.build_limits.pids through a cgroup of their own (docker/build_cgroup.h), which
  // works with dockerd's cgroupfs driver only (main.cpp finds out). Off by default. Call before serving.
  void EnableBuildCgroups(bool on) { build_cgroups_ = on; }

  // Stops every release of `app` that is running or queued now (deploys, rollbacks, env changes that
  // arrived before this call): each fails with Cancelled("<reason>") before its switch, and the app is
  // free as soon as the running one has cleaned up. Releases asked for later are not affected.
  // OK with *what = the running release ("deploy v4"); NotFound if the app has nothing in progress.
  Status Cancel(const std::string& app, const std::string& reason, std::string* what);

  // The public URL of an app (core's AppUrl with this server's domain and nginx port).
  std::string AppUrl(const std::string& app) const;
  // The URL to show for an app: https://<first custom domain>/ once a certificate for it is live
  // (and bimd serves HTTPS), else `fallback` (usually AppUrl).
  std::string PublicUrl(const std::string& app, const std::string& fallback) const;

  // Custom domains and certificates (deployer_domains.cpp).
  // Puts the app's site again from the store (its names, certificate, [http] settings): a change of
  // the router's host table, no reload. OK without touching the proxy when the app has no live release
  // (its site appears with its first release). On failure the previous site stays live.
  Status RefreshSite(const std::string& app);
  // Stores the app's bim.toml [http] (after a successful deploy) and, if it changed, refreshes the
  // site. A failure is logged, never fails the deploy: the next refresh applies it.
  void ApplyHttpConfig(const std::string& app, const HttpConfig& http);
  // {"domains": [...], "certificate": {...} or null} for status and the domains API.
  nlohmann::json DomainsJson(const std::string& app) const;
  // Tells the observer (the git history) that the app's domains changed.
  void NotifyDomainsChanged(const std::string& app, const std::string& summary) {
    if (observer_) observer_->OnDomainsChanged(app, summary);
  }

  // Streams the live (else newest) release's logs: of `service` only, or ("") of every service,
  // each line prefixed "<service> | " when the app has several. Without follow, the last `tail`
  // lines of each service, service by service in start order; with follow, lines of all services
  // as they come (interleaved) until `cancelled`. NotFound if there is no such workload or service.
  Status Logs(const std::string& app, const std::string& service, int tail, bool follow, const LineSink& on_line,
              const CancelCheck& cancelled);

  // The app's named volumes with their sizes and the services that mount them:
  // {"app", "volumes": [{"name", "engine_name", "size_bytes", "services": [...]}]}. NotFound if no app.
  Status ListVolumes(const std::string& app, nlohmann::json* out);
  // OK if this server's engine can back up and restore volumes; otherwise FailedPrecondition, one
  // line with the fix (the API asks before an archive's headers go out).
  Status CanCopyVolumes() const { return engine_->CheckVolumeCopies(); }
  // Streams a tar of the volume's contents (`tar -C volume -c .`) to `on_data`. The services that
  // mount it are frozen (paused, not stopped: no restart, memory kept) while it is copied, so the
  // copy is consistent as of one moment, then resume. Holds the app's lock (no release meanwhile).
  // NotFound for an unknown app or volume; FailedPrecondition (CanCopyVolumes) on an engine that
  // cannot copy volumes, before anything is frozen.
  Status BackupVolume(const std::string& app, const std::string& volume, const std::string& actor,
                      const ByteSink& on_data);
  // Replaces the volume's contents with the tar at `tar_path` (as BackupVolume writes it): the
  // services that mount it are stopped, the volume emptied and filled, and the services started
  // again from the live release (HTTP ones routed once healthy). Holds the app's lock.
  Status RestoreVolume(const std::string& app, const std::string& volume, const std::string& actor,
                       const std::string& tar_path, const EventSink& events);

 private:
  struct Attempt;         // one release in progress (defined in deployer.cpp)
  struct ServiceAttempt;  // one service of it
  // What distinguishes a deploy, a rollback and an env change; everything else is the same path.
  struct ReleaseSpec {
    std::string app;
    std::string kind;          // "deploy", "rollback", "env", "scale"
    std::string actor;
    bool wait = true;
    EnvList env;               // the app's env (stored + .env), recorded as the release's env
    AppServices services;      // what the release runs
    std::string git_commit;    // where the code came from (a rollback or env release keeps its image's)
    bool git_dirty = false;
    std::string source_digest;
    std::string context_path;  // deploy: the build context
    std::map<std::string, std::string> build_args;
    int replicas = 0;          // scale: the new count (0: the app's)
    std::string image_tag;     // rollback/env: the existing image to run; deploy: a kept release's image
                               // the main service runs ("" = build)
    std::string image_id;
    std::string image_archive; // deploy --build local: an image archive to load instead of building
    std::string context_digest;
    bool nothing_to_do = false;  // set by Prepare: the live release stays, no release is recorded
    // rollback/env: services whose existing image is run again (service -> its record)
    std::map<std::string, ReleaseService> reuse;
    std::string audit_detail;
  };
  // Runs under the app's lock before the release is recorded: fills the spec from current state and
  // may change the app's settings. A failure aborts with nothing recorded.
  using Prepare = std::function<Status(App* app, ReleaseSpec* spec)>;
  Status Execute(ReleaseSpec spec, const Prepare& prepare, const EventSink& events, const CancelCheck& cancelled,
                 DeployOutcome* out);
  // Untags images of releases older than the newest options.keep_releases that went live, unless a
  // kept release still runs the same image. With `existing`, only tags in it are tried (Reconcile
  // passes the tags Docker has, so a start costs no Docker call per long-pruned release).
  void PruneImages(const std::string& app, const std::set<std::string>* existing = nullptr);
  // Decides, for a deploy, what the release runs (deployer_sources.cpp): nothing new (the live release
  // already runs this source, env and settings), the image of a kept release built from the same source,
  // an uploaded image, or a build of the request's context (written to a temp file named in
  // spec->context_path, which `written` receives for deletion).
  Status ChooseSource(const App& before, const App& after, const DeployRequest& request, ReleaseSpec* spec,
                      const EventSink& events, std::string* written);
  // Writes the request's content-addressed context to a temp file (spec->context_path, *written).
  Status WriteContext(const std::string& app, const DeployRequest& request, ReleaseSpec* spec, std::string* written);
  // Loads an uploaded image archive holding `image_id` and tags the image `tag`.
  Status LoadImage(const std::string& archive, const std::string& image_id, const std::string& tag,
                   const EventSink& events);
  // Fills spec->services and spec->reuse from a release's records (rollback, env change), refusing
  // (FailedPrecondition) when an image they ran was pruned.
  Status ReuseServices(const std::vector<ReleaseService>& records, int64_t version, ReleaseSpec* spec);
  Status RunRelease(Attempt* a, const EventSink& events, const CancelCheck& cancelled);
  // Release steps over every service (deployer_services.cpp).
  Status BuildServices(Attempt* a, const EventSink& events, const CancelCheck& cancelled);
  // Builds one service's image under the server's build limits and deadline (deployer_build.cpp).
  Status BuildService(Attempt* a, ServiceAttempt* svc, const EventSink& events, const CancelCheck& cancelled);
  Status ResolveImages(Attempt* a, const EventSink& events);
  // Decides which services keep their live workload (unchanged digest, workload still there).
  void DecideKept(Attempt* a);
  Status PrepareVolumes(const Attempt& a);
  Status StartChangedServices(Attempt* a, const EventSink& events, const CancelCheck& cancelled);
  Status StartHealthyWorkload(Attempt* a, ServiceAttempt* svc, const EventSink& events, const CancelCheck& cancelled);
  // Waits until every instance of `w` is ready (HTTP health, healthcheck, or settled); sets *backends.
  Status WaitReady(const std::string& release_name, const ServiceSpec& spec, std::chrono::milliseconds timeout,
                   Workload* w, std::vector<Endpoint>* backends, const CancelCheck& cancelled);
  std::vector<ReleaseService> ServiceRecords(const Attempt& a) const;
  // Points the routes of the app's HTTP services at the new release's endpoints (and creates its
  // site on a first release); *before gets what each changed route pointed at. On failure the
  // routes are as they were. routed_mu_ held.
  Status SwitchRoutes(Attempt* a, std::map<std::string, std::vector<Endpoint>>* before);
  // Queues the workloads the release replaced (or dropped) for retirement, draining HTTP ones.
  void RetireReplaced(Attempt* a, const std::map<std::string, std::vector<Endpoint>>& before);
  // Starts a recorded service's workload again under its recorded name (a stop-first service after
  // a failed release, a live service missing after a crash) and, for an HTTP service, routes to it
  // once it is ready.
  // `services`: how many the release runs (the network rule of ServicesNetwork).
  Status RestartRecorded(const std::string& app, const ReleaseService& record, size_t services);
  void FailRelease(Attempt* a, const Status& why);
  // What runs `spec` under `name`: image, env, labels, port, volumes, `network` (with the service's
  // name as its DNS alias; "" = the engine's default), the app's limits (the service's own where the
  // Compose file sets them) and the server's log limits.
  WorkloadSpec MakeWorkload(const App& app, const ServiceSpec& spec, const std::string& name, const std::string& image,
                            const Labels& labels, const std::string& network) const;
  // The services a release recorded; a release from before services were recorded ran one, "web".
  Status LoadServices(const App& app, const Release& r, std::vector<ReleaseService>* out);
  // The app's site (deployer_domains.cpp): every host name of its HTTP services and the route each
  // uses, then its custom domains on the main route, with the certificate that covers them.
  Site SiteFor(const std::string& app, const std::vector<ServiceSpec>& services) const;
  // Queues the replaced release's workload to be removed once the router reports no request in
  // flight to `backends` (no sooner than options.drain_settle, no later than options.drain_grace);
  // without `drain` (a worker), at once.
  void ScheduleRetire(const std::string& workload, std::vector<Endpoint> backends, bool drain = true,
                      int grace_seconds = -1);
  void RetireLoop();
  // Drains and removes `workloads` now (Reconcile's orphans), waiting at most options.drain_grace.
  void DrainAndRemove(const std::vector<Workload>& workloads);

  // Tenant isolation and limits (deployer_isolation.cpp).
  std::string AppNetworkName(const std::string& app) const;
  // The network an app of `services` services runs on: its own, unless options.isolate_networks is
  // off and it is a single service ("" then: Docker's default bridge). Several services always get
  // one, so that they reach each other by name.
  std::string ServicesNetwork(const std::string& app, size_t services) const;
  // Creates ServicesNetwork(app, services) if missing and sets *network to it.
  Status EnsureAppNetwork(const std::string& app, size_t services, std::string* network);
  void RemoveAppNetwork(const std::string& app);
  // InvalidArgument when bim.toml asks for more than the server's maxima.
  Status CheckResources(const AppConfig& config) const;
  // The same for what `where` asks for ("bim.toml [resources]", "service worker's deploy.resources.limits").
  Status CheckResourceRequest(const ResourceRequest& r, const std::string& where) const;
  ResourceLimits ContainerLimits(const App& app) const;
  std::chrono::milliseconds BuildTimeout(const App& app) const;
  // Refuses (InvalidArgument, naming the Dockerfile line) a build that would read another app's image.
  Status CheckBuildImages(const std::string& app, const std::string& context_path, const std::string& dockerfile,
                          const std::map<std::string, std::string>& build_args);
  // Refuses (InvalidArgument) a Compose service's `image:` that names another app's image.
  Status CheckServiceImage(const std::string& app, const std::string& service, const std::string& reference);
  Status CheckOneImage(const std::string& app, const DockerfileImage& use, std::vector<std::string>* triggers);
  std::vector<std::string> CacheSources(const std::string& app);

  // Cancellation: an operation notes the app's generation when it arrives; Cancel bumps it, which
  // stops every operation that arrived before.
  struct CancelState {
    uint64_t generation = 0;
    std::string reason;
  };
  uint64_t CancelGeneration(const std::string& app);
  // True (and *reason set) if Cancel was called for `app` since `generation`.
  bool CancelledSince(const std::string& app, uint64_t generation, std::string* reason);
  std::mutex cancel_mu_;
  std::map<std::string, CancelState> cancels_;


  // Watch after the switch (deployer_watch.cpp).
  // The window for a new `kind` release of `app` (0: not watched).
  std::chrono::milliseconds WatchWindow(const App& app, const std::string& kind) const;
  // Records and starts the watch of a release that just went live, with a.previous on standby.
  void StartWatch(Attempt* a);
  // A new release of the app starts: its watch (if any) ends, the watched release stays live and
  // the standby is retired. Called with the app's lock held.
  void EndWatch(const std::string& app, const std::string& why);
  // ReleaseWatch's verdict: roll back to the standby, or retire it.
  void OnWatchVerdict(const WatchTarget& target, const WatchVerdict& verdict);
  // Whether the release may keep what it replaces on standby: one HTTP service (the main route)
  // replacing one of the same name, started anew (not kept, not stop-first).
  bool Watchable(const Attempt& a) const;
  // Retires a standby release's workload (it serves no traffic, so it goes after drain_settle).
  void RetireStandby(const std::string& app, int64_t version);
  // Marks a watch over (state, reason) and wakes WaitForWatch.
  void FinishWatch(Watch* w, const std::string& state, const std::string& reason);
  // Deploy's wait_watch: blocks until the release's watch is over (see Deploy).
  Status WaitForWatch(const EventSink& events, const CancelCheck& cancelled, DeployOutcome* out);
  // Reconcile: resumes watches bimd was stopped in the middle of; returns the standby workloads kept.
  // Reads routed_, so call it after the routes are set.
  std::set<std::string> ResumeWatches(const std::vector<App>& apps);

  // Instance events from the engine: exits are kept so status can show the last exit reason even
  // after the engine restarted the instance (Docker resets State.ExitCode then), and the route of a
  // live workload follows its instances when their endpoints change (e.g. a Swarm task moved).
  struct LastExit {
    int code = 0;
    long long at_ms = 0;
  };
  void WatchEvents();
  // Notes that a live app's instances changed; the follower thread then refreshes the routes ("<app>",
  // "<app>.<service>") that point at the workload.
  void FollowInstances(const InstanceEvent& event);
  // The code of instance i's last exit: its own, or (once restarted) the one its "died" event told.
  int LastExitCode(const Instance& i);
  // Points a route (key) at the running instances of its workload that answer the health probe
  // (instances already routed are kept while they run, unprobed). Returns true while some running
  // instance is not healthy yet, so the follower tries again.
  bool RefreshRoute(const std::string& key);
  void FollowLoop();
  std::mutex exits_mu_;
  std::map<std::string, LastExit> last_exit_;  // by instance id
  std::atomic<bool> stop_watching_{false};
  std::thread event_watcher_;
  std::mutex follow_mu_;
  std::condition_variable follow_cv_;
  std::set<std::string> follow_pending_;       // route keys to refresh
  std::thread follower_;

  // What each route points at now, and for which workload (guarded by routed_mu_), so that
  // following instance events never undoes a newer switch. Keyed by route key ("<app>",
  // "<app>.<service>").
  struct Routed {
    std::string workload;
    std::vector<Endpoint> backends;
    std::string health_path;  // what a new instance must answer before it is routed ("": the app's)
    std::vector<Endpoint> standby;  // a watched release's predecessor (Endpoint::standby), else empty
    std::vector<Endpoint> Route() const;  // backends then standby: what the router gets
  };
  std::mutex routed_mu_;
  std::map<std::string, Routed> routed_;
  // Forgets the routes of `app` (its key and "<app>.*"); routed_mu_ held.
  void ForgetRoutesLocked(const std::string& app);

  const ServerOptions options_;
  Store* store_;
  ImageBuilder* images_;
  Engine* engine_;
  Router* router_;
  ContextStore* contexts_;
  HealthProbe probe_;
  const std::string instance_id_;
  AppLocks locks_;
  ReleaseObserver* observer_ = nullptr;
  // Whether builds get a process limit (EnableBuildCgroups).
  std::atomic<bool> build_cgroups_{false};

  // Workloads of replaced releases wait for their drain on one background thread (which also removes
  // the cgroups of builds that ended).
  struct Retirement {
    std::string workload;
    std::vector<Endpoint> backends;
    bool drain = true;
    int grace_seconds = 10;   // SIGTERM, then SIGKILL after this long
    long long not_before_ms;  // monotonic: options.drain_settle after the switch
    long long deadline_ms;    // monotonic: options.drain_grace after the switch
  };
  std::unique_ptr<ReleaseWatch> watch_;
  std::mutex watch_mu_;                  // only for watch_cv_: WaitForWatch sleeps on it
  std::condition_variable watch_cv_;     // notified whenever a watch is over

  std::mutex retire_mu_;
  std::condition_variable retire_cv_;
  bool shutting_down_ = false;
  std::vector<Retirement> retire_queue_;
  std::vector<std::string> stale_cgroups_;  // build cgroups to remove once Docker lets go of them
  std::thread retirer_;
};

// "<release>" JSON for the API and CLI (never includes env values).
nlohmann::json ReleaseJson(const Release& r);
// How a release names its source: "1a2b3c4", "1a2b3c4-dirty" when the folder had uncommitted changes,
// "" outside git.
std::string ReleaseSource(const Release& r);
// A release's watch for the API and CLI: state, window, standby, reason, evidence; with `now` (the
// watch in progress) also seconds_left, failures and a one-line summary.
nlohmann::json WatchJson(const Watch& w, const WatchProgress* now = nullptr);
// Whether a release of `services` can be watched (one HTTP service, the main one, replaced start-first).
bool WatchableServices(const AppServices& services);

}  // namespace bim
