#include "server/acme.h"

#include "base/file_util.h"

namespace bim {

LegoClient::LegoClient(AcmeOptions options, CommandRunner* runner) : options_(std::move(options)), runner_(runner) {}

std::vector<std::string> LegoClient::Command(const std::vector<std::string>& names) const {
  // No shell: `timeout` bounds the run, /usr/bin/env sets the one variable lego reads for extra CA roots, then runs lego.
  // `timeout` bounds a CA that accepts connections and never answers.
  std::vector<std::string> argv = {"timeout", std::to_string(options_.timeout.count() + 30), "/usr/bin/env"};
  if (!options_.ca_file.empty()) argv.push_back("LEGO_CA_CERTIFICATES=" + options_.ca_file);
  argv.insert(argv.end(), {options_.lego_binary, "--accept-tos", "--email", options_.email, "--server",
                           options_.directory, "--path", options_.state_dir, "--key-type", "ec256",
                           "--cert.timeout", std::to_string(options_.timeout.count()), "--http", "--http.port",
                           options_.challenge_listen});
  for (const auto& n : names) argv.insert(argv.end(), {"--domains", n});
  argv.push_back("run");
  return argv;
}

std::string SummarizeLegoOutput(const std::string& output) {
  std::string best, last;
  size_t start = 0;
  while (start < output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    std::string line = output.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    last = line;
    // lego's progress lines are "[INFO] ..."; its verdict is the last line mentioning an error.
    if (line.find("[INFO]") == std::string::npos && line.find("error") != std::string::npos) best = line;
  }
  std::string out = best.empty() ? last : best;
  // lego prefixes "2026/11/27 11:47:39 "; the date adds nothing to a status line.
  if (out.size() > 20 && out[4] == '/' && out[7] == '/' && out[13] == ':') out = out.substr(20);
  if (out.size() > 400) out = out.substr(0, 397) + "...";
  return out;
}

Status LegoClient::Obtain(const std::vector<std::string>& names, std::string* chain_pem, std::string* key_pem) {
  if (names.empty()) return Status::InvalidArgument("no names to obtain a certificate for");
  if (Status s = MakeDirs(options_.state_dir, 0700); !s.ok()) return s;
  std::string output;
  Status s = runner_->Run(Command(names), &output);
  if (!s.ok()) return Status::Unavailable("the ACME CA refused or could not be reached: " + SummarizeLegoOutput(output));
  // lego names its files after the first domain ("*" becomes "_").
  std::string base = names[0];
  for (char& c : base)
    if (c == '*') c = '_';
  std::string dir = options_.state_dir + "/certificates/" + base;
  if (!(s = ReadFile(dir + ".crt", chain_pem)).ok()) return s.Wrap("lego's certificate");
  if (!(s = ReadFile(dir + ".key", key_pem)).ok()) return s.Wrap("lego's key");
  return Status::OK();
}

}  // namespace bim
