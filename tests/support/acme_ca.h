// AcmeCa: a private ACME CA for tests, Debian's caddy running its `acme_server` on a loopback port.
// The CA checks HTTP-01 challenges by resolving each name and connecting to port 80 there, so it runs
// in its own mount namespace whose /etc/hosts maps the test's names to the test's loopback address
// (the machine's /etc/hosts is never touched). Its storage (root key included) lives in a temp dir
// removed with the object; the process is killed pass or fail.
#pragma once

#include <map>
#include <vector>
#include <string>

namespace bim::testing {

class AcmeCa {
 public:
  // `hosts`: name -> IPv4 address the CA resolves it to.
  explicit AcmeCa(std::map<std::string, std::string> hosts);
  ~AcmeCa();
  AcmeCa(const AcmeCa&) = delete;
  AcmeCa& operator=(const AcmeCa&) = delete;

  void Start();  // starts caddy and waits for the directory to answer (throws if it does not)
  void Stop();   // kills caddy (the CA is "down"); Start() brings it back with the same root

  std::string directory() const;              // https://127.0.0.1:PORT/acme/local/directory
  std::string root_pem_path() const;          // the CA's root certificate (exists after Start)
  std::string Log() const;
  // The hosts file the CA resolves with (the machine's plus the test's names): a test runs a client
  // under `unshare --mount` with it bound over /etc/hosts (WithTestHosts) to reach the names too.
  std::string hosts_file() const { return dir_ + "/hosts"; }
  // argv run with the test's names resolving (a private mount namespace whose /etc/hosts is ours).
  std::vector<std::string> WithTestHosts(const std::vector<std::string>& argv) const;

 private:
  std::map<std::string, std::string> hosts_;
  std::string dir_;
  int port_ = 0;
  int pid_ = 0;
};

// A free TCP port on 127.0.0.1 (bound and released).
int FreeLoopbackPort();

// A loopback address of its own for a test (127.X.Y.Z, random, not 127.0.0.1) on which `ports` are
// all free; nothing listens on it yet.
std::string PrivateLoopbackAddress(const std::vector<int>& ports);

}  // namespace bim::testing
