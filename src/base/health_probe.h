// HealthProbe: one HTTP GET to a release's health path. Healthy means 2xx or 3xx.
#pragma once

#include <chrono>
#include <string>

#include "core/endpoint.h"
#include "core/status.h"

namespace bim {

// GETs http://127.0.0.1:<port><path> (no redirects followed, no proxy). OK for 2xx/3xx; otherwise
// Unavailable with what happened ("connection refused", "answered 500"), which the deploy shows
// when the health timeout passes.
Status ProbeHealth(int port, const std::string& path, std::chrono::milliseconds timeout);
// The same against any endpoint (a Swarm task's host:port).
Status ProbeHealth(const Endpoint& at, const std::string& path, std::chrono::milliseconds timeout);

// A free TCP port on 127.0.0.1 in 20000-32767, below the kernel's ephemeral range (bound then
// released; the caller retries on the rare collision).
Status PickFreeLoopbackPort(int* port);

}  // namespace bim
