#include "dm2/dht/overlay.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace dm2::dht {
namespace {

overlay_settings loopback(std::uint16_t port = 0) {
  overlay_settings s;
  s.listen_address = "127.0.0.1";
  s.listen_port = port;
  return s;
}

TEST(overlay, starts_on_an_ephemeral_port_with_id_from_site_key) {
  auto o = overlay::start(loopback(), std::string(32, 'k'));
  ASSERT_TRUE(o.ok()) << o.err().to_string();
  EXPECT_NE((*o)->listen_port(), 0);
  // SHA-1 of 32 'k' bytes.
  auto again = overlay::start(loopback(), std::string(32, 'k'));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*o)->node_id_hex(), (*again)->node_id_hex());
  EXPECT_EQ((*o)->node_id_hex().size(), 40u);
  auto other = overlay::start(loopback(), std::string(32, 'j'));
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*o)->node_id_hex(), (*other)->node_id_hex());
}

TEST(overlay, occupied_udp_port_is_a_clear_error) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto o = overlay::start(loopback(ntohs(addr.sin_port)), std::string(32, 'k'));
  ::close(fd);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.err().code, errc::unavailable);
  EXPECT_NE(o.err().message.find("/udp"), std::string::npos) << o.err().message;
}

TEST(overlay, wildcard_address_is_refused) {
  auto s = loopback();
  s.listen_address = "0.0.0.0";
  auto o = overlay::start(s, std::string(32, 'k'));
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.err().code, errc::invalid_argument);
}

}  // namespace
}  // namespace dm2::dht
