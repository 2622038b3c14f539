// The cluster settings of an app (bim.toml's [deploy]): how many replicas run, and where Swarm may
// place them.
//
//   [deploy]
//   replicas = 3                                   # 1-100; when absent the app keeps its count
//                                                  # (1 for a new app, else what `bim scale` set)
//   placement = ["node.labels.zone==eu", "node.role!=manager"]
//
// Placement constraints use Swarm's own syntax, since Swarm does the placing: `<attribute> == <value>`
// or `<attribute> != <value>`, where the attribute is node.id, node.hostname, node.role,
// node.platform.os, node.platform.arch, node.labels.<label> or engine.labels.<label>. bim checks the
// shape itself, so a typo is a one-line error before anything runs rather than a service that never
// schedules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim {

inline constexpr int kMaxReplicas = 100;
inline constexpr size_t kMaxPlacementConstraints = 20;

struct DeploySettings {
  int replicas = 0;                    // 0: not set in bim.toml
  std::vector<std::string> placement;  // validated constraints, as written (spaces trimmed)
};

// OK for 1..kMaxReplicas; InvalidArgument naming the range otherwise.
Status ValidateReplicas(long replicas);

// Checks one constraint (see above) and sets *normalized to it without surrounding spaces, e.g.
// "node.labels.zone == eu" -> "node.labels.zone==eu". Values and label names are 1-128 characters of
// [A-Za-z0-9._-] (labels also '/' and ':'). InvalidArgument with the rule and an example otherwise.
Status ValidatePlacementConstraint(std::string_view constraint, std::string* normalized);

// Validates every constraint (at most kMaxPlacementConstraints) and normalizes them in place.
Status ValidatePlacement(std::vector<std::string>* constraints);

}  // namespace bim
