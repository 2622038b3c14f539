// SwarmEngine's named volumes: each kept on one node, recorded as a node label, and every workload
// mounting it placed there (see swarm_engine.h, "Volumes").
#include <algorithm>
#include <thread>

#include "core/deploy_plan.h"
#include "docker/engine_json.h"
#include "swarm/swarm_engine.h"

namespace bim {
namespace {

bool SameText(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Whether `node` meets one placement constraint, as far as it can be judged from the node alone
// (Swarm judges the rest: engine labels, platform).
bool Meets(const NodeInfo& node, const std::string& constraint) {
  size_t op = constraint.find("==");
  bool equal = op != std::string::npos;
  if (!equal) op = constraint.find("!=");
  if (op == std::string::npos) return true;
  std::string key = Trim(constraint.substr(0, op)), value = Trim(constraint.substr(op + 2));
  std::string actual;
  bool present = true;
  if (key == "node.id") actual = node.id;
  else if (key == "node.hostname") actual = node.hostname;
  else if (key == "node.role") actual = node.role;
  else if (key.starts_with("node.labels.")) {
    auto it = node.labels.find(key.substr(12));
    present = it != node.labels.end();
    if (present) actual = it->second;
  } else {
    return true;
  }
  return equal ? present && SameText(actual, value) : !present || !SameText(actual, value);
}

// The labels a volume of this workload carries: the workload's bimd instance and app, and the app's
// name for the volume (the engine name is VolumeName(instance, app, volume)).
Labels VolumeLabels(const WorkloadSpec& spec, const std::string& volume) {
  Labels out;
  for (const char* key : {labels::kManaged, labels::kInstance, labels::kApp})
    if (auto it = spec.labels.find(key); it != spec.labels.end()) out[key] = it->second;
  std::string prefix = VolumeName(out[labels::kInstance], out[labels::kApp], "");
  if (volume.starts_with(prefix)) out[labels::kVolume] = volume.substr(prefix.size());
  return out;
}

const NodeInfo* PinnedNode(const std::vector<NodeInfo>& nodes, const std::string& volume) {
  for (const auto& n : nodes)
    if (n.labels.count(kVolumePinPrefix + volume)) return &n;
  return nullptr;
}


}  // namespace

Status ChooseVolumeNode(const std::vector<NodeInfo>& nodes, const std::vector<std::string>& volumes,
                        const std::vector<std::string>& placement, std::string* node_id,
                        std::vector<std::string>* unpinned) {
  node_id->clear();
  unpinned->clear();
  std::string pinned_volume;
  for (const auto& v : volumes) {
    const NodeInfo* n = PinnedNode(nodes, v);
    if (!n) {
      unpinned->push_back(v);
    } else if (node_id->empty()) {
      *node_id = n->id;
      pinned_volume = v;
    } else if (*node_id != n->id) {
      return Status::FailedPrecondition("volumes " + pinned_volume + " and " + v +
                                        " are kept on different nodes, and one service cannot run on both: mount "
                                        "them in different services");
    }
  }
  if (!node_id->empty() || volumes.empty()) return Status::OK();
  auto pins = [](const NodeInfo& n) {
    return std::count_if(n.labels.begin(), n.labels.end(), [](const auto& l) { return l.first.starts_with(kVolumePinPrefix); });
  };
  const NodeInfo* best = nullptr;
  for (const auto& n : nodes) {
    if (!n.usable() || !std::all_of(placement.begin(), placement.end(), [&](const std::string& c) { return Meets(n, c); }))
      continue;
    if (!best || pins(n) < pins(*best) || (pins(n) == pins(*best) && n.hostname < best->hostname)) best = &n;
  }
  if (!best)
    return Status::FailedPrecondition("no ready, active node meets the placement to keep volume " + volumes.front() +
                                      " on (see `bim nodes`; check bim.toml [deploy] placement)");
  *node_id = best->id;
  return Status::OK();
}

Status SwarmEngine::PinVolumes(const WorkloadSpec& spec, SwarmServiceSpec* service) {
  std::vector<std::string> volumes;
  for (const auto& v : spec.volumes) volumes.push_back(v.volume);
  std::string node_id;
  Status s;
  // A node update names the node's version: another update in between (a label, a drain) makes it
  // fail, and it is tried again on a fresh read.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::vector<NodeInfo> nodes;
    std::vector<std::string> unpinned;
    if (!(s = swarm_.ListNodes(&nodes)).ok()) return s;
    if (!(s = ChooseVolumeNode(nodes, volumes, spec.placement, &node_id, &unpinned)).ok()) return s;
    if (unpinned.empty()) break;
    Labels pins;
    for (const auto& v : unpinned) pins[kVolumePinPrefix + v] = engine_json::Dump(engine_json::LabelsJson(VolumeLabels(spec, v)));
    s = swarm_.UpdateNode(node_id, pins, "");
    if (s.ok()) break;
  }
  if (!s.ok()) return s.Wrap("choosing the node to keep the volumes of " + spec.name + " on");
  service->constraints.push_back("node.id==" + node_id);
  for (const auto& v : spec.volumes) service->volume_labels[v.volume] = VolumeLabels(spec, v.volume);
  return Status::OK();
}

Status SwarmEngine::CheckVolumeCopies() const {
  return Status::FailedPrecondition(
      "volume backup and restore are not supported on the Swarm engine (a volume lives on its node's dockerd, which "
      "bimd does not reach): copy it on that node with docker (`docker node ls -f node.label=" + std::string(kVolumePinPrefix) +
      "VOLUME` finds it)");
}

Status SwarmEngine::Freeze(const std::string&, bool) { return CheckVolumeCopies(); }
Status SwarmEngine::EnsureVolume(const VolumeSpec&) { return Status::OK(); }  // Start pins, the first task creates

Status SwarmEngine::ListVolumes(const Labels& labels, bool, std::vector<VolumeInfo>* out) {
  out->clear();
  std::vector<NodeInfo> nodes;
  if (Status s = swarm_.ListNodes(&nodes); !s.ok()) return s;
  for (const auto& n : nodes) {
    for (const auto& [key, value] : n.labels) {
      if (!key.starts_with(kVolumePinPrefix)) continue;
      VolumeInfo v;
      v.name = key.substr(std::string(kVolumePinPrefix).size());
      v.labels = engine_json::LabelsOf(nlohmann::json::parse(value, nullptr, false));
      bool match = std::all_of(labels.begin(), labels.end(), [&](const auto& want) {
        auto it = v.labels.find(want.first);
        return it != v.labels.end() && (want.second.empty() || it->second == want.second);
      });
      if (!match) continue;
      out->push_back(std::move(v));
    }
  }
  return Status::OK();
}

Status SwarmEngine::RemoveVolume(const std::string& name) {
  std::vector<NodeInfo> nodes;
  SwarmState here;
  Status s = swarm_.ListNodes(&nodes);
  if (s.ok()) s = swarm_.Info(&here);
  if (!s.ok()) return s;
  const NodeInfo* node = PinnedNode(nodes, name);
  if (!node) return Status::OK();
  if (node->id == here.node_id) {
    // The service using it may still be stopping (Swarm removes tasks after their service).
    s = docker_->RemoveVolume(name);
    for (int i = 0; i < 100 && s.code() == Code::kConflict; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      s = docker_->RemoveVolume(name);
    }
    if (!s.ok() && !s.IsNotFound()) return s;
  }
  if (!(s = swarm_.UpdateNode(node->id, {}, "", {kVolumePinPrefix + name})).ok()) return s.Wrap("forgetting where " + name + " is kept");
  if (node->id == here.node_id) return Status::OK();
  return Status::FailedPrecondition("volume " + name + " is kept on node " + node->hostname +
                                    ", whose dockerd bimd does not reach: remove it there with `docker volume rm " + name + "`");
}

Status SwarmEngine::ExportVolume(const VolumeSpec&, const std::string&, const ByteSink&) { return CheckVolumeCopies(); }
Status SwarmEngine::ImportVolume(const VolumeSpec&, const std::string&, const std::string&) { return CheckVolumeCopies(); }

}  // namespace bim
