// Releases that reuse existing images: rollback, env changes and scale, plus image pruning.
#include <algorithm>
#include <set>

#include "core/deploy_plan.h"
#include "core/placement.h"
#include "core/validate.h"
#include "server/context_store.h"
#include "server/deployer.h"

namespace bim {

using nlohmann::json;

Status Deployer::Rollback(const std::string& app_name, int64_t to_version, const std::string& actor, bool wait,
                          const EventSink& events, const CancelCheck& cancelled, DeployOutcome* out) {
  ReleaseSpec spec;
  spec.app = app_name;
  spec.kind = "rollback";
  spec.actor = actor;
  spec.wait = wait;
  auto prepare = [&](App* app, ReleaseSpec* spec) -> Status {
    std::vector<Release> releases;
    Status s = store_->ListReleases(app->name, 0, &releases);
    if (!s.ok()) return s;
    const Release* target = nullptr;
    for (const auto& r : releases) {  // newest first
      bool ran = r.status == release_status::kLive || r.status == release_status::kRetired;
      if (to_version > 0 ? r.version == to_version : (ran && r.version < app->live_version && r.status != release_status::kLive)) {
        target = &r;
        break;
      }
    }
    if (!target) {
      if (to_version > 0)
        return Status::NotFound("app \"" + app->name + "\" has no release " + ReleaseName(to_version) +
                                " (see `bim releases " + app->name + "`)");
      return Status::NotFound("app \"" + app->name + "\" has no earlier release to roll back to");
    }
    if (target->status != release_status::kLive && target->status != release_status::kRetired)
      return Status::FailedPrecondition(ReleaseName(target->version) + " never went live (" + target->status +
                                        "); pick a release that did, see `bim releases " + app->name + "`");
    if (target->version == app->live_version)
      return Status::FailedPrecondition(ReleaseName(target->version) + " is already live");
    std::vector<ReleaseService> records;
    if (!(s = LoadServices(*app, *target, &records)).ok()) return s;
    EnvList env;
    if (!(s = store_->LoadReleaseEnv(target->id, &env)).ok()) return s;
    if (!(s = ReuseServices(records, target->version, spec)).ok()) return s;
    for (const auto& svc : spec->services.services) {
      if (!svc.http.main) continue;
      app->port = svc.http.port;
      app->health_path = svc.http.health_path;
    }
    spec->env = env;
    spec->context_digest = target->context_digest;
    spec->git_commit = target->git_commit;
    spec->git_dirty = target->git_dirty;
    spec->source_digest = target->source_digest;
    spec->audit_detail = "to " + ReleaseName(target->version);
    events({{"event", "step"}, {"step", "rollback"},
            {"message", "Rolling back to " + ReleaseName(target->version) + " (image " + target->image_tag +
                            (records.size() > 1 ? " and " + std::to_string(records.size() - 1) + " more services" : "") + ")"}});
    return Status::OK();
  };
  return Execute(spec, prepare, events, cancelled, out);
}

Status Deployer::ChangeEnv(const std::string& app_name, const EnvList& set, const std::vector<std::string>& unset,
                           const std::string& actor, bool wait, const EventSink& events, const CancelCheck& cancelled,
                           DeployOutcome* out) {
  for (const auto& var : set)
    if (Status s = ValidateEnvKey(var.key); !s.ok()) return s;
  for (const auto& key : unset)
    if (Status s = ValidateEnvKey(key); !s.ok()) return s;
  auto apply = [&](EnvList env) {
    for (const auto& var : set) SetEnv(&env, var.key, var.value);
    env.erase(std::remove_if(env.begin(), env.end(),
                             [&](const EnvVar& v) { return std::find(unset.begin(), unset.end(), v.key) != unset.end(); }),
              env.end());
    return env;
  };
  // Only key names go into the audit detail, never values.
  std::string detail;
  for (const auto& var : set) detail += " set " + var.key;
  for (const auto& key : unset) detail += " unset " + key;

  App app;
  Status s = store_->GetApp(app_name, &app);
  if (!s.ok()) return s;
  if (app.live_version == 0) {
    // Nothing runs yet: the stored env is what the next deploy starts from.
    AppLocks::Holder lock = locks_.Acquire(app_name, "an env change");
    EnvList stored;
    if (!(s = store_->GetAppEnv(app_name, &stored)).ok() && !s.IsNotFound()) return s;
    if (!(s = store_->SetAppEnv(app_name, apply(stored))).ok()) return s;
    AuditEntry audit{0, 0, actor, "env", app_name, "ok", "stored only (nothing live)" + detail};
    store_->AppendAudit(&audit);
    out->url = AppUrl(app_name);
    return Status::OK();
  }

  ReleaseSpec spec;
  spec.app = app_name;
  spec.kind = "env";
  spec.actor = actor;
  spec.wait = wait;
  spec.audit_detail = detail.empty() ? "" : detail.substr(1);
  auto prepare = [&](App* app, ReleaseSpec* spec) -> Status {
    Release live;
    Status s = store_->GetRelease(app->name, app->live_version, &live);
    if (!s.ok()) return s;
    EnvList live_env, stored;
    if (!(s = store_->LoadReleaseEnv(live.id, &live_env)).ok()) return s;
    if (!(s = store_->GetAppEnv(app->name, &stored)).ok() && !s.IsNotFound()) return s;
    std::vector<ReleaseService> records;
    if (!(s = LoadServices(*app, live, &records)).ok()) return s;
    // The stored env changes even if the new release then fails: the user asked for it, and the
    // next deploy should start from it.
    if (!(s = store_->SetAppEnv(app->name, apply(stored))).ok()) return s;
    spec->env = apply(live_env);
    // Every service runs its live image with the change applied to its env.
    for (auto& record : records) record.env = apply(record.env);
    if (!(s = ReuseServices(records, live.version, spec)).ok()) return s;
    spec->context_digest = live.context_digest;
    spec->git_commit = live.git_commit;
    spec->git_dirty = live.git_dirty;
    spec->source_digest = live.source_digest;
    return Status::OK();
  };
  return Execute(spec, prepare, events, cancelled, out);
}

Status Deployer::Scale(const std::string& app_name, int replicas, const std::string& actor, bool wait,
                       const EventSink& events, const CancelCheck& cancelled, DeployOutcome* out) {
  if (Status s = ValidateReplicas(replicas); !s.ok()) return s;
  ReleaseSpec spec;
  spec.app = app_name;
  spec.kind = "scale";
  spec.actor = actor;
  spec.wait = wait;
  spec.audit_detail = "to " + std::to_string(replicas) + " replicas";
  auto prepare = [&](App* app, ReleaseSpec* spec) -> Status {
    if (app->live_version == 0)
      return Status::FailedPrecondition("app \"" + app->name + "\" has no live release to scale (deploy it first)");
    Release live;
    Status s = store_->GetRelease(app->name, app->live_version, &live);
    if (!s.ok()) return s;
    if (!(s = store_->LoadReleaseEnv(live.id, &spec->env)).ok()) return s;
    // Every service runs its live image and env again; the main one with the new count.
    std::vector<ReleaseService> records;
    if (!(s = LoadServices(*app, live, &records)).ok()) return s;
    if (!(s = ReuseServices(records, live.version, spec)).ok()) return s;
    spec->context_digest = live.context_digest;
    spec->git_commit = live.git_commit;
    spec->git_dirty = live.git_dirty;
    spec->source_digest = live.source_digest;
    events({{"event", "step"}, {"step", "scale"},
            {"message", "Scaling from " + std::to_string(live.replicas) + " to " + std::to_string(replicas) +
                            " replicas (image " + live.image_tag + ")"}});
    // The app's count changes once this release is live (Execute), so a scale that fails leaves it.
    spec->replicas = replicas;
    return Status::OK();
  };
  return Execute(spec, prepare, events, cancelled, out);
}

Status Deployer::EffectiveEnv(const std::string& app_name, EnvList* out) {
  App app;
  Status s = store_->GetApp(app_name, &app);
  if (!s.ok()) return s;
  if (app.live_version == 0) {
    s = store_->GetAppEnv(app_name, out);
    return s.IsNotFound() ? Status::OK() : s;
  }
  Release live;
  if (!(s = store_->GetRelease(app_name, app.live_version, &live)).ok()) return s;
  return store_->LoadReleaseEnv(live.id, out);
}

Status Deployer::ReuseServices(const std::vector<ReleaseService>& records, int64_t version, ReleaseSpec* spec) {
  spec->services = AppServices();
  for (const auto& record : records) {
    ServiceSpec svc;
    Status s = ServiceSpecFromJson(json::parse(record.spec, nullptr, false), &svc);
    if (!s.ok()) return s;
    svc.env = record.env;
    ImageInfo image;
    if (!images_->InspectImage(record.image_tag, &image).ok())
      return Status::FailedPrecondition("the image of " + ReleaseName(version) + (records.size() > 1 ? " service " + svc.name : "") +
                                        " (" + record.image_tag + ") was pruned: bimd keeps the images of the last " +
                                        std::to_string(options_.keep_releases) + " releases; redeploy that source instead");
    for (const auto& v : svc.volumes)
      if (std::find(spec->services.volumes.begin(), spec->services.volumes.end(), v.source) == spec->services.volumes.end())
        spec->services.volumes.push_back(v.source);
    spec->services.services.push_back(std::move(svc));
    spec->reuse[record.service] = record;
  }
  return Status::OK();
}

void Deployer::PruneImages(const std::string& app_name, const std::set<std::string>* existing) {
  App app;
  std::vector<Release> releases;
  if (!store_->GetApp(app_name, &app).ok() || !store_->ListReleases(app_name, 0, &releases).ok()) return;
  // Only tags bim built for this app are ever removed, never an image a Compose file names.
  auto ours = [&](const std::string& tag) { return tag.starts_with(std::string(kImageRepository) + "/" + app_name + ":"); };
  std::set<std::string> keep_tags;
  int kept = 0;
  std::vector<const Release*> older;
  for (const auto& r : releases) {  // newest first
    if (r.status != release_status::kLive && r.status != release_status::kRetired) continue;
    if (kept < options_.keep_releases || r.status == release_status::kLive) {
      std::vector<ReleaseService> records;
      LoadServices(app, r, &records);
      for (const auto& record : records) keep_tags.insert(record.image_tag);
      ++kept;
    } else {
      older.push_back(&r);
    }
  }
  for (const Release* r : older) {
    std::vector<ReleaseService> records;
    LoadServices(app, *r, &records);
    for (const auto& record : records) {
      const std::string& tag = record.image_tag;
      if (keep_tags.count(tag) || tag.empty() || !ours(tag)) continue;
      if (existing && !existing->count(tag)) continue;  // pruned before
      // Untag only: another kept release may run the same image id under its own tag.
      Status s = images_->RemoveImage(tag, false);
      if (!s.ok() && !s.IsNotFound())
        std::fprintf(stderr, "bimd: warning: cannot prune image %s: %s\n", tag.c_str(), s.message().c_str());
      keep_tags.insert(tag);  // tried once; a second release on the same tag need not retry
    }
  }
  // Stored build contexts follow the same rule of "recent ones only" (ContextStore's bounds).
  if (contexts_) contexts_->Prune(app_name);
}

}  // namespace bim
