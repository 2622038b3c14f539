// Custom domains and certificates: `bim domains APP`, `bim domains add APP NAME...`, `bim domains
// remove APP NAME`, `bim certs add APP --cert FILE --key FILE`, `bim certs remove APP`.
//
// The key file is read here and sent to bimd once over the API connection; it is never printed, and
// --json output carries only the certificate's names and dates.
#include <cstdio>

#include "base/certificate.h"
#include "base/file_util.h"
#include "cli/api_client.h"
#include "cli/command_registry.h"
#include "cli/credentials.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

namespace {

// Human lines for a {"domains","certificate"} answer.
std::string DescribeDomains(const std::string& app, const json& body) {
  std::string text = "Domains of " + app + ":\n";
  if (body.contains("default_host")) text += "  " + body["default_host"].get<std::string>() + " (default, http)\n";
  if (!body.contains("domains") || body["domains"].empty()) text += "  no custom domains (add one: bim domains add " + app + " NAME)\n";
  for (const auto& d : body.value("domains", json::array())) text += "  " + d.get<std::string>() + "\n";
  const json& c = body.contains("certificate") ? body["certificate"] : json();
  if (c.is_object()) {
    std::string state = c.value("state", "");
    text += "Certificate (" + c.value("source", "") + "): " + state;
    if (state == "valid") text += ", expires " + FormatUtcMinute(c.value("not_after_ms", int64_t{0}));
    text += "\n";
    if (!c.value("error", "").empty())
      text += "  last attempt failed: " + c.value("error", "") + "\n  next attempt: " + FormatUtcMinute(c.value("next_attempt_ms", int64_t{0})) + "\n";
    if (c.contains("uncovered")) text += "  warning: it does not cover " + c["uncovered"].get<std::string>() + "\n";
    if (c.contains("warning")) text += "  warning: " + c["warning"].get<std::string>() + "\n";
  } else if (body.contains("domains") && !body["domains"].empty()) {
    text += body.value("acme", true) ? "Certificate: being obtained\n"
                                     : "Certificate: none (bimd has no --acme-email; upload one: bim certs add " + app + " --cert F --key F)\n";
  }
  return text;
}

int Finish(const Output& out, const std::string& app, json body, const std::string& headline) {
  body["ok"] = true;
  out.Json(body);
  if (!headline.empty()) out.Progress(headline);
  out.Text(DescribeDomains(app, body));
  return exit_code::kOk;
}

int RunDomainsList(const Output& out, const std::string& app) {
  if (Status s = ValidateAppName(app); !s.ok()) return out.Fail(s);
  ServerConfig server;
  if (Status s = LoadCredentials(&server); !s.ok()) return out.Fail(s);
  json body;
  if (Status s = ApiClient(server).Get("/v1/apps/" + app + "/domains", &body); !s.ok()) return out.Fail(s);
  return Finish(out, app, body, "");
}

int RunDomainsAdd(const Output& out, const std::string& app, const std::vector<std::string>& names) {
  if (Status s = ValidateAppName(app); !s.ok()) return out.Fail(s);
  for (const auto& n : names)
    if (Status s = ValidateDomain(n); !s.ok()) return out.Fail(s);
  ServerConfig server;
  if (Status s = LoadCredentials(&server); !s.ok()) return out.Fail(s);
  json body;
  if (Status s = ApiClient(server).Post("/v1/apps/" + app + "/domains", json{{"domains", names}}, &body); !s.ok())
    return out.Fail(s);
  return Finish(out, app, body, "Added to " + app + "; point each name's DNS A/AAAA record at this server");
}

int RunDomainsRemove(const Output& out, const std::string& app, const std::string& name) {
  if (Status s = ValidateAppName(app); !s.ok()) return out.Fail(s);
  if (Status s = ValidateDomain(name); !s.ok()) return out.Fail(s);
  ServerConfig server;
  if (Status s = LoadCredentials(&server); !s.ok()) return out.Fail(s);
  json body;
  if (Status s = ApiClient(server).Delete("/v1/apps/" + app + "/domains/" + name, &body); !s.ok()) return out.Fail(s);
  return Finish(out, app, body, "Removed " + name + " from " + app);
}

int RunCertsAdd(const Output& out, const std::string& app, const std::string& cert_file, const std::string& key_file) {
  if (Status s = ValidateAppName(app); !s.ok()) return out.Fail(s);
  std::string cert, key;
  if (Status s = ReadFile(cert_file, &cert); !s.ok()) return out.Fail(s.Wrap("--cert"));
  if (Status s = ReadFile(key_file, &key); !s.ok()) return out.Fail(s.Wrap("--key"));
  ServerConfig server;
  if (Status s = LoadCredentials(&server); !s.ok()) return out.Fail(s);
  json body;
  if (Status s = ApiClient(server).Post("/v1/apps/" + app + "/certs", json{{"cert", cert}, {"key", key}}, &body); !s.ok())
    return out.Fail(s);
  return Finish(out, app, body, "Certificate for " + app + " is live");
}

int RunCertsRemove(const Output& out, const std::string& app) {
  if (Status s = ValidateAppName(app); !s.ok()) return out.Fail(s);
  ServerConfig server;
  if (Status s = LoadCredentials(&server); !s.ok()) return out.Fail(s);
  json body;
  if (Status s = ApiClient(server).Delete("/v1/apps/" + app + "/certs", &body); !s.ok()) return out.Fail(s);
  return Finish(out, app, body, "Removed the certificate of " + app);
}

}  // namespace

void AddDomainCommands(CLI::App& cli, CliContext& ctx) {
  // Options outlive parse(): callbacks run during parse and read them.
  static std::string app, name, cert_file, key_file;
  static std::vector<std::string> names;

  auto* domains = cli.add_subcommand("domains", "Show an app's custom domains and certificate, or change them");
  domains->add_option("app", app, "App name");
  ctx.AddJsonFlag(domains);
  domains->callback([&ctx, domains] {
    if (domains->get_subcommands().empty()) {
      if (app.empty()) {
        ctx.exit_code = ctx.out().Fail(Status::InvalidArgument("which app? bim domains APP (or domains add/remove)"));
        return;
      }
      ctx.exit_code = RunDomainsList(ctx.out(), app);
    }
  });

  auto* add = domains->add_subcommand("add", "Serve the app at these names too (certificate obtained if bimd has ACME)");
  add->add_option("app", app, "App name")->required();
  add->add_option("names", names, "Domain names, e.g. shop.example.com www.shop.example.com")->required();
  ctx.AddJsonFlag(add);
  add->callback([&ctx] { ctx.exit_code = RunDomainsAdd(ctx.out(), app, names); });

  auto* remove = domains->add_subcommand("remove", "Stop serving the app at this name");
  remove->add_option("app", app, "App name")->required();
  remove->add_option("name", name, "Domain name")->required();
  ctx.AddJsonFlag(remove);
  remove->callback([&ctx] { ctx.exit_code = RunDomainsRemove(ctx.out(), app, name); });

  auto* certs = cli.add_subcommand("certs", "Use your own certificate for an app's domains");
  certs->require_subcommand(1);
  ctx.AddJsonFlag(certs);
  auto* cadd = certs->add_subcommand("add", "Upload a PEM certificate chain and its key (checked before use; the key is never shown)");
  cadd->add_option("app", app, "App name")->required();
  cadd->add_option("--cert", cert_file, "PEM file: the certificate, then its intermediates")->required();
  cadd->add_option("--key", key_file, "PEM file: the unencrypted private key")->required();
  ctx.AddJsonFlag(cadd);
  cadd->callback([&ctx] { ctx.exit_code = RunCertsAdd(ctx.out(), app, cert_file, key_file); });
  auto* cremove = certs->add_subcommand("remove", "Drop the app's certificate (with ACME on, bimd obtains a new one)");
  cremove->add_option("app", app, "App name")->required();
  ctx.AddJsonFlag(cremove);
  cremove->callback([&ctx] { ctx.exit_code = RunCertsRemove(ctx.out(), app); });
}

}  // namespace bim
