// Failpoints: named places in bimd where a crash test can freeze the process to SIGKILL it at exactly
// that step of a deploy. Inactive unless the BIM_FAILPOINT environment variable names the point, so
// they cost one getenv-cached string compare in production.
//
// When active, reaching the point writes "<BIM_FAILPOINT_FILE>" (default /tmp/bim-failpoint-<pid>)
// with the point's name and then sleeps forever, waiting for the test's SIGKILL.
#pragma once

namespace bim {

// Points used: "upload" (part of the context received), "build" (during the image build),
// "health" (container started, before it is healthy), "route-written" (the route file points at the new
// release, before nginx is told), "switched" (nginx routes to the new release, before the release is
// recorded live).
void Failpoint(const char* name);

}  // namespace bim
