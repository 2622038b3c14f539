// An app's named volumes: listing them, and copying one out (backup) or in (restore).
#include <algorithm>
#include <thread>

#include "core/deploy_plan.h"
#include "base/file_util.h"
#include "server/context_check.h"
#include "server/deployer.h"

namespace bim {

using nlohmann::json;

namespace {

// The live release's services that mount `volume` (in start order), and an image to copy with.
struct VolumeUsers {
  std::vector<ReleaseService> services;
  std::string image;  // a mounting service's image, else any image of the release
};

VolumeUsers UsersOf(const std::vector<ReleaseService>& records, const std::string& volume) {
  VolumeUsers users;
  for (const auto& record : records) {
    ServiceSpec spec;
    if (!ServiceSpecFromJson(json::parse(record.spec, nullptr, false), &spec).ok()) continue;
    bool mounts = std::any_of(spec.volumes.begin(), spec.volumes.end(), [&](const ComposeVolume& v) { return v.source == volume; });
    if (!mounts) continue;
    users.services.push_back(record);
    if (users.image.empty()) users.image = record.image_tag;
  }
  if (users.image.empty() && !records.empty()) users.image = records.front().image_tag;
  return users;
}

}  // namespace

Status Deployer::ListVolumes(const std::string& app_name, json* out) {
  App app;
  Status s = store_->GetApp(app_name, &app);
  if (!s.ok()) return s;
  std::vector<ReleaseService> records;
  Release live;
  if (app.live_version > 0 && store_->GetRelease(app_name, app.live_version, &live).ok()) LoadServices(app, live, &records);
  std::vector<VolumeInfo> found;
  if (!(s = engine_->ListVolumes({{labels::kInstance, instance_id_}, {labels::kApp, app_name}}, true, &found)).ok())
    return s;
  json list = json::array();
  for (const auto& v : found) {
    std::string name = v.labels.count(labels::kVolume) ? v.labels.at(labels::kVolume) : v.name;
    json users = json::array();
    for (const auto& record : UsersOf(records, name).services) users.push_back(record.service);
    list.push_back({{"name", name}, {"engine_name", v.name}, {"size_bytes", v.size_bytes}, {"created_at", v.created_at},
                    {"services", users}});
  }
  std::sort(list.begin(), list.end(), [](const json& a, const json& b) { return a["name"] < b["name"]; });
  *out = json{{"app", app_name}, {"volumes", list}};
  return Status::OK();
}

Status Deployer::BackupVolume(const std::string& app_name, const std::string& volume, const std::string& actor,
                              const ByteSink& on_data) {
  AppLocks::Holder lock = locks_.Acquire(app_name, "a backup of volume " + volume);
  json listed;
  Status s = engine_->CheckVolumeCopies();
  if (s.ok()) s = ListVolumes(app_name, &listed);
  if (!s.ok()) return s;
  auto it = std::find_if(listed["volumes"].begin(), listed["volumes"].end(), [&](const json& v) { return v["name"] == volume; });
  if (it == listed["volumes"].end())
    return Status::NotFound("app \"" + app_name + "\" has no volume \"" + volume + "\" (see `bim volumes " + app_name + "`)");
  App app;
  Release live;
  std::vector<ReleaseService> records;
  if (!(s = store_->GetApp(app_name, &app)).ok()) return s;
  if (app.live_version > 0 && store_->GetRelease(app_name, app.live_version, &live).ok()) LoadServices(app, live, &records);
  VolumeUsers users = UsersOf(records, volume);
  if (users.image.empty())
    return Status::FailedPrecondition("app \"" + app_name + "\" has no live release to copy volume " + volume + " with");
  std::string image;
  if (!(s = engine_->PublishImage(users.image, &image)).ok()) return s;
  // Frozen, not stopped: the copy is consistent as of one moment and the services go on after it.
  std::vector<std::string> frozen;
  for (const auto& user : users.services) {
    if (!(s = engine_->Freeze(user.workload, true)).ok()) break;
    frozen.push_back(user.workload);
  }
  if (s.ok()) {
    Labels labels{{labels::kManaged, "true"}, {labels::kInstance, instance_id_}, {labels::kApp, app_name},
                  {labels::kVolume, volume}};
    s = engine_->ExportVolume(VolumeSpec{VolumeName(instance_id_, app_name, volume), labels}, image, on_data);
  }
  for (const auto& name : frozen)
    if (Status r = engine_->Freeze(name, false); !r.ok())
      std::fprintf(stderr, "bimd: warning: cannot resume %s after a backup: %s\n", name.c_str(), r.message().c_str());
  AuditEntry audit{0, 0, actor, "backup", app_name, s.ok() ? "ok" : s.message(), "volume " + volume};
  store_->AppendAudit(&audit);
  return s;
}

Status Deployer::RestoreVolume(const std::string& app_name, const std::string& volume, const std::string& actor,
                               const std::string& tar_path, const EventSink& events) {
  AppLocks::Holder lock = locks_.Acquire(app_name, "a restore of volume " + volume);
  App app;
  Status s = engine_->CheckVolumeCopies();  // before anything is stopped
  if (s.ok()) s = store_->GetApp(app_name, &app);
  if (!s.ok()) return s;
  Release live;
  std::vector<ReleaseService> records;
  if (app.live_version == 0 || !store_->GetRelease(app_name, app.live_version, &live).ok() ||
      !(s = LoadServices(app, live, &records)).ok())
    return s.ok() ? Status::FailedPrecondition("app \"" + app_name + "\" has no live release; deploy it before restoring a volume")
                  : s;
  VolumeUsers users = UsersOf(records, volume);
  json listed;
  if (!(s = ListVolumes(app_name, &listed)).ok()) return s;
  bool exists = std::any_of(listed["volumes"].begin(), listed["volumes"].end(), [&](const json& v) { return v["name"] == volume; });
  if (!exists && users.services.empty())
    return Status::NotFound("app \"" + app_name + "\" has no volume \"" + volume + "\" (see `bim volumes " + app_name + "`)");
  // The archive comes from the network: the build-context rules keep devices, absolute paths and
  // links out of the volume.
  ContextLimits limits;
  limits.max_entries = options_.context_limits.max_entries;
  if (!(s = CheckBuildContext(tar_path, limits, "")).ok()) return Status(s.code(), "the archive: " + s.message());
  std::string image;
  if (!(s = engine_->PublishImage(users.image, &image)).ok()) return s;

  // Stopped, then started again from the live release: nothing may write while the data is replaced.
  for (auto it = users.services.rbegin(); it != users.services.rend(); ++it) {
    events({{"event", "step"}, {"step", "stop"}, {"message", "Stopping " + it->workload + " (service " + it->service + ")"}});
    if (!(s = engine_->Remove(it->workload, options_.stop_timeout_seconds)).ok()) return s.Wrap("stopping " + it->workload);
  }
  events({{"event", "step"}, {"step", "restore"}, {"message", "Replacing the contents of volume " + volume}});
  Labels labels{{labels::kManaged, "true"}, {labels::kInstance, instance_id_}, {labels::kApp, app_name},
                {labels::kVolume, volume}};
  VolumeSpec spec{VolumeName(instance_id_, app_name, volume), labels};
  // A replaced workload still draining after the last release may hold the volume for a moment.
  long long deadline = MonotonicMillis() + options_.drain_grace.count() + options_.stop_timeout_seconds * 1000LL;
  while ((s = engine_->ImportVolume(spec, image, tar_path)).code() == Code::kConflict && MonotonicMillis() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Status restarted;
  for (const auto& user : users.services) {
    events({{"event", "step"}, {"step", "start"}, {"message", "Starting " + user.workload + " (service " + user.service + ")"}});
    if (Status r = RestartRecorded(app_name, user, records.size()); !r.ok() && restarted.ok()) restarted = r.Wrap("starting " + user.workload);
  }
  AuditEntry audit{0, 0, actor, "restore", app_name, s.ok() ? (restarted.ok() ? "ok" : restarted.message()) : s.message(),
                   "volume " + volume};
  store_->AppendAudit(&audit);
  return s.ok() ? restarted : s;
}

}  // namespace bim
