#include "core/ipv4_net.h"

#include <gtest/gtest.h>

namespace bim {
namespace {

Ipv4Net Net(const std::string& text) {
  Ipv4Net net;
  Status s = ParseIpv4Net(text, &net);
  EXPECT_TRUE(s.ok()) << s.message();
  return net;
}

TEST(Ipv4NetTest, ParsesCidrAndRefusesEverythingElseNamingIt) {
  EXPECT_EQ(Net("10.192.0.0/12").ToString(), "10.192.0.0/12");
  EXPECT_EQ(Net("0.0.0.0/0").size(), uint64_t{1} << 32);
  EXPECT_EQ(Net("10.192.0.64/26").Host(1), "10.192.0.65");
  EXPECT_EQ(Net("172.17.0.0/16").last(), Net("172.17.255.255/32").address);
  for (const char* bad : {"10.0.0.0", "10.0.0/8", "10.0.0.0/33", "10.0.0.256/32", "10.0.0.0/", "/8", "a.b.c.d/8",
                          "10.0.0.0/8 ", "10..0.0/8", "10.0.0.0.0/8", "-1.0.0.0/8", "10.0.0.0/+8", "1000.0.0.0/8", "010.0.0.0/8"}) {
    Ipv4Net net;
    Status s = ParseIpv4Net(bad, &net);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("IPv4 network like 10.0.0.0/8"), std::string::npos) << s.message();
  }
  Ipv4Net net;
  Status host_bits = ParseIpv4Net("10.0.0.1/8", &net);
  EXPECT_NE(host_bits.message().find("did you mean 10.0.0.0/8?"), std::string::npos) << host_bits.message();
}

TEST(Ipv4NetTest, FirstFreeSubnetSkipsEveryOverlapAndSaysWhenThePoolIsFull) {
  const Ipv4Net pool = Net("10.192.0.0/24");
  Ipv4Net out;
  ASSERT_TRUE(FirstFreeSubnet(pool, 26, {}, &out).ok());
  EXPECT_EQ(out.ToString(), "10.192.0.0/26");
  // Taken networks in any order, of any size, inside, around or outside the pool.
  std::vector<Ipv4Net> taken = {Net("10.192.0.64/27"), Net("10.192.0.0/26"), Net("172.17.0.0/16"), Net("10.0.0.0/9")};
  ASSERT_TRUE(FirstFreeSubnet(pool, 26, taken, &out).ok());
  EXPECT_EQ(out.ToString(), "10.192.0.128/26");  // .64/27 blocks the whole .64/26
  taken.push_back(Net("10.192.0.130/32"));
  ASSERT_TRUE(FirstFreeSubnet(pool, 26, taken, &out).ok());
  EXPECT_EQ(out.ToString(), "10.192.0.192/26");
  taken.push_back(Net("10.192.0.192/26"));
  Status full = FirstFreeSubnet(pool, 26, taken, &out);
  EXPECT_EQ(full.code(), Code::kTooLarge);
  EXPECT_NE(full.message().find("every /26 of 10.192.0.0/24 is in use"), std::string::npos) << full.message();
  // A network covering the whole pool leaves nothing.
  EXPECT_EQ(FirstFreeSubnet(pool, 28, {Net("10.0.0.0/8")}, &out).code(), Code::kTooLarge);
  // Small free gaps between taken networks are used.
  ASSERT_TRUE(FirstFreeSubnet(pool, 28, {Net("10.192.0.0/28"), Net("10.192.0.32/27")}, &out).ok());
  EXPECT_EQ(out.ToString(), "10.192.0.16/28");
  // The last subnet of a pool that ends at 255.255.255.255 is found without overflow.
  ASSERT_TRUE(FirstFreeSubnet(Net("255.255.255.0/24"), 25, {Net("255.255.255.0/25")}, &out).ok());
  EXPECT_EQ(out.ToString(), "255.255.255.128/25");
  // A start in the middle searches to the end, then wraps to the beginning.
  ASSERT_TRUE(FirstFreeSubnet(pool, 26, {Net("10.192.0.128/26")}, &out, 2).ok());
  EXPECT_EQ(out.ToString(), "10.192.0.192/26");
  ASSERT_TRUE(FirstFreeSubnet(pool, 26, {Net("10.192.0.128/25")}, &out, 2).ok());
  EXPECT_EQ(out.ToString(), "10.192.0.0/26");
  ASSERT_TRUE(FirstFreeSubnet(pool, 26, {Net("10.192.0.0/26")}, &out, 4 + 1).ok());  // 5 mod 4 subnets = 1
  EXPECT_EQ(out.ToString(), "10.192.0.64/26");
  EXPECT_EQ(FirstFreeSubnet(pool, 26, {Net("10.192.0.0/24")}, &out, 3).code(), Code::kTooLarge);
  EXPECT_EQ(FirstFreeSubnet(pool, 23, {}, &out).code(), Code::kInvalidArgument);
  EXPECT_EQ(FirstFreeSubnet(pool, 31, {}, &out).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace bim
