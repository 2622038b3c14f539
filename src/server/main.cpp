// bimd: the deploy server. Owns Docker and its own nginx on this host; serves the bim API.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "base/file_util.h"
#include "base/paths.h"
#include "base/random.h"
#include "core/app_config.h"
#include "core/listen_policy.h"
#include "core/validate.h"
#include "docker/docker_client.h"
#include "proxy/nginx_router.h"
#include "docker/network_firewall.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/context_store.h"
#include "server/cert_manager.h"
#include "server/deployer.h"
#include "server/engine_setup.h"
#include "server/history.h"
#include "server/limit_flags.h"
#include "server/teardown.h"
#include "store/store.h"

using namespace bim;

namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "bimd: error: %s\n", s.message().c_str());
  return 1;
}

Status LoadOrCreateSecretKey(const std::string& path, std::string* key) {
  Status s = ReadFile(path, key);
  if (s.ok()) {
    if (key->size() != crypto_secretbox_KEYBYTES)
      return Status::FailedPrecondition(path + " is damaged (expected " + std::to_string(crypto_secretbox_KEYBYTES) +
                                        " bytes); restore it from a backup");
    return Status::OK();
  }
  if (!s.IsNotFound()) return s;
  key->assign(crypto_secretbox_KEYBYTES, '\0');
  crypto_secretbox_keygen(reinterpret_cast<unsigned char*>(key->data()));
  return WriteFileAtomically(path, *key, 0600);
}

// The loopback port lego answers HTTP-01 challenges on, which every app's site forwards to. Kept in
// the database so a restart renders the same sites (no reload); a new free one if it is taken.
Status ChooseChallengePort(Store* store, std::string* listen) {
  std::string saved;
  int port = store->GetMeta("acme_challenge_port", &saved).ok() ? std::atoi(saved.c_str()) : 0;
  auto free_port = [](int want) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(want));
    socklen_t len = sizeof addr;
    int got = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      got = ntohs(addr.sin_port);
    close(fd);
    return got;
  };
  if (port <= 0 || free_port(port) != port) {
    port = free_port(0);
    if (port <= 0) return Status::Unavailable("no free loopback port for ACME challenges");
    if (Status s = store->SetMeta("acme_challenge_port", std::to_string(port)); !s.ok()) return s;
  }
  *listen = "127.0.0.1:" + std::to_string(port);
  return Status::OK();
}

// --api-domain: a valid name, an ACME account to get its certificate from, and no second source.
Status CheckApiDomain(const ServerOptions& options) {
  const std::string& name = options.certs.api_domain;
  if (name.empty()) return Status::OK();
  if (Status s = ValidateDomain(name); !s.ok()) return s.Wrap("--api-domain");
  if (name.find('*') != std::string::npos)
    return Status::InvalidArgument("--api-domain " + name + ": wildcards cannot be obtained over HTTP-01; name the host");
  if (options.acme.email.empty())
    return Status::InvalidArgument("--api-domain needs an ACME account for its certificate; add --acme-email ADDR");
  if (!options.tls_cert.empty())
    return Status::InvalidArgument("--api-domain and --tls-cert both give the API a certificate; pass one of them");
  return Status::OK();
}

// The API's certificate at start (--api-domain): the one obtained before if it is still good, else a
// self-signed one until the CA issues it (the CertManager's first pass asks right away).
Status ServeApiCertificate(const ServerOptions& options, CertManager* certs, ApiTls* tls) {
  Certificate c;
  if (certs->ApiCertificate(&c).ok() && !c.cert_path.empty() && NowMillis() < c.not_after_ms &&
      c.names == std::vector<std::string>{options.certs.api_domain} && tls->UseFiles(c.cert_path, c.key_path, "acme").ok())
    return Status::OK();
  return tls->UseSelfSigned(options.certs.api_domain, options.data_dir + "/api-self-signed");
}

}  // namespace

int main(int argc, char** argv) {
  ServerOptions options;
  CLI::App cli{"bimd: the bim deploy server. Builds apps with Docker, routes them with its own nginx,\n"
               "and serves the API that `bim` talks to."};
  cli.add_option("--data-dir", options.data_dir, "State directory: database, tokens, nginx config and logs")
      ->capture_default_str();
  cli.add_option("--listen", options.listen, "API address HOST:PORT")->capture_default_str();
  cli.add_option("--http-listen", options.nginx.listen, "Where nginx serves apps, HOST:PORT")->capture_default_str();
  cli.add_option("--domain", options.domain, "Apps are served at http://<app>.<domain>/")->capture_default_str();
  cli.add_option("--templates", options.nginx.template_dir, "Directory with nginx.conf.mustache and app.conf.mustache");
  cli.add_option("--docker-socket", options.docker_socket, "Docker Engine socket")->capture_default_str();
  cli.add_option("--nginx", options.nginx.nginx_binary, "nginx binary")->capture_default_str();
  cli.add_option("--engine", options.engine,
                 "Where apps run: auto (Docker Swarm when the dockerd is a Swarm manager, else this host), swarm, local")
      ->capture_default_str();
  cli.add_option("--registry-listen", options.registry_listen,
                 "On Swarm: ADDRESS:PORT of the image registry bimd runs for the nodes (default: the manager's "
                 "Swarm address, port 5000)");
  cli.add_option("--registry", options.registry_binary, "docker-registry binary (Swarm only)")->capture_default_str();
  int drain_ms = static_cast<int>(options.drain_grace.count());
  cli.add_option("--drain-grace-ms", drain_ms, "Max time a replaced release keeps running for in-flight requests")
      ->capture_default_str();
  int settle_ms = static_cast<int>(options.service_settle.count());
  cli.add_option("--settle-ms", settle_ms,
                 "How long a service without an HTTP port or healthcheck must keep running to count as started")
      ->capture_default_str()->check(CLI::Range(0, 600000));
  std::string watch = FormatDuration(options.watch_window);
  cli.add_option("--watch", watch,
                 "Default watch after a switch: roll back a release that exits or turns unhealthy within this "
                 "long (bim.toml [health] watch overrides; 0 = off)")
      ->capture_default_str();
  cli.add_option("--watch-failures", options.watch_failures, "Failed health checks in a row that fail a watched release")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cli.add_option("--keep-releases", options.keep_releases, "Images kept per app for rollback; older ones are pruned")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cli.add_option("--tls-cert", options.tls_cert, "Serve the API over HTTPS with this PEM certificate (with --tls-key)");
  cli.add_option("--tls-key", options.tls_key, "PEM private key for --tls-cert");
  cli.add_flag("--insecure", options.insecure, "Allow plain HTTP on a non-loopback --listen address");
  cli.add_option("--max-upload-bytes", options.max_upload_bytes, "Largest build context accepted")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cli.add_option("--max-upload-entries", options.context_limits.max_entries, "Most files a build context may hold")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cli.add_option("--max-context-store-bytes", options.max_context_store_bytes,
                 "Bytes of build contexts kept per app so deploys send only changed files")
      ->capture_default_str()->check(CLI::PositiveNumber);
  LimitFlags limit_flags;
  AddLimitFlags(cli, &limit_flags);
  bool teardown = false;
  cli.add_flag("--teardown", teardown, "Remove everything this data dir's bimd created on the host (containers, images, "
               "networks, firewall rules, build cgroups; stops its nginx), keep the data dir, and exit");
  cli.add_option("--app-subnets", options.local_engine.app_subnet_pool,
                 "IPv4 pool each app's own network takes a subnet from (\"\" = Docker's default pools, about 30 "
                 "networks)")
      ->capture_default_str();
  cli.add_option("--app-subnet-prefix", options.local_engine.app_subnet_prefix,
                 "Size of each app network's subnet, as a prefix length (26 = 64 addresses)")
      ->capture_default_str();
  cli.add_option("--https-listen", options.nginx.https_listen,
                 "Where nginx serves apps' custom domains over HTTPS, HOST:PORT (e.g. 0.0.0.0:443)");
  cli.add_option("--acme-email", options.acme.email,
                 "Obtain certificates for custom domains from an ACME CA with this account email");
  cli.add_option("--acme-directory", options.acme.directory,
                 "ACME directory URL (Let's Encrypt staging: https://acme-staging-v02.api.letsencrypt.org/directory)")
      ->capture_default_str();
  cli.add_option("--acme-ca-file", options.acme.ca_file, "PEM roots to trust for the ACME directory's TLS (private CAs)");
  cli.add_option("--lego", options.acme.lego_binary, "lego binary (the ACME client)")->capture_default_str();
  cli.add_option("--api-domain", options.certs.api_domain,
                 "Serve the API over HTTPS as NAME with a certificate bimd obtains and renews from the ACME CA "
                 "(needs --acme-email; self-signed until the CA issues it)");
  cli.add_option("--cert-renew-fraction", options.certs.renew_fraction,
                 "Renew a certificate once this fraction of its lifetime has passed")
      ->capture_default_str()->check(CLI::Range(0.0001, 0.99));
  int cert_check_ms = static_cast<int>(options.certs.check_interval.count());
  cli.add_option("--cert-check-ms", cert_check_ms, "How often certificates are looked at")->capture_default_str()
      ->check(CLI::Range(100, 86400000));
  int cert_retry_ms = static_cast<int>(options.certs.retry_min.count());
  cli.add_option("--cert-retry-ms", cert_retry_ms, "First wait after a failed issuance (doubles, up to 1 h)")
      ->capture_default_str()->check(CLI::Range(100, 86400000));
  cli.add_option("--read-timeout", options.http.read_timeout_seconds,
                 "Seconds a silent API client is kept before it is dropped (a JSON body must arrive within it)")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  cli.add_option("--header-timeout-ms", options.http.header_timeout_ms,
                 "Total time a request's headers may take to arrive (TLS handshake included)")
      ->capture_default_str()->check(CLI::Range(100, 600000));
  cli.add_option("--max-connections", options.http.max_connections,
                 "Open API connections; at the cap a slow or idle one without a request in progress is dropped")
      ->capture_default_str()->check(CLI::Range(16, 1000000));
  cli.add_option("--max-body-bytes", options.http.max_body_bytes, "Largest request body of every route but deploy")
      ->capture_default_str()->check(CLI::Range(int64_t{1024}, int64_t{1} << 30));
  cli.add_option("--workers", options.http.workers, "Threads serving short API requests")
      ->capture_default_str()->check(CLI::Range(1, 256));
  cli.add_option("--max-queued-requests", options.http.max_queued_requests,
                 "Short requests that may wait for a worker; beyond, 503")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  cli.add_option("--max-requests-per-token", options.http.max_requests_per_client,
                 "Short requests one app-scoped token may have waiting or running; beyond, 429")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  cli.add_option("--max-streams", options.http.max_streams, "Deploys and log follows served at once; beyond, 503")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  cli.add_option("--max-log-streams-per-token", options.max_log_streams_per_token,
                 "`bim logs` streams one app-scoped token may hold open; beyond, 429")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  cli.add_option("--max-releases-per-token", options.max_releases_per_token,
                 "Deploys/rollbacks/env changes one app-scoped token may have running or queued; beyond, 429")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  CLI11_PARSE(cli, argc, argv);
  if (Status s = ApplyLimitFlags(limit_flags, &options); !s.ok()) return Fail(s);
  options.certs.check_interval = std::chrono::milliseconds(cert_check_ms);
  options.certs.retry_min = std::chrono::milliseconds(cert_retry_ms);
  // Everything bimd creates (database, WAL, tokens, nginx's files, history) is its own alone.
  umask(077);
  // Signals are taken by one thread with sigwait, so the API can be stopped cleanly. Blocked before
  // any thread starts (the Deployer's, the HTTP layer's), so every thread inherits the mask and none
  // dies of SIGTERM's default action in the middle of a request.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  options.drain_grace = std::chrono::milliseconds(drain_ms);
  options.service_settle = std::chrono::milliseconds(settle_ms);
  if (watch == "0") {
    options.watch_window = std::chrono::milliseconds(0);
  } else if (Status s = ParseDuration(watch, &options.watch_window); !s.ok() || options.watch_window > kMaxWatch) {
    return Fail(Status::InvalidArgument("--watch: " + (s.ok() ? "at most 24h" : s.message()) + ", or 0 to turn it off"));
  }
  // Checked before anything starts, so a refused address leaves no nginx or state behind. With
  // --api-domain the API is TLS too.
  if (Status s = CheckListenPolicy(options.listen, options.tls_cert, options.tls_key,
                                   options.insecure || !options.certs.api_domain.empty());
      !s.ok())
    return Fail(s);
  if (Status s = CheckApiDomain(options); !s.ok()) return Fail(s);
  for (const std::string& pem : {options.tls_cert, options.tls_key})
    if (!pem.empty() && access(pem.c_str(), R_OK) != 0)
      return Fail(Status::InvalidArgument("cannot read TLS file " + pem + " (pass readable PEM files to --tls-cert/--tls-key)"));

  if (sodium_init() < 0) return Fail(Status::Internal("libsodium failed to initialise"));
  if (Status s = ValidateDomain(options.domain); !s.ok()) return Fail(s.Wrap("--domain"));
  if (Status s = CheckSubnetPool(options.local_engine); !s.ok()) return Fail(s.Wrap("--app-subnets"));
  // Without --templates: next to an installed binary (<prefix>/share/bim/templates/nginx) or in the
  // source tree the binary was built from.
  if (options.nginx.template_dir.empty()) options.nginx.template_dir = FindTemplateDir("nginx", "app.conf.mustache");
  if (options.nginx.template_dir.empty())
    return Fail(Status::NotFound("cannot find the nginx templates; pass --templates DIR (the repo's templates/nginx)"));
  options.data_dir = std::filesystem::absolute(options.data_dir).lexically_normal().string();
  if (options.data_dir.size() > 1 && options.data_dir.back() == '/') options.data_dir.pop_back();
  if (Status s = MakeDirs(options.data_dir, 0700); !s.ok()) return Fail(s);
  options.acme.state_dir = options.data_dir + "/acme";
  options.certs.certs_dir = options.data_dir + "/certs";
  options.certs.api_certs_dir = options.data_dir + "/api-certs";

  // One bimd per data dir: a second one would fight over nginx and the database.
  int lock_fd = open((options.data_dir + "/bimd.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
    return Fail(Status::Conflict("another bimd is already using " + options.data_dir +
                                 " (stop it, or pass a different --data-dir)"));
  // The data dir is private at every start, also when it already existed with looser modes.
  if (Status s = RestrictTree(options.data_dir); !s.ok()) return Fail(s);
  WriteFileAtomically(options.data_dir + "/bimd.pid", std::to_string(getpid()) + "\n", 0600);

  std::string key;
  if (Status s = LoadOrCreateSecretKey(options.data_dir + "/secret.key", &key); !s.ok()) return Fail(s);
  std::unique_ptr<Store> store;
  if (Status s = Store::Open(options.data_dir + "/bim.db", key, &store); !s.ok()) return Fail(s);
  std::string instance_id;
  if (!store->GetMeta("instance_id", &instance_id).ok()) {
    instance_id = RandomHex(6);
    if (Status s = store->SetMeta("instance_id", instance_id); !s.ok()) return Fail(s);
  }
  Authenticator auth(store.get());
  bool created = false;
  std::string token_path = AdminTokenPath(options);
  if (Status s = auth.EnsureAdminToken(token_path, &created); !s.ok()) return Fail(s);

  DockerClient docker(options.docker_socket);
  if (Status s = docker.Ping(); !s.ok()) return Fail(s);

  SubprocessRunner runner;
  options.nginx.prefix = options.data_dir + "/nginx";
  if (!options.acme.email.empty()) {
    if (Status s = ChooseChallengePort(store.get(), &options.acme.challenge_listen); !s.ok()) return Fail(s);
    options.nginx.acme_challenge = options.acme.challenge_listen;
  }
  NginxRouter router(options.nginx, &runner);
  FirewallOptions firewall_options;
  firewall_options.iptables = options.iptables_binary;
  firewall_options.instance_id = instance_id;
  firewall_options.blocked_egress = options.blocked_egress;
  NetworkFirewall firewall(firewall_options, &runner);
  if (teardown) return TeardownInstance(options, instance_id, &docker, &router, &firewall).ok() ? 0 : 1;
  LocalEngineOptions engine_options = options.local_engine;
  if (options.isolate_networks) engine_options.firewall = &firewall;
  EngineSetup engine;
  if (Status s = SetUpEngine(&options, &docker, engine_options, &engine); !s.ok()) return Fail(s);
  if (options.engine == "swarm") {
    // The watch after the switch runs on the local engine only (README "Watch after the switch").
    if (cli.count("--watch") > 0 && options.watch_window.count() > 0)
      return Fail(Status::InvalidArgument(
          "--watch: the watch after the switch is not supported on the Swarm engine yet; pass --watch 0 or drop it"));
    options.watch_window = std::chrono::milliseconds(0);
  }
  // Apps' networks are tenant boundaries only with these rules: no start without them. Installed once
  // the engine is known to work, so a bimd refused at start (e.g. --engine swarm outside a swarm)
  // leaves no chains behind.
  if (options.isolate_networks) {
    if (Status s = firewall.Install(); !s.ok())
      return Fail(s.Wrap("isolating apps' networks (bimd --no-network-isolation runs without, apps can then reach "
                         "each other and the host)"));
  }

  // Build contexts kept per app (<data_dir>/contexts), so a deploy sends only the files that changed.
  ContextStoreOptions context_options;
  context_options.root = options.data_dir + "/contexts";
  context_options.keep_manifests = options.keep_releases + 1;
  context_options.max_bytes_per_app = options.max_context_store_bytes;
  ContextStore contexts(context_options);
  if (Status s = contexts.Open(); !s.ok()) return Fail(s);

  DeployerDeps deps;
  deps.store = store.get();
  deps.images = &docker;
  deps.engine = engine.engine.get();
  deps.router = &router;
  deps.contexts = &contexts;
  Deployer deployer(options, deps, instance_id);
  deployer.EnableBuildCgroups(CleanStartLeftovers(options, instance_id, &docker, store.get()));
  // The git deployment history (<data_dir>/history). Without it bimd still deploys: the database is the
  // source of truth, and the next start records whatever went live meanwhile.
  DeployHistory history;
  HistoryOptions history_options;
  history_options.domain = options.domain;
  history_options.url_for = [&deployer](const std::string& app) { return deployer.AppUrl(app); };
  history_options.store = store.get();
  if (Status s = history.Open(options.data_dir + "/history", history_options); s.ok())
    deployer.SetObserver(&history);
  else
    std::fprintf(stderr, "bimd: warning: no deployment history this run: %s\n", s.message().c_str());
  // Starts (or adopts) nginx with the database's routes and cleans up what a crash left behind.
  if (Status s = deployer.Reconcile(); !s.ok()) return Fail(s);
  // Once more, now that the history repository and nginx's files exist (libgit2 makes its sample
  // hooks executable).
  if (Status s = RestrictTree(options.data_dir); !s.ok()) return Fail(s);
  // Certificates for custom domains: obtained and renewed in the background; a change goes live as
  // a checked site change.
  std::unique_ptr<LegoClient> acme;
  if (!options.acme.email.empty()) acme = std::make_unique<LegoClient>(options.acme, &runner);
  CertManager certs(options.certs, store.get(), acme.get(), [&deployer](const std::string& app) { return deployer.RefreshSite(app); });


  ApiServer api(options, &deployer, store.get(), &auth);
  api.SetCertManager(&certs);
  if (ApiTls* tls = api.tls()) {
    if (Status s = ServeApiCertificate(options, &certs, tls); !s.ok()) return Fail(s);
    certs.SetApiApply([tls](const std::string& cert, const std::string& key) { return tls->UseFiles(cert, key, "acme"); });
  }
  certs.Start();
  int port = 0;
  if (Status s = api.Bind(&port); !s.ok()) return Fail(s);
  std::string host = options.listen.substr(0, options.listen.rfind(':'));
  const char* scheme = options.tls_cert.empty() && !api.tls() ? "http" : "https";
  if (api.tls()) host = options.certs.api_domain;
  std::printf("bimd: API on %s://%s:%d, apps at %s (nginx on %s); log in with: bim login "
              "%s://%s:%d --token $(cat %s)%s\n",
              scheme, host.c_str(), port, deployer.AppUrl("<app>").c_str(), options.nginx.listen.c_str(), scheme,
              host.c_str(), port, token_path.c_str(), created ? " (new admin token)" : "");
  if (options.engine == "swarm")
    std::printf("bimd: apps run on Docker Swarm (the dockerd at %s is a manager); image registry on %s\n",
                options.docker_socket.c_str(), options.registry_listen.c_str());
  std::fflush(stdout);

  // SIGHUP reloads the API's TLS certificate (e.g. after a renewal); SIGINT/SIGTERM stop.
  std::thread([&api, signals] {
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGHUP) {
        Status s = api.ReloadTls();
        std::fprintf(stderr, "bimd: SIGHUP: %s\n", s.ok() ? "reloaded the TLS certificate" : s.message().c_str());
        continue;
      }
      std::fprintf(stderr, "bimd: stopping (signal %d); nginx and running apps stay up\n", sig);
      api.Stop();
      return;
    }
  }).detach();

  // nginx is bimd's to keep serving: if its master dies (killed, out of memory), a new master takes
  // over from the orphaned workers, or starts from the files on disk with every route, within
  // options.nginx_check_interval.
  std::atomic<bool> stopping{false};
  std::thread nginx_watch([&] {
    while (!stopping) {
      for (auto slept = std::chrono::milliseconds(0); slept < options.nginx_check_interval && !stopping;
           slept += std::chrono::milliseconds(50))
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (stopping) break;
      bool restarted = false;
      Status s = router.EnsureRunning(&restarted);
      if (!s.ok())
        std::fprintf(stderr, "bimd: warning: nginx's master is gone and could not be restarted: %s\n", s.message().c_str());
      else if (restarted)
        std::fprintf(stderr, "bimd: nginx's master was gone; a new one serves now\n");
    }
  });
  api.Serve();
  stopping = true;
  nginx_watch.join();
  return 0;
}
