// In-memory fakes of the seams the Deployer and NginxRouter work through, for unit tests that drive
// their failure paths without dockerd or nginx. Each fake records what was asked of it and can be told
// to fail a given call. The real implementations keep their integration tests (router suite,
// integration suite); these only isolate the code above the seam.
//
// Thread-safety: every fake guards its state with one mutex (the Deployer calls from its own threads).
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/command_runner.h"
#include "docker/docker_client.h"
#include "docker/engine.h"
#include "proxy/router.h"

namespace bim::fakes {

// Runs nothing; answers each command through `handler` (default: OK, no output) and records argv.
class FakeRunner : public CommandRunner {
 public:
  std::function<Status(const std::vector<std::string>& argv, std::string* output)> handler;
  Status Run(const std::vector<std::string>& argv, std::string* output) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      calls.push_back(argv);
    }
    output->clear();
    return handler ? handler(argv, output) : Status::OK();  // unlocked: a handler may block
  }
  Status RunAttached(const std::vector<std::string>& argv, bool) override {
    std::string ignored;
    return Run(argv, &ignored);
  }
  std::mutex mu;
  std::vector<std::vector<std::string>> calls;
};

// Images: builds "succeed" instantly (or fail with `build_error`), tags live in a set.
class FakeImages : public ImageBuilder {
 public:
  Status BuildImage(const BuildOptions& options, const LineSink& on_output, std::string* image_id,
                    const CancelCheck& = nullptr) const override {
    std::lock_guard<std::mutex> lock(mu);
    if (on_output) on_output("Step 1/1 : FROM scratch");
    builds.push_back(options);
    if (!build_error.ok()) return build_error;
    tags.insert(options.tag);
    // The same content builds the same image (as Docker's cache does); unknown content gets its own.
    auto content = contents.find(options.dockerfile);
    *image_id = ids[options.tag] =
        content == contents.end() ? "sha256:" + options.tag : "sha256:" + options.dockerfile + "@" + content->second;
    return Status::OK();
  }
  Status RemoveImage(const std::string& ref, bool) const override {
    std::lock_guard<std::mutex> lock(mu);
    return tags.erase(ref) ? Status::OK() : Status::NotFound("no image " + ref);
  }
  Status InspectImage(const std::string& ref, ImageInfo* out) const override {
    std::lock_guard<std::mutex> lock(mu);
    if (!tags.count(ref)) return Status::NotFound("no image " + ref);
    out->id = ids.count(ref) ? ids.at(ref) : "sha256:" + ref;
    out->tags = {ref};
    return Status::OK();
  }
  Status ListImages(const Labels&, std::vector<ImageInfo>* out) const override {
    std::lock_guard<std::mutex> lock(mu);
    out->clear();
    for (const auto& t : tags) out->push_back(ImageInfo{"sha256:" + t, {t}, {}, 0});
    return Status::OK();
  }
  // Loading "succeeds" without reading the archive; tagging adds the tag.
  Status LoadImage(const std::string&, std::vector<std::string>* loaded) const override {
    loaded->clear();
    return Status::OK();
  }
  Status TagImage(const std::string&, const std::string& repo, const std::string& tag) const override {
    std::lock_guard<std::mutex> lock(mu);
    tags.insert(repo + ":" + tag);
    return Status::OK();
  }
  Status PullImage(const std::string& ref, const LineSink&, const CancelCheck&) const override {
    std::lock_guard<std::mutex> lock(mu);
    if (!pullable.count(ref)) return Status::FailedPrecondition("docker pull " + ref + ": not found in the registry");
    tags.insert(ref);
    return Status::OK();
  }
  mutable std::mutex mu;
  mutable std::set<std::string> tags;
  mutable std::map<std::string, std::string> ids;      // tag -> image id
  mutable std::vector<BuildOptions> builds;
  std::map<std::string, std::string> contents;         // Dockerfile -> what it builds (same content: same id)
  std::set<std::string> pullable;  // refs PullImage "finds"
  Status build_error;
};

// Workloads are map entries; each instance gets endpoint 127.0.0.1:<next_port++>.
class FakeEngine : public Engine {
 public:
  Status Start(const WorkloadSpec& spec, Workload* out) override {
    std::lock_guard<std::mutex> lock(mu);
    started.push_back(spec.name);
    specs[spec.name] = spec;
    if (!start_error.ok()) return start_error;
    Workload w;
    w.name = spec.name;
    w.labels = spec.labels;
    for (int i = 0; i < spec.replicas; ++i) {
      Instance inst;
      inst.id = spec.name + "-" + std::to_string(i);
      inst.state = exits.count(spec.name) ? "exited" : "running";
      inst.running = !exits.count(spec.name);
      inst.exit_code = exits.count(spec.name) ? exits[spec.name] : 0;
      inst.failed = exits.count(spec.name) > 0;
      // Workers (a service with no port) have no endpoint; hand-made specs in tests get one.
      if (spec.container_port > 0 || !spec.labels.count("im.backend.bim.service"))
        inst.endpoint = Endpoint{"127.0.0.1", next_port++};
      w.instances.push_back(inst);
    }
    workloads[spec.name] = w;
    *out = w;
    return Status::OK();
  }
  Status Inspect(const std::string& name, Workload* out) override {
    std::lock_guard<std::mutex> lock(mu);
    auto it = workloads.find(name);
    if (it == workloads.end()) return Status::NotFound("no workload " + name);
    *out = it->second;
    return Status::OK();
  }
  Status Remove(const std::string& name, int) override {
    std::lock_guard<std::mutex> lock(mu);
    removed.push_back(name);
    workloads.erase(name);
    return Status::OK();
  }
  Status List(const Labels& labels, std::vector<Workload>* out) override {
    std::lock_guard<std::mutex> lock(mu);
    out->clear();
    for (const auto& [name, w] : workloads) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = w.labels.find(k);
        match = match && it != w.labels.end() && (v.empty() || it->second == v);
      }
      if (match) out->push_back(w);
    }
    return Status::OK();
  }
  Status Logs(const std::string& name, int, bool, const LineSink& on_line, const CancelCheck&) override {
    std::lock_guard<std::mutex> lock(mu);
    if (!workloads.count(name)) return Status::NotFound("no workload " + name);
    on_line("log line of " + name);
    return Status::OK();
  }
  Status WatchEvents(const Labels&, const EventHandler& on_event, const CancelCheck& cancelled) override {
    while (!cancelled()) {
      std::vector<InstanceEvent> due;
      {
        std::lock_guard<std::mutex> lock(mu);
        due.swap(pending_events);
      }
      for (const auto& e : due) on_event(e);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Status::OK();
  }
  Status PublishImage(const std::string& local_ref, std::string* engine_ref) override {
    *engine_ref = local_ref;
    return Status::OK();
  }
  Status Nodes(const Labels&, std::vector<EngineNode>* out) override {
    out->clear();
    return Status::OK();
  }
  Status Freeze(const std::string& name, bool frozen) override {
    std::lock_guard<std::mutex> lock(mu);
    if (!workloads.count(name)) return Status::NotFound("no workload " + name);
    freezes.push_back((frozen ? "freeze " : "thaw ") + name);
    return Status::OK();
  }
  Status CheckVolumeCopies() const override {
    return volume_copies_supported ? Status::OK() : Status::FailedPrecondition("this engine copies no volumes");
  }
  Status EnsureVolume(const VolumeSpec& spec) override {
    std::lock_guard<std::mutex> lock(mu);
    if (!volumes.count(spec.name)) volumes[spec.name] = VolumeInfo{spec.name, spec.labels, 0, ""};
    return Status::OK();
  }
  Status ListVolumes(const Labels& labels, bool, std::vector<VolumeInfo>* out) override {
    std::lock_guard<std::mutex> lock(mu);
    out->clear();
    for (const auto& [name, v] : volumes) {
      bool match = true;
      for (const auto& [k, val] : labels) match = match && v.labels.count(k) && (val.empty() || v.labels.at(k) == val);
      if (match) out->push_back(v);
    }
    return Status::OK();
  }
  Status RemoveVolume(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu);
    volumes.erase(name);
    return Status::OK();
  }
  Status ExportVolume(const VolumeSpec& spec, const std::string&, const ByteSink& on_data) override {
    std::lock_guard<std::mutex> lock(mu);
    if (!volumes.count(spec.name)) return Status::NotFound("no volume " + spec.name);
    on_data("tar of " + spec.name);
    return Status::OK();
  }
  Status ImportVolume(const VolumeSpec& spec, const std::string&, const std::string&) override {
    std::lock_guard<std::mutex> lock(mu);
    volumes[spec.name] = VolumeInfo{spec.name, spec.labels, 0, ""};
    return Status::OK();
  }
  Status EnsureNetwork(const NetworkSpec& spec) override {
    std::lock_guard<std::mutex> lock(mu);
    networks.insert(spec.name);
    return Status::OK();
  }
  Status RemoveNetwork(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu);
    networks.erase(name);
    return Status::OK();
  }

  // Test controls.
  void SetInstances(const std::string& name, std::vector<Instance> instances) {
    std::lock_guard<std::mutex> lock(mu);
    workloads[name].instances = std::move(instances);
  }
  void Emit(InstanceEvent e) {
    std::lock_guard<std::mutex> lock(mu);
    pending_events.push_back(std::move(e));
  }
  bool Has(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu);
    return workloads.count(name) > 0;
  }

  std::mutex mu;
  std::map<std::string, Workload> workloads;
  std::map<std::string, WorkloadSpec> specs;     // as last started, by name
  std::map<std::string, int> exits;              // workloads that exit at once with this code when started
  bool volume_copies_supported = true;  // CheckVolumeCopies: false plays one that cannot copy them (Swarm)
  std::map<std::string, VolumeInfo> volumes;
  std::set<std::string> networks;
  std::vector<std::string> started, removed, freezes;
  std::vector<InstanceEvent> pending_events;
  Status start_error;
  int next_port = 40000;
};

// Routes and sites in maps; in-flight counts set by the test.
class FakeRouter : public Router {
 public:
  Status Start(const std::vector<Site>& s, const RouteTable& r) override {
    std::lock_guard<std::mutex> lock(mu);
    sites.clear();
    for (const auto& site : s) sites[site.app] = site;
    routes = r;
    ++starts;
    return Status::OK();
  }
  Status SetRoute(const std::string& route, const std::vector<Endpoint>& backends) override {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back("set " + route + " " + JoinEndpoints(backends));
    if (!set_route_error.ok()) return set_route_error;
    routes[route] = backends;
    return Status::OK();
  }
  Status RemoveRoute(const std::string& route) override {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back("remove " + route);
    routes.erase(route);
    return Status::OK();
  }
  Status PutSite(const Site& site) override {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back("site " + site.app);
    if (!put_site_error.ok()) return put_site_error;
    sites[site.app] = site;
    return Status::OK();
  }
  Status RemoveSite(const std::string& app) override {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back("unsite " + app);
    sites.erase(app);
    return Status::OK();
  }
  Status InFlight(const std::vector<Endpoint>& backends, std::vector<int64_t>* counts) override {
    std::lock_guard<std::mutex> lock(mu);
    counts->clear();
    for (const auto& b : backends) counts->push_back(in_flight[b.ToString()]);
    return Status::OK();
  }
  Status GetRoute(const std::string& route, std::vector<Endpoint>* backends) override {
    std::lock_guard<std::mutex> lock(mu);
    auto it = routes.find(route);
    *backends = it == routes.end() ? std::vector<Endpoint>{} : it->second;
    return Status::OK();
  }
  Status Stop() override { return Status::OK(); }

  std::vector<Endpoint> Route(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu);
    return routes.count(key) ? routes[key] : std::vector<Endpoint>{};
  }
  void SetInFlight(const std::string& backend, int64_t n) {
    std::lock_guard<std::mutex> lock(mu);
    in_flight[backend] = n;
  }

  std::mutex mu;
  std::map<std::string, Site> sites;
  RouteTable routes;
  std::map<std::string, int64_t> in_flight;
  std::vector<std::string> log;
  Status set_route_error, put_site_error;
  int starts = 0;
};

}  // namespace bim::fakes
