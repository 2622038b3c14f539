#include "server/api.h"

#include <httplib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>

#include "base/file_util.h"
#include "core/deploy_plan.h"
#include "core/validate.h"
#include "server/api_requests.h"

namespace bim {

using nlohmann::json;

namespace {

void SendError(httplib::Response& res, const Status& s) {
  res.status = s.HttpStatus();
  res.set_content(json{{"error", {{"code", s.CodeName()}, {"message", s.message()}}}}.dump() + "\n",
                  "application/json");
}

void SendJson(httplib::Response& res, const json& body) {
  res.status = 200;
  res.set_content(body.dump() + "\n", "application/json");
}

// Streams NDJSON lines to the client and tells whether it is still there. When nothing was written
// for a while it writes a heartbeat, because a vanished client is only noticed when a write fails.
class NdjsonStream {
 public:
  explicit NdjsonStream(httplib::DataSink& sink) : sink_(sink), last_write_ms_(MonotonicMillis()) {}
  void Write(const json& event) {
    if (gone_) return;
    std::string line = event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    if (!sink_.write(line.data(), line.size())) gone_ = true;
    last_write_ms_ = MonotonicMillis();
  }
  bool Gone() {
    if (!gone_ && MonotonicMillis() - last_write_ms_ > 2000) Write(json{{"event", "heartbeat"}});
    return gone_;
  }

 private:
  httplib::DataSink& sink_;
  long long last_write_ms_;
  bool gone_ = false;
};

}  // namespace

ApiServer::ApiServer(const ServerOptions& options, Deployer* deployer, Store* store, Authenticator* auth)
    : options_(options), deployer_(deployer), store_(store), auth_(auth), http_(std::make_unique<httplib::Server>()) {
  Routes();
}

ApiServer::~ApiServer() = default;

Status ApiServer::Bind(int* bound_port) {
  size_t colon = options_.listen.rfind(':');
  if (colon == std::string::npos)
    return Status::InvalidArgument("--listen must be HOST:PORT (got \"" + options_.listen + "\")");
  std::string host = options_.listen.substr(0, colon);
  int port = std::atoi(options_.listen.c_str() + colon + 1);
  if (port == 0) {
    *bound_port = http_->bind_to_any_port(host);
  } else {
    *bound_port = http_->bind_to_port(host, port) ? port : -1;
  }
  if (*bound_port <= 0)
    return Status::Unavailable("cannot listen on " + options_.listen + " (in use? pick another with --listen)");
  return Status::OK();
}

void ApiServer::Serve() { http_->listen_after_bind(); }
void ApiServer::Stop() { http_->stop(); }

void ApiServer::Routes() {
  httplib::Server& http = *http_;
  // Streams (log follows, deploys) hold a thread each; the default pool of ~8 would starve.
  http.new_task_queue = [] { return new httplib::ThreadPool(64); };
  http.set_payload_max_length(static_cast<size_t>(options_.max_upload_bytes) + (1 << 20));
  http.set_read_timeout(30, 0);
  http.set_write_timeout(30, 0);

  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    // Method, path and status only: query strings and bodies may carry values we must not log.
    std::fprintf(stderr, "bimd: %s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
  });

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/healthz") return httplib::Server::HandlerResponse::Unhandled;
    std::string actor;
    Status s = auth_->Check(req.get_header_value("Authorization"), &actor);
    if (!s.ok()) {
      std::fprintf(stderr, "bimd: refused %s %s: %s\n", req.method.c_str(), req.path.c_str(), s.message().c_str());
      SendError(res, s);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, json{{"ok", true}, {"service", "bimd"}});
  });

  http.Get("/v1/server", [this](const httplib::Request&, httplib::Response& res) {
    std::string instance;
    store_->GetMeta("instance_id", &instance);
    SendJson(res, json{{"service", "bimd"},
                       {"instance", instance},
                       {"domain", options_.domain},
                       {"http_listen", options_.http_listen},
                       {"app_url_pattern", deployer_->AppUrl("<app>")}});
  });

  http.Get("/v1/apps", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<App> apps;
    Status s = store_->ListApps(&apps);
    if (!s.ok()) return SendError(res, s);
    json list = json::array();
    for (const auto& app : apps) {
      json j{{"app", app.name}, {"url", deployer_->AppUrl(app.name)}, {"live", nullptr}, {"status", "not deployed"}};
      std::vector<Release> recent;
      store_->ListReleases(app.name, 1, &recent);
      if (app.live_version > 0) {
        j["live"] = ReleaseName(app.live_version);
        j["status"] = "live";
      }
      if (!recent.empty()) {
        j["latest"] = ReleaseName(recent[0].version);
        j["latest_status"] = recent[0].status;
        j["updated_at_ms"] = recent[0].created_at_ms;
      }
      list.push_back(j);
    }
    SendJson(res, json{{"apps", list}});
  });

  http.Get(R"(/v1/apps/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    std::string app = req.matches[1];
    if (Status s = ValidateAppName(app); !s.ok()) return SendError(res, s);
    json out;
    Status s = deployer_->DescribeApp(app, &out);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, out);
  });

  http.Get(R"(/v1/apps/([^/]+)/releases)", [this](const httplib::Request& req, httplib::Response& res) {
    std::string app = req.matches[1];
    if (Status s = ValidateAppName(app); !s.ok()) return SendError(res, s);
    int limit = req.has_param("limit") ? std::atoi(req.get_param_value("limit").c_str()) : 0;
    App a;
    Status s = store_->GetApp(app, &a);
    if (!s.ok()) return SendError(res, s);
    std::vector<Release> releases;
    if (!(s = store_->ListReleases(app, limit, &releases)).ok()) return SendError(res, s);
    json list = json::array();
    for (const auto& r : releases) list.push_back(ReleaseJson(r));
    SendJson(res, json{{"app", app}, {"releases", list}});
  });

  http.Get(R"(/v1/apps/([^/]+)/logs)", [this](const httplib::Request& req, httplib::Response& res) {
    std::string app = req.matches[1];
    if (Status s = ValidateAppName(app); !s.ok()) return SendError(res, s);
    int tail = req.has_param("tail") ? std::atoi(req.get_param_value("tail").c_str()) : 100;
    bool follow = req.get_param_value("follow") == "1";
    App a;
    if (Status s = store_->GetApp(app, &a); !s.ok()) return SendError(res, s);
    res.set_chunked_content_provider("application/x-ndjson", [this, app, tail, follow](size_t, httplib::DataSink& sink) {
      NdjsonStream out(sink);
      Status s = deployer_->Logs(
          app, tail, follow, [&](std::string_view line) { out.Write(json{{"line", std::string(line)}}); },
          [&] { return out.Gone(); });
      json result{{"event", "result"}, {"ok", s.ok()}};
      if (!s.ok()) result["error"] = {{"code", s.CodeName()}, {"message", s.message()}};
      out.Write(result);
      sink.done();
      return true;
    });
  });

  http.Delete(R"(/v1/apps/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    std::string app = req.matches[1];
    if (Status s = ValidateAppName(app); !s.ok()) return SendError(res, s);
    json removed;
    Status s = deployer_->Destroy(app, "admin", &removed);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, removed);
  });

  http.Post(R"(/v1/apps/([^/]+)/deploy)",
            [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
              auto request = std::make_shared<DeployRequest>();
              Status s = ReadDeployUpload(options_, req.matches[1], req, reader, request.get());
              if (!s.ok()) return SendError(res, s);
              res.set_chunked_content_provider(
                  "application/x-ndjson", [this, request](size_t, httplib::DataSink& sink) {
                    NdjsonStream out(sink);
                    DeployOutcome outcome;
                    Status s = deployer_->Deploy(
                        *request, [&](const json& e) { out.Write(e); }, [&] { return out.Gone(); }, &outcome);
                    json result{{"event", "result"}, {"ok", s.ok()}, {"url", outcome.url}};
                    if (outcome.release.id) result["release"] = ReleaseJson(outcome.release);
                    if (!s.ok()) {
                      result["error"] = {{"code", s.CodeName()}, {"message", s.message()}};
                      result["logs"] = outcome.log_tail;
                    }
                    out.Write(result);
                    sink.done();
                    return true;
                  });
            });
}

}  // namespace bim
