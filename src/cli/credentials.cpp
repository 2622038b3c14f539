#include "cli/credentials.h"

#include <cstdlib>

#include "base/file_util.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

std::string CredentialsPath() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  std::string base = xdg && *xdg ? xdg : std::string(home && *home ? home : "/root") + "/.config";
  return base + "/bim/config.json";
}

Status NormalizeServerUrl(const std::string& in, std::string* out) {
  std::string url = in;
  if (url.find("://") == std::string::npos) url = "http://" + url;
  while (url.size() > 1 && url.back() == '/') url.pop_back();
  bool scheme_ok = url.starts_with("http://") || url.starts_with("https://");
  std::string rest = url.substr(url.find("://") + 3);
  if (!scheme_ok || rest.empty() || rest.find_first_of("/?# \t\r\n") != std::string::npos)
    return Status::InvalidArgument("server URL \"" + in + "\" must look like http://HOST:PORT");
  *out = url;
  return Status::OK();
}

Status LoadCredentials(ServerConfig* out) {
  const char* env_server = std::getenv("BIM_SERVER");
  const char* env_token = std::getenv("BIM_TOKEN");
  ServerConfig saved;
  std::string text;
  Status s = ReadFile(CredentialsPath(), &text);
  if (s.ok()) {
    json j = json::parse(text, nullptr, false);
    if (j.is_object()) {
      saved.url = j.value("server", "");
      saved.token = j.value("token", "");
    }
  }
  out->url = env_server && *env_server ? env_server : saved.url;
  out->token = env_token && *env_token ? env_token : saved.token;
  if (out->url.empty() || out->token.empty())
    return Status::Unauthenticated(
        "not logged in (run `bim login URL --token TOKEN`, or set BIM_SERVER and BIM_TOKEN)");
  return NormalizeServerUrl(out->url, &out->url);
}

Status LoadCredentialsForApp(const std::string& app, ServerConfig* out) {
  if (Status s = ValidateAppName(app); !s.ok()) return s;
  return LoadCredentials(out);
}

Status SaveCredentials(const ServerConfig& config) {
  std::string path = CredentialsPath();
  std::string dir = path.substr(0, path.rfind('/'));
  Status s = MakeDirs(dir, 0700);
  if (!s.ok()) return s;
  json j{{"server", config.url}, {"token", config.token}};
  return WriteFileAtomically(path, j.dump(2) + "\n", 0600);
}

}  // namespace bim
