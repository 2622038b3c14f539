#include "server/limit_flags.h"


#include "core/app_config.h"
#include "core/ipv4_net.h"

namespace bim {

namespace {

Status Size(const std::string& flag, const std::string& text, int64_t* out) {
  if (text.empty()) return Status::OK();
  Status s = ParseByteSize(text, out);
  return s.ok() ? s : s.Wrap(flag);
}

Status Cpus(const std::string& flag, double cpus, int64_t* out, bool zero_ok) {
  if (cpus < 0) return Status::OK();
  if ((cpus == 0 && !zero_ok) || cpus > 1024)
    return Status::InvalidArgument(flag + " must be a number of CPUs like 0.5 or 2" + (zero_ok ? " (0: no limit)" : ""));
  *out = static_cast<int64_t>(cpus * 1e9 + 0.5);
  return Status::OK();
}

Status Count(const std::string& flag, int64_t n, int64_t* out, int64_t min) {
  if (n < 0) return Status::OK();
  if (n < min) return Status::InvalidArgument(flag + " must be at least " + std::to_string(min));
  *out = n;
  return Status::OK();
}


}  // namespace

void AddLimitFlags(CLI::App& cli, LimitFlags* f) {
  const ServerOptions d;
  auto cpus = [](int64_t nano) { return nano == 0 ? std::string("no limit") : std::to_string(nano / 1e9).substr(0, 4); };
  auto size = [](int64_t bytes) { return bytes == 0 ? std::string("no limit") : FormatByteSize(bytes); };
  cli.add_option("--memory", f->memory, "Memory of each app container unless bim.toml asks otherwise (default " +
                 size(d.container_limits.memory_bytes) + ")");
  cli.add_option("--cpus", f->cpus, "CPUs of each app container by default (default " + cpus(d.container_limits.nano_cpus) + ")");
  cli.add_option("--pids", f->pids, "Processes and threads of each app container by default (default " +
                 std::to_string(d.container_limits.pids) + ")");
  cli.add_option("--max-memory", f->max_memory, "Most memory a bim.toml [resources] may ask for (default " +
                 size(d.max_container_limits.memory_bytes) + ")");
  cli.add_option("--max-cpus", f->max_cpus, "Most CPUs a bim.toml may ask for (default: every CPU of this host)");
  cli.add_option("--max-pids", f->max_pids, "Most processes a bim.toml may ask for (default " +
                 std::to_string(d.max_container_limits.pids) + ")");
  cli.add_option("--log-max-size", f->log_max_size, "Size of each container log file before rotation (default " +
                 d.log_max_size + ")");
  cli.add_option("--log-max-files", f->log_max_files, "Rotated container log files kept (default " +
                 std::to_string(d.log_max_files) + ")");
  cli.add_option("--build-memory", f->build_memory, "Memory of each build step (default " + size(d.build_limits.memory_bytes) + ")");
  cli.add_option("--build-cpus", f->build_cpus, "CPUs of each build step (default: no limit; 0 = no limit)");
  cli.add_option("--build-pids", f->build_pids, "Processes of a whole build (default " +
                 std::to_string(d.build_limits.pids) + "; needs dockerd's cgroupfs driver)");
  cli.add_option("--build-timeout", f->build_timeout, "A build's deadline; bim.toml may shorten it (default " +
                 FormatDuration(d.build_timeout) + ")");
  cli.add_option("--block-egress", f->block_egress, "IPv4 CIDR app containers and builds may not reach, besides "
                 "169.254.0.0/16 (repeatable)");
  cli.add_flag("--no-network-isolation", f->no_isolation, "Run apps on Docker's default bridge, without their own "
               "networks and firewall rules (only where iptables is unavailable; apps can then reach each other)");
}

Status ApplyLimitFlags(const LimitFlags& f, ServerOptions* o) {
  Status s;
  if (!(s = Size("--memory", f.memory, &o->container_limits.memory_bytes)).ok()) return s;
  if (!(s = Size("--max-memory", f.max_memory, &o->max_container_limits.memory_bytes)).ok()) return s;
  if (!(s = Size("--build-memory", f.build_memory, &o->build_limits.memory_bytes)).ok()) return s;
  if (!(s = Cpus("--cpus", f.cpus, &o->container_limits.nano_cpus, false)).ok()) return s;
  if (!(s = Cpus("--max-cpus", f.max_cpus, &o->max_container_limits.nano_cpus, true)).ok()) return s;
  if (!(s = Cpus("--build-cpus", f.build_cpus, &o->build_limits.nano_cpus, true)).ok()) return s;
  if (!(s = Count("--pids", f.pids, &o->container_limits.pids, 16)).ok()) return s;
  if (!(s = Count("--max-pids", f.max_pids, &o->max_container_limits.pids, 16)).ok()) return s;
  if (!(s = Count("--build-pids", f.build_pids, &o->build_limits.pids, 0)).ok()) return s;
  if (!f.log_max_size.empty()) {
    int64_t bytes = 0;
    if (!(s = Size("--log-max-size", f.log_max_size, &bytes)).ok()) return s;
    o->log_max_size = FormatByteSize(bytes);
  }
  if (f.log_max_files >= 0) {
    if (f.log_max_files < 1 || f.log_max_files > 100) return Status::InvalidArgument("--log-max-files must be 1-100");
    o->log_max_files = f.log_max_files;
  }
  if (!f.build_timeout.empty()) {
    if (!(s = ParseDuration(f.build_timeout, &o->build_timeout)).ok()) return s.Wrap("--build-timeout");
  }
  for (const std::string& cidr : f.block_egress) {
    Ipv4Net net;
    if (!(s = ParseIpv4Net(cidr, &net)).ok()) return s.Wrap("--block-egress");
    o->blocked_egress.push_back(cidr);
  }
  if (f.no_isolation) o->isolate_networks = false;
  const ResourceLimits& def = o->container_limits;
  const ResourceLimits& max = o->max_container_limits;
  auto above = [](const char* flag, const std::string& value, const std::string& limit) {
    return Status::InvalidArgument(std::string(flag) + " " + value + " is above --max-" + (flag + 2) + " " + limit +
                                   " (lower it, or raise the maximum)");
  };
  if (max.memory_bytes > 0 && def.memory_bytes > max.memory_bytes)
    return above("--memory", FormatByteSize(def.memory_bytes), FormatByteSize(max.memory_bytes));
  if (max.pids > 0 && def.pids > max.pids) return above("--pids", std::to_string(def.pids), std::to_string(max.pids));
  if (max.nano_cpus > 0 && def.nano_cpus > max.nano_cpus)
    return above("--cpus", std::to_string(def.nano_cpus / 1e9), std::to_string(max.nano_cpus / 1e9));
  return Status::OK();
}

}  // namespace bim
