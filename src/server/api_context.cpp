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

void SendError(HttpResponse& res, const Status& s) {
  res.status = s.HttpStatus();
  res.SetContent(json{{"error", {{"code", s.CodeName()}, {"message", s.message()}}}}.dump(
                     -1, ' ', false, json::error_handler_t::replace) + "\n",
                 "application/json");
}

void SendJson(HttpResponse& res, const json& body) {
  res.status = 200;
  res.SetContent(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

Status ParseJsonBody(const HttpRequest& req, json* out) {
  *out = json::parse(req.body, nullptr, false);
  if (out->is_discarded() || !out->is_object()) return Status::InvalidArgument("request body must be a JSON object");
  return Status::OK();
}

Status QueryCount(const HttpRequest& req, const std::string& name, int64_t min, int64_t max, int64_t* out) {
  if (!req.HasParam(name)) return Status::OK();
  return ParseCount(req.Param(name), min, max, name, out);
}

namespace {

// Runs on the HTTP layer's I/O thread when the headers are in: a hash and one indexed lookup.
Status Authenticate(const ApiContext& ctx, HttpRequest& req) {
  Principal who;
  Status s = ctx.auth.Check(req.Header("Authorization"), &who.name, &who.app_scope, &who.read_secrets);
  if (!s.ok()) {
    std::fprintf(stderr, "bimd: refused %s %s: %s\n", EscapeTerminalText(req.method).c_str(),
                 EscapeTerminalText(req.path.substr(0, 1024)).c_str(), s.message().c_str());
    return s;
  }
  req.client = who.name;
  req.privileged = who.IsAdmin();
  req.identity = who;
  return Status::OK();
}

const Principal& Caller(const HttpRequest& req) { return std::any_cast<const Principal&>(req.identity); }

}  // namespace

HttpRoute ApiContext::Authed(AuthedHandler handler) const {
  return HttpRoute{[this](HttpRequest& req) { return Authenticate(*this, req); },
                   [handler](const HttpRequest& req, HttpResponse& res) { handler(req, res, Caller(req)); }};
}

HttpRoute ApiContext::ForApp(AppHandler handler) const {
  auto admit = [this](HttpRequest& req) {
    if (Status s = Authenticate(*this, req); !s.ok()) return s;
    if (Status s = ValidateAppName(req.matches.at(1)); !s.ok()) return s;
    return Caller(req).CanAccess(req.matches[1]);
  };
  return HttpRoute{admit, [handler](const HttpRequest& req, HttpResponse& res) {
                     handler(req, res, Caller(req), req.matches.at(1));
                   }};
}

NdjsonStream::NdjsonStream(HttpResponse& res, std::chrono::milliseconds heartbeat, Framing framing)
    : res_(res), heartbeat_(heartbeat), framing_(framing), last_write_ms_(MonotonicMillis()), gone_(!res.streaming()) {}

void NdjsonStream::Write(const json& event) {
  if (gone_) return;
  // A dumped object holds no raw newline, so it is always one line and one event's data.
  std::string line = event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (framing_ == Framing::kServerSentEvents) line = "data: " + line + "\n";
  if (!res_.Write(line)) gone_ = true;
  last_write_ms_ = MonotonicMillis();
}

bool NdjsonStream::Gone() {
  if (!gone_ && MonotonicMillis() - last_write_ms_ > heartbeat_.count()) Write(json{{"event", "heartbeat"}});
  return gone_;
}

void ApiContext::StreamRelease(HttpResponse& res, const ReleaseOperation& op) const {
  res.BeginStream("application/x-ndjson");
  NdjsonStream out(res, options.stream_heartbeat);
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
