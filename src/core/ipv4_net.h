// Ipv4Net: an IPv4 network in CIDR form ("10.192.0.0/12"), and carving subnets out of a pool.
//
// bimd gives every app its own Docker bridge network. Left to Docker, each one takes a /16 or /20 of
// Docker's default pools, which run out after about 30 networks on a host; bimd instead hands each
// network a small subnet of its own pool (LocalEngineOptions::app_subnet_pool), found here.
// Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim {

struct Ipv4Net {
  uint32_t address = 0;  // host byte order, host bits zero
  int prefix = 32;       // 0-32

  uint64_t size() const { return uint64_t{1} << (32 - prefix); }
  uint32_t last() const { return static_cast<uint32_t>(address + size() - 1); }
  bool Overlaps(const Ipv4Net& other) const { return address <= other.last() && other.address <= last(); }
  bool operator==(const Ipv4Net& o) const { return address == o.address && prefix == o.prefix; }
  std::string ToString() const;  // "10.192.0.64/26"
  // The dotted quad of the address `offset` into the network: Host(1) is the first host address
  // (where Docker puts a bridge network's gateway).
  std::string Host(uint32_t offset = 0) const;
};

// Parses a dotted quad "A.B.C.D" into host byte order: four decimal parts of 0-255 without leading
// zeros ("010" reads as octal elsewhere, so it is refused rather than guessed). false for anything else.
bool ParseIpv4Address(std::string_view text, uint32_t* out);

// Parses "A.B.C.D/N". InvalidArgument naming the text for anything else, including host bits set
// ("10.0.0.1/8": did you mean 10.0.0.0/8?).
Status ParseIpv4Net(std::string_view text, Ipv4Net* out);

// The first subnet of `pool` with the given prefix length that overlaps none of `taken`, searching
// from the pool's subnet number `start` (modulo their count) to the pool's end, then from its
// beginning. Callers that allocate concurrently pass different starts, so that they rarely pick the
// same subnet. InvalidArgument if `prefix` is shorter than the pool's or longer than 30 (no room for
// a gateway and a container); TooLarge ("every /26 of 10.192.0.0/12 is in use") when none is free.
Status FirstFreeSubnet(const Ipv4Net& pool, int prefix, const std::vector<Ipv4Net>& taken, Ipv4Net* out,
                       uint64_t start = 0);

}  // namespace bim
