// Routes for API tokens and the audit log.
//
//   POST   /v1/tokens           {"name":"ci","app":"hello","read_secrets":false} -> {"id","name","app",
//                               "read_secrets","token"}; with POST /v1/tokens/rotate-admin the only answers
//                               that ever carry a token value
//   POST   /v1/tokens/rotate-admin  a new admin token (the old one is refused from now on) -> {"token"}
//   GET    /v1/tokens           {"tokens":[{"id","name","app","created_at_ms","revoked_at_ms",...}]}
//   DELETE /v1/tokens/{id}      revokes at once -> the token's row
//   GET    /v1/audit            {"entries":[...]} newest first (?app=APP&limit=N)
//
// Token routes need an unscoped token (403 otherwise): a token limited to one app must not be able to
// mint a wider one, and a token that may not read secrets cannot mint one that may. A scoped token
// sees only its own app's audit entries.

#include "core/validate.h"
#include "server/api_context.h"

namespace bim {

using nlohmann::json;

namespace {

constexpr int kDefaultAuditLimit = 100;
constexpr int kMaxAuditLimit = 10000;
constexpr int64_t kMaxId = 999'999'999'999'999'999;  // 18 digits, ParseCount's longest

json TokenJson(const ApiToken& t) {
  // Neither the value (never stored) nor the hash leaves the server.
  return json{{"id", t.id},
              {"name", t.name},
              {"app", t.app_scope},
              {"created_at_ms", t.created_at_ms},
              {"revoked", t.revoked_at_ms != 0},
              {"revoked_at_ms", t.revoked_at_ms},
              {"last_used_at_ms", t.last_used_at_ms},
              {"read_secrets", t.read_secrets}};
}

Status RequireAdmin(const Principal& who) {
  if (who.IsAdmin()) return Status::OK();
  return Status::PermissionDenied("token \"" + who.name + "\" is limited to app \"" + who.app_scope +
                                  "\"; managing tokens needs an unscoped token");
}

}  // namespace

void RegisterSecurityRoutes(ApiContext& ctx) {
  HttpServer& http = ctx.http;
  Store& store = ctx.store;

  http.Post("/v1/tokens", ctx.Authed([&](const HttpRequest& req, HttpResponse& res, const Principal& who) {
    if (Status s = RequireAdmin(who); !s.ok()) return SendError(res, s);
    json body;
    if (Status s = ParseJsonBody(req, &body); !s.ok()) return SendError(res, s);
    ApiToken t;
    std::string token = NewToken();
    t.hash = HashToken(token);
    if (body.contains("name") && !body["name"].is_null()) {
      if (!body["name"].is_string()) return SendError(res, Status::InvalidArgument("\"name\" must be a string"));
      t.name = body["name"].get<std::string>();
    } else {
      // The hash's first hex digits identify the token without revealing anything about its value.
      t.name = "token-" + t.hash.substr(0, 8);
    }
    if (Status s = ValidateTokenName(t.name); !s.ok()) return SendError(res, s);
    if (t.name == "admin")
      return SendError(res, Status::InvalidArgument("token name \"admin\" is reserved for the admin token; pick another"));
    if (body.contains("app") && !body["app"].is_null()) {
      if (!body["app"].is_string()) return SendError(res, Status::InvalidArgument("\"app\" must be a string"));
      t.app_scope = body["app"].get<std::string>();
      if (Status s = ValidateAppName(t.app_scope); !s.ok()) return SendError(res, s);
    }
    if (body.contains("read_secrets") && !body["read_secrets"].is_null()) {
      if (!body["read_secrets"].is_boolean())
        return SendError(res, Status::InvalidArgument("\"read_secrets\" must be true or false"));
      t.read_secrets = body["read_secrets"].get<bool>();
    }
    if (t.read_secrets && !who.read_secrets)
      return SendError(res, Status::PermissionDenied("token \"" + who.name +
                                                     "\" may not read secrets, so it cannot make a token that may"));
    Status s = store.CreateToken(&t);
    Audit(store, who, "token.create", t.app_scope, s,
          s.ok() ? "id=" + std::to_string(t.id) + " name=" + t.name + (t.read_secrets ? " read-secrets" : "") : t.name);
    if (!s.ok()) return SendError(res, s);
    json out = TokenJson(t);
    out["token"] = token;
    SendJson(res, out);
  }));

  http.Post("/v1/tokens/rotate-admin", ctx.Authed([&](const HttpRequest&, HttpResponse& res,
                                                      const Principal& who) {
    if (Status s = RequireAdmin(who); !s.ok()) return SendError(res, s);
    std::string token;
    Status s = ctx.auth.RotateAdminToken(AdminTokenPath(ctx.options), &token);
    Audit(store, who, "token.rotate", "", s, "admin");
    if (!s.ok()) return SendError(res, s);
    SendJson(res, json{{"name", "admin"}, {"token", token}, {"file", AdminTokenPath(ctx.options)}});
  }));

  http.Get("/v1/tokens", ctx.Authed([&](const HttpRequest&, HttpResponse& res, const Principal& who) {
    if (Status s = RequireAdmin(who); !s.ok()) return SendError(res, s);
    std::vector<ApiToken> tokens;
    if (Status s = store.ListTokens(&tokens); !s.ok()) return SendError(res, s);
    json list = json::array();
    for (const auto& t : tokens) list.push_back(TokenJson(t));
    SendJson(res, json{{"tokens", list}});
  }));

  http.Delete(R"(/v1/tokens/([^/]+))",
              ctx.Authed([&](const HttpRequest& req, HttpResponse& res, const Principal& who) {
                if (Status s = RequireAdmin(who); !s.ok()) return SendError(res, s);
                int64_t id = 0;
                if (Status s = ParseCount(req.matches.at(1), 1, kMaxId, "token id", &id); !s.ok())
                  return SendError(res, Status::InvalidArgument(s.message() + "; see `bim token list`"));
                ApiToken t;
                Status s = store.RevokeToken(id, &t);
                Audit(store, who, "token.revoke", s.ok() ? t.app_scope : "", s,
                      s.ok() ? "id=" + std::to_string(id) + " name=" + t.name : "id=" + std::to_string(id));
                if (!s.ok()) return SendError(res, s);
                SendJson(res, TokenJson(t));
              }));

  http.Get("/v1/audit", ctx.Authed([&](const HttpRequest& req, HttpResponse& res, const Principal& who) {
    std::string app = req.Param("app");
    if (!app.empty()) {
      if (Status s = ValidateAppName(app); !s.ok()) return SendError(res, s);
      if (Status s = who.CanAccess(app); !s.ok()) return SendError(res, s);
    } else if (!who.IsAdmin()) {
      app = who.app_scope;  // a scoped token sees its own app only
    }
    int64_t limit = kDefaultAuditLimit;
    if (Status s = QueryCount(req, "limit", 1, kMaxAuditLimit, &limit); !s.ok()) return SendError(res, s);
    std::vector<AuditEntry> entries;
    if (Status s = store.ListAudit(app, static_cast<int>(limit), &entries); !s.ok()) return SendError(res, s);
    json list = json::array();
    for (const auto& e : entries) list.push_back(AuditJson(e));
    SendJson(res, json{{"app", app}, {"entries", list}});
  }));
}

}  // namespace bim
