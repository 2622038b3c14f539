#include "core/ipv4_net.h"

#include <algorithm>
#include <charconv>

namespace bim {

namespace {

// A decimal number of at most `max_digits` digits, no sign, no leading "+"; false otherwise.
bool ParseNumber(std::string_view text, size_t max_digits, unsigned* out) {
  if (text.empty() || text.size() > max_digits) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

bool ParseIpv4Address(std::string_view text, uint32_t* out) {
  uint32_t address = 0;
  for (int part = 0; part < 4; ++part) {
    size_t dot = part < 3 ? text.find('.') : text.size();
    if (dot == std::string_view::npos) return false;
    std::string_view digits = text.substr(0, dot);
    unsigned octet = 0;
    if (!ParseNumber(digits, 3, &octet) || octet > 255 || (digits.size() > 1 && digits[0] == '0')) return false;
    address = (address << 8) | octet;
    text = part < 3 ? text.substr(dot + 1) : std::string_view();
  }
  *out = address;
  return true;
}

std::string Ipv4Net::Host(uint32_t offset) const {
  const uint32_t a = address + offset;
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) + "." +
         std::to_string(a & 255);
}

std::string Ipv4Net::ToString() const { return Host() + "/" + std::to_string(prefix); }

Status ParseIpv4Net(std::string_view text, Ipv4Net* out) {
  const std::string shown(text.substr(0, 60));
  auto invalid = [&shown] { return Status::InvalidArgument("\"" + shown + "\" is not an IPv4 network like 10.0.0.0/8"); };
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return invalid();
  unsigned prefix = 0;
  if (!ParseNumber(text.substr(slash + 1), 2, &prefix) || prefix > 32) return invalid();
  uint32_t address = 0;
  if (!ParseIpv4Address(text.substr(0, slash), &address)) return invalid();
  Ipv4Net net{address, static_cast<int>(prefix)};
  uint32_t host_bits = prefix == 0 ? ~uint32_t{0} : static_cast<uint32_t>(net.size() - 1);
  if (address & host_bits) {
    Ipv4Net base{address & ~host_bits, net.prefix};
    return Status::InvalidArgument("\"" + shown + "\" has host bits set; did you mean " + base.ToString() + "?");
  }
  *out = net;
  return Status::OK();
}

Status FirstFreeSubnet(const Ipv4Net& pool, int prefix, const std::vector<Ipv4Net>& taken, Ipv4Net* out,
                       uint64_t start) {
  if (prefix < pool.prefix || prefix > 30)
    return Status::InvalidArgument("subnets of /" + std::to_string(prefix) + " cannot be carved from " + pool.ToString() +
                                   " (use a prefix between /" + std::to_string(pool.prefix) + " and /30)");
  std::vector<Ipv4Net> in_pool;
  for (const Ipv4Net& t : taken)
    if (t.Overlaps(pool)) in_pool.push_back(t);
  std::sort(in_pool.begin(), in_pool.end(), [](const Ipv4Net& a, const Ipv4Net& b) { return a.address < b.address; });
  const uint64_t step = uint64_t{1} << (32 - prefix);
  const uint64_t begin = pool.address, end = uint64_t{pool.address} + pool.size();
  const uint64_t from = begin + (start % (pool.size() / step)) * step;
  // The first free subnet in [lo, hi): walk the taken networks in address order; each one that
  // overlaps the candidate pushes it past that network's end, rounded up to a subnet boundary.
  auto first_free = [&](uint64_t lo, uint64_t hi, uint64_t* found) {
    uint64_t candidate = lo;
    for (const Ipv4Net& t : in_pool) {
      if (candidate + step <= t.address) break;  // the candidate ends before this (and every later) network
      if (uint64_t{t.last()} >= candidate) candidate = (uint64_t{t.last()} + 1 + step - 1) / step * step;
    }
    if (candidate + step > hi) return false;
    *found = candidate;
    return true;
  };
  uint64_t found = 0;
  if (!first_free(from, end, &found) && !(from > begin && first_free(begin, from, &found)))
    return Status::TooLarge("every /" + std::to_string(prefix) + " of " + pool.ToString() +
                            " is in use; give bimd a larger pool with --app-subnets");
  *out = Ipv4Net{static_cast<uint32_t>(found), prefix};
  return Status::OK();
}

}  // namespace bim
