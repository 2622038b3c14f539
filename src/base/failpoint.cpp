#include "base/failpoint.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/file_util.h"

#if BIM_FAILPOINTS
namespace bim {

void Failpoint(const char* name) {
  static const char* active = std::getenv("BIM_FAILPOINT");
  if (!active || std::string(active) != name) return;
  const char* file = std::getenv("BIM_FAILPOINT_FILE");
  std::string path = file ? file : "/tmp/bim-failpoint-" + std::to_string(getpid());
  WriteFileAtomically(path, std::string(name) + "\n");
  for (;;) pause();
}

}  // namespace bim
#endif  // BIM_FAILPOINTS
