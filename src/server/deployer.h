// Deployer: carries out releases (Ninja's Builder to core's ReleasePlan). One release is:
//   build image -> publish it to the engine -> start the workload -> wait until every instance is
//   healthy -> switch the app's route to their endpoints -> record it live -> retire the previous
//   release's workload once the router reports nothing in flight to it (capped by the drain grace).
// Watch after the switch (deploys and env changes, not rollbacks or first releases): for the app's
// watch window the previous release keeps running as the route's standby (it gets a request only if
// the new release cannot take it: Endpoint::standby) while ReleaseWatch observes the new one. If it exits or fails its health checks, the route goes back to the previous release, the new
// one is recorded "failed: rolled back after <reason>" with the evidence, and it is retired; if the
// window passes, the previous release is retired. Starting another release of the app ends the
// watch: the watched release is kept (it is what the new release replaces) and the standby retired.
// Any failure before the switch removes the new workload (after saving its last log lines), leaves
// the previous release serving and records the release as failed with the reason.
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
  // images and network. A release in progress is cancelled first (Cancel), not waited for. NotFound if
  // there is no such app. The records go first and are the commit point: if removing something after
  // that fails (or bimd stops), the app is still gone, the error (Internal) names what is left, and
  // Reconcile removes it at the next start.
  Status Destroy(const std::string& app, const std::string& actor, nlohmann::json* removed);

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

  // Streams the live (else newest) release's workload logs. NotFound if there is no workload.
  Status Logs(const std::string& app, int tail, bool follow, const LineSink& on_line, const CancelCheck& cancelled);

 private:
  struct Attempt;  // one release in progress (defined in deployer.cpp)
  // What distinguishes a deploy, a rollback and an env change; everything else is the same path.
  struct ReleaseSpec {
    std::string app;
    std::string kind;          // "deploy", "rollback", "env", "scale"
    std::string actor;
    bool wait = true;
    EnvList env;
    std::string git_commit;    // where the code came from (a rollback or env release keeps its image's)
    bool git_dirty = false;
    std::string source_digest;
    std::string context_path;  // deploy: the build context
    std::map<std::string, std::string> build_args;
    int replicas = 0;          // scale: the new count (0: the app's)
    std::string image_tag;     // rollback/env: the existing image to run
    std::string image_id;
    std::string image_archive; // deploy --build local: an image archive to load instead of building
    std::string context_digest;
    bool nothing_to_do = false;  // set by Prepare: the live release stays, no release is recorded
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
  // Loads an uploaded image archive holding `image_id` and tags the image `tag`.
  Status LoadImage(const std::string& archive, const std::string& image_id, const std::string& tag,
                   const EventSink& events);
  Status RunRelease(Attempt* a, const EventSink& events, const CancelCheck& cancelled);
  Status StartHealthyWorkload(Attempt* a, const EventSink& events, const CancelCheck& cancelled);
  // Points the app's route at the new release's endpoints (and puts its site on a first release).
  Status SwitchRoute(Attempt* a);
  void FailRelease(Attempt* a, const Status& why);
  // The app's site: its host name(s) and the route they use.
  Site SiteFor(const std::string& app) const;
  // Queues the replaced release's workload to be removed once the router reports no request in
  // flight to `backends` (no sooner than options.drain_settle, no later than options.drain_grace).
  void ScheduleRetire(const std::string& workload, std::vector<Endpoint> backends);
  void RetireLoop();
  // Drains and removes `workloads` now (Reconcile's orphans), waiting at most options.drain_grace.
  void DrainAndRemove(const std::vector<Workload>& workloads);

  // Tenant isolation and limits (deployer_isolation.cpp).
  std::string AppNetworkName(const std::string& app) const;
  // Creates the app's network if missing; "" when options.isolate_networks is off.
  Status EnsureAppNetwork(const std::string& app, std::string* network);
  void RemoveAppNetwork(const std::string& app);
  // InvalidArgument when bim.toml asks for more than the server's maxima.
  Status CheckResources(const AppConfig& config) const;
  ResourceLimits ContainerLimits(const App& app) const;
  std::chrono::milliseconds BuildTimeout(const App& app) const;
  // Refuses (InvalidArgument, naming the Dockerfile line) a build that would read another app's image.
  Status CheckBuildImages(const std::string& app, const std::string& context_path,
                          const std::map<std::string, std::string>& build_args);
  Status CheckOneImage(const std::string& app, const DockerfileImage& use, std::vector<std::string>* triggers);
  std::vector<std::string> CacheSources(const std::string& app);
  Status BuildRelease(Attempt* a, const EventSink& events, const CancelCheck& cancelled);

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
  // Notes that a live app's instances changed; the follower thread then refreshes its route.
  void FollowInstances(const InstanceEvent& event);
  // The code of instance i's last exit: its own, or (once restarted) the one its "died" event told.
  int LastExitCode(const Instance& i);
  // Points a live app's route at the running instances of its workload that answer the health probe
  // (instances already routed are kept while they run, unprobed). Returns true while some running
  // instance is not healthy yet, so the follower tries again.
  bool RefreshRoute(const std::string& app);
  void FollowLoop();
  std::mutex exits_mu_;
  std::map<std::string, LastExit> last_exit_;  // by instance id
  std::atomic<bool> stop_watching_{false};
  std::thread event_watcher_;
  std::mutex follow_mu_;
  std::condition_variable follow_cv_;
  std::set<std::string> follow_pending_;       // apps whose route should be refreshed
  std::thread follower_;

  // What each app's route points at now, and for which workload (guarded by routed_mu_), so that
  // following instance events never undoes a newer switch.
  struct Routed {
    std::string workload;
    std::vector<Endpoint> backends;
    std::vector<Endpoint> standby;  // a watched release's predecessor (Endpoint::standby), else empty
    std::vector<Endpoint> Route() const;  // backends then standby: what the router gets
  };
  std::mutex routed_mu_;
  std::map<std::string, Routed> routed_;

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

}  // namespace bim
