#include "docker/engine.h"

#include <algorithm>

namespace bim {

std::vector<Endpoint> Workload::RunningEndpoints() const {
  std::vector<Endpoint> out;
  for (const auto& i : instances)
    if (i.running && i.endpoint.port > 0) out.push_back(i.endpoint);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace bim
