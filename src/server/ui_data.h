// What the dashboard's pages show, gathered from the Deployer and the Store as the JSON the API answers
// with (ReleaseJson, DescribeApp, AuditJson, ...), for a caller limited to `scope` ("" = every app).
// No HTTP here: ui_routes.cpp serves the results through ui_pages.h.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "server/deployer.h"
#include "server/options.h"
#include "store/store.h"

namespace bim {

struct UiSources {
  const ServerOptions& options;
  Deployer& deployer;
  Store& store;
};

// The apps `scope` may see, for RenderUiApps.
Status UiAppsData(const UiSources& from, const std::string& scope, nlohmann::json* out);
// One app, for RenderUiApp (the caller has checked `scope` may see it). NotFound for no such app.
Status UiAppData(const UiSources& from, const std::string& app, nlohmann::json* out);
// The server, for RenderUiServer; nodes only with this scope's instances (as GET /v1/nodes).
nlohmann::json UiServerData(const UiSources& from, const nlohmann::json& server_info, const std::string& scope);

}  // namespace bim
