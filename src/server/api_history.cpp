// Routes for the git-backed deployment history (server/history.h).
#include "server/api_context.h"
#include "server/history.h"

namespace bim {

using nlohmann::json;

void RegisterHistoryRoutes(ApiContext& ctx) {
  const ServerOptions& options = ctx.options;

  // GET /v1/apps/{app}/history?limit=N -> {"app", "commits": [newest first]}. Works for destroyed apps
  // too (their history outlives them), so there is no existence check against the store.
  // The repository is opened per request rather than shared with the writer: git makes HEAD move
  // atomically, so a reader never sees half a commit, and the route needs nothing from main.cpp.
  ctx.http.Get(R"(/v1/apps/([^/]+)/history)", ctx.ForApp([&options](const HttpRequest& req, HttpResponse& res,
                                                                    const Principal&, const std::string& app) {
    int64_t limit = 0;  // all
    if (Status s = QueryCount(req, "limit", 0, kMaxListLimit, &limit); !s.ok()) return SendError(res, s);
    json commits;
    Status s = DeployHistory::ReadLog(options.data_dir + "/history", app, static_cast<int>(limit), &commits);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, json{{"app", app}, {"commits", commits}});
  }));
}

}  // namespace bim
