// Where the CLI finds its server and token: BIM_SERVER / BIM_TOKEN if set (CI, agents), else what
// `bim login` saved in $XDG_CONFIG_HOME/bim/config.json (default ~/.config/bim), mode 0600.
#pragma once

#include <string>

#include "cli/api_client.h"
#include "core/status.h"

namespace bim {

// The config file path ($XDG_CONFIG_HOME or $HOME/.config, then /bim/config.json).
std::string CredentialsPath();

// Fills *out. Unauthenticated with "not logged in (run `bim login URL --token TOKEN`, or set BIM_SERVER
// and BIM_TOKEN)" when neither source has both values.
Status LoadCredentials(ServerConfig* out);

// LoadCredentials for a command about `app`: first checks the app name (InvalidArgument naming the
// rule), so a bad name fails before any request is made.
Status LoadCredentialsForApp(const std::string& app, ServerConfig* out);

// Saves url and token (directory 0700, file 0600, written atomically).
Status SaveCredentials(const ServerConfig& config);

// Normalises a server URL: adds "http://" when no scheme is given, drops trailing '/'. InvalidArgument
// for anything that is not http(s)://host[:port].
Status NormalizeServerUrl(const std::string& in, std::string* out);

}  // namespace bim
