#include "server/api_context.h"

#include <cstdio>

#include "base/file_util.h"
#include "core/terminal_text.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

Status Principal::CanAccess(const std::string& app) const {
  if (app_scope.empty() || app_scope == app) return Status::OK();
  return Status::PermissionDenied("token \"" + name + "\" may only act on app \"" + app_scope + "\"");
}

void SendError(httplib::Response& res, const Status& s) {
  res.status = s.HttpStatus();
  res.set_content(json{{"error", {{"code", s.CodeName()}, {"message", s.message()}}}}.dump() + "\n",
                  "application/json");
}

void SendJson(httplib::Response& res, const json& body) {
  res.status = 200;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

Status ParseJsonBody(const httplib::Request& req, json* out) {
  *out = json::parse(req.body, nullptr, false);
  if (out->is_discarded() || !out->is_object()) return Status::InvalidArgument("request body must be a JSON object");
  return Status::OK();
}

Status QueryCount(const httplib::Request& req, const std::string& name, int64_t min, int64_t max, int64_t* out) {
  if (!req.has_param(name)) return Status::OK();
  return ParseCount(req.get_param_value(name), min, max, name, out);
}

namespace {
Status Authenticate(const ApiContext& ctx, const httplib::Request& req, Principal* who) {
  Status s = ctx.auth.Check(req.get_header_value("Authorization"), &who->name, &who->app_scope, &who->read_secrets);
  if (!s.ok())
    std::fprintf(stderr, "bimd: refused %s %s: %s\n", EscapeTerminalText(req.method).c_str(),
                 EscapeTerminalText(req.path.substr(0, 1024)).c_str(), s.message().c_str());
  return s;
}
}  // namespace

httplib::Server::Handler ApiContext::Authed(AuthedHandler handler) const {
  return [this, handler](const httplib::Request& req, httplib::Response& res) {
    Principal who;
    if (Status s = Authenticate(*this, req, &who); !s.ok()) return SendError(res, s);
    handler(req, res, who);
  };
}

httplib::Server::HandlerWithContentReader ApiContext::Authed(AuthedUploadHandler handler) const {
  return [this, handler](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    Principal who;
    if (Status s = Authenticate(*this, req, &who); !s.ok()) return SendError(res, s);
    handler(req, res, reader, who);
  };
}

httplib::Server::Handler ApiContext::ForApp(AppHandler handler) const {
  return Authed([handler](const httplib::Request& req, httplib::Response& res, const Principal& who) {
    std::string app = req.matches[1];
    if (Status s = ValidateAppName(app); !s.ok()) return SendError(res, s);
    if (Status s = who.CanAccess(app); !s.ok()) return SendError(res, s);
    handler(req, res, who, app);
  });
}

NdjsonStream::NdjsonStream(httplib::DataSink& sink, std::chrono::milliseconds heartbeat, Framing framing)
    : sink_(sink), heartbeat_(heartbeat), framing_(framing), last_write_ms_(MonotonicMillis()) {}

void NdjsonStream::Write(const json& event) {
  if (gone_) return;
  // A dumped object holds no raw newline, so it is always one line and one event's data.
  std::string line = event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (framing_ == Framing::kServerSentEvents) line = "data: " + line + "\n";
  if (!sink_.write(line.data(), line.size())) gone_ = true;
  last_write_ms_ = MonotonicMillis();
}

bool NdjsonStream::Gone() {
  if (!gone_ && MonotonicMillis() - last_write_ms_ > heartbeat_.count()) Write(json{{"event", "heartbeat"}});
  return gone_;
}

void ApiContext::StreamRelease(httplib::Response& res, ReleaseOperation op) const {
  const auto heartbeat = options.stream_heartbeat;
  res.set_chunked_content_provider("application/x-ndjson", [op, heartbeat](size_t, httplib::DataSink& sink) {
    NdjsonStream out(sink, heartbeat);
    DeployOutcome outcome;
    Status s = op([&](const json& e) { out.Write(e); }, [&] { return out.Gone(); }, &outcome);
    json result{{"event", "result"}, {"ok", s.ok()}, {"url", outcome.url}};
    if (outcome.release.id) result["release"] = ReleaseJson(outcome.release);
    if (outcome.unchanged) result["unchanged"] = true;
    if (outcome.release.id && !outcome.watch.is_null()) result["release"]["watch"] = outcome.watch;
    if (!s.ok()) {
      result["error"] = {{"code", s.CodeName()}, {"message", s.message()}};
      result["logs"] = outcome.log_tail;
    }
    out.Write(result);
    sink.done();
    return true;
  });
}

json AuditJson(const AuditEntry& e) {
  return json{{"id", e.id},         {"at_ms", e.at_ms},   {"actor", e.actor}, {"action", e.action},
              {"app", e.app},       {"result", e.result}, {"detail", e.detail}};
}

void Audit(Store& store, const Principal& who, const std::string& action, const std::string& app,
           const Status& result, const std::string& detail) {
  AuditEntry e{0, 0, who.name, action, app, result.ok() ? "ok" : result.message(), detail};
  store.AppendAudit(&e);
}

}  // namespace bim
