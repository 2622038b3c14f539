// One release in progress, as the Deployer's files (deployer.cpp, deployer_services.cpp) share it.
// Private to src/server; not thread-safe (one release runs on one thread, under the app's lock).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "server/deployer.h"

namespace bim {

struct Deployer::ServiceAttempt {
  ServiceSpec spec;
  ServicePlan plan;
  std::string image_id;
  std::string engine_image;        // the reference the engine runs (PublishImage)
  std::string digest;              // ServiceDigest of spec and image_id
  bool built = false;              // plan.image_tag was built by this release (removed if it fails)
  const ReleaseService* previous = nullptr;  // the live release's record of this service, if any
  bool keep = false;               // unchanged: the previous workload runs on, untouched
  std::string workload;            // what runs it in this release (previous->workload when kept)
  bool started = false;            // plan.workload was started by this release
  bool stopped_previous = false;   // stop-first: the previous workload was removed before the start
  std::vector<Endpoint> backends;  // its healthy endpoints (HTTP services), what its route switches to
};

struct Deployer::Attempt {
  App app;                         // the app's settings as this release runs them
  std::string network;             // the app's Docker network (ServicesNetwork; "" = the default bridge)
  std::string context_path;        // the build context ("" when existing images are reused)
  std::string image_archive;       // deploy --build local: an uploaded image for the main service ("" if none)
  std::string image_id;            // ... and that image's id
  EnvList env;                     // the app's env, as recorded for the release
  Release release;
  ReleasePlan plan;
  Release previous;                // the live release being replaced (previous.version == 0: none)
  std::vector<ReleaseService> previous_services;
  std::map<std::string, ReleaseService> reuse;  // rollback/env: existing images by service
  std::vector<ServiceAttempt> services;         // in start order
  ServiceAttempt* failing = nullptr;            // whose log lines explain a failure
  bool switched = false;           // routes point at this release
  std::vector<std::string> log_tail;
  long long started_ms = 0;        // monotonic
  std::chrono::milliseconds watch{0};  // watch window after the switch (0: the replaced workloads retire at once)
  bool watched = false;            // the replaced workload stays on standby (SwitchRoutes decided: Watchable)

  ServiceAttempt* Main() {
    for (auto& s : services)
      if (s.spec.http.main) return &s;
    return services.empty() ? nullptr : &services.front();
  }
};

}  // namespace bim
