// cluster_testbed: forms and removes the multi-host test bed (see testbed.h) from the command line,
// for the cluster suite's CTest fixture and for bench/cluster_bench.sh.
//
//   cluster_testbed up [--hosts N] [--owner-parent | --owner PID]   form a bed, print its state file
//   cluster_testbed down (--owner-parent | --owner PID | STATE_FILE)  remove a bed, pass or fail
//   cluster_testbed exec STATE_FILE HOST -- PROGRAM ARGS...           run a program in HOST's network
//   cluster_testbed sweep                                             remove beds whose owner is gone
//
// The CTest fixture passes --owner-parent: the bed then belongs to ctest (the parent of every test
// process), so each test case finds it, and a bed left by a killed ctest is swept by the next `up`.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cluster/testbed.h"

using bim::testing::TestBed;
using bim::testing::TestBedOptions;

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: cluster_testbed up [--hosts N] [--owner-parent | --owner PID]\n"
               "       cluster_testbed down (--owner-parent | --owner PID | STATE_FILE)\n"
               "       cluster_testbed exec STATE_FILE HOST -- PROGRAM ARGS...\n"
               "       cluster_testbed sweep\n");
  return 2;
}

// Reads --owner-parent / --owner PID; 0 if neither is given.
int OwnerFrom(const std::vector<std::string>& args, size_t* i) {
  if (args[*i] == "--owner-parent") return getppid();
  if (args[*i] == "--owner" && *i + 1 < args.size()) return std::atoi(args[++*i].c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return Usage();
  TestBedOptions options;
  std::string error;
  if (args[0] == "up") {
    for (size_t i = 1; i < args.size(); ++i) {
      if (int owner = OwnerFrom(args, &i)) options.owner_pid = owner;
      else if (args[i] == "--hosts" && i + 1 < args.size()) options.hosts = std::atoi(args[++i].c_str());
      else return Usage();
    }
    TestBed bed;
    if (!TestBed::Up(options, &bed, &error)) {
      std::fprintf(stderr, "cluster_testbed: error: %s\n", error.c_str());
      return 1;
    }
    std::printf("%s\n", bed.state_file().c_str());
    return 0;
  }
  if (args[0] == "down" && args.size() >= 2) {
    TestBed bed;
    size_t i = 1;
    int owner = OwnerFrom(args, &i);
    bool found = owner > 0 ? TestBed::FindByOwner(options.state_dir, owner, &bed) : TestBed::Load(args[1], &bed);
    if (!found) return 0;  // nothing to remove
    if (!bed.Down(&error)) {
      std::fprintf(stderr, "cluster_testbed: error: %s\n", error.c_str());
      return 1;
    }
    return 0;
  }
  if (args[0] == "exec" && args.size() >= 5 && args[3] == "--") {
    TestBed bed;
    if (!TestBed::Load(args[1], &bed)) {
      std::fprintf(stderr, "cluster_testbed: error: no test bed at %s\n", args[1].c_str());
      return 1;
    }
    if (!bed.EnterHostNetwork(args[2], &error)) {
      std::fprintf(stderr, "cluster_testbed: error: %s\n", error.c_str());
      return 1;
    }
    execvp(argv[5], argv + 5);
    std::fprintf(stderr, "cluster_testbed: error: cannot run %s: %s\n", argv[5], std::strerror(errno));
    return 127;
  }
  if (args[0] == "sweep") {
    std::printf("%d\n", TestBed::SweepStale(options.state_dir));
    return 0;
  }
  return Usage();
}
