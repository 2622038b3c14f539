// bim open [APP]: the dashboard's URL (bimd's /ui/, or one app's page), printed, and with --browser
// opened with xdg-open. The browser signs in with a token pasted into the page: the URL never carries one.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "cli/api_client.h"
#include "cli/command_registry.h"
#include "cli/credentials.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

namespace {

// xdg-open's path if it is on PATH, else "".
std::string FindXdgOpen() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/xdg-open";
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// Runs xdg-open URL (no shell) and waits for it (it hands the URL to the desktop and returns).
Status OpenInBrowser(const std::string& url) {
  std::string xdg = FindXdgOpen();
  if (xdg.empty()) return Status::FailedPrecondition("xdg-open is not installed here; open " + url + " in a browser yourself");
  pid_t pid = fork();
  if (pid < 0) return Status::Internal("cannot start xdg-open");
  if (pid == 0) {
    execl(xdg.c_str(), "xdg-open", url.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status::FailedPrecondition("xdg-open could not open " + url + " (exit " +
                                      std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                                      "); open it in a browser yourself");
  return Status::OK();
}

int RunOpen(const Output& out, const std::string& app, bool browser) {
  ServerConfig server;
  Status s = app.empty() ? Status::OK() : ValidateAppName(app);
  if (s.ok()) s = LoadCredentials(&server);
  if (!s.ok()) return out.Fail(s);
  // The app must exist and this token must see it, or the page would only say so after a sign-in.
  json body;
  if (!(s = ApiClient(server).Get(app.empty() ? "/v1/server" : "/v1/apps/" + app, &body)).ok())
    return out.Fail(s, json{{"app", app}});
  std::string base = server.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + "/ui/" + (app.empty() ? "" : "apps/" + app);
  json doc{{"ok", true}, {"url", url}, {"opened", false}};
  if (!app.empty()) doc["app"] = app;
  if (browser) {
    if (!(s = OpenInBrowser(url)).ok()) return out.Fail(s, doc);
    doc["opened"] = true;
  }
  out.Json(doc);
  out.Text(url + "\n" + (browser ? "" : "Sign in there with a token (`bim token create --name NAME --app APP` makes one limited to an app).\n"));
  return exit_code::kOk;
}

}  // namespace

void AddOpenCommand(CLI::App& cli, CliContext& ctx) {
  static std::string app;
  static bool browser = false;
  auto* open = cli.add_subcommand("open", "Print the dashboard's URL (all apps, or one app's page); --browser opens it");
  open->add_option("app", app, "App name (default: the page of all apps)");
  open->add_flag("--browser", browser, "Open the URL with xdg-open");
  ctx.AddJsonFlag(open);
  open->callback([&ctx] { ctx.exit_code = RunOpen(ctx.out(), app, browser); });
}

}  // namespace bim
