// The libtorrent settings of a private, DHT-only overlay. Each line undoes a default that
// silently breaks a private loopback or VPN overlay (../shared/notes/libtorrent-dht.md).
#pragma once

#include <libtorrent/settings_pack.hpp>

#include <cstdint>
#include <string>

namespace dm2::dht {

inline libtorrent::settings_pack private_overlay_settings(const std::string& address,
                                                          std::uint16_t port) {
  namespace lt = libtorrent;
  lt::settings_pack s;
  s.set_str(lt::settings_pack::listen_interfaces, address + ":" + std::to_string(port));
  s.set_bool(lt::settings_pack::listen_system_port_fallback, false);  // a taken port is an error
  s.set_int(lt::settings_pack::max_retry_port_bind, 0);                // ... not a try of port + 1
  s.set_str(lt::settings_pack::dht_bootstrap_nodes, "");  // never a public router
  s.set_bool(lt::settings_pack::enable_dht, false);       // enabled once the socket listens
  s.set_bool(lt::settings_pack::enable_lsd, false);
  s.set_bool(lt::settings_pack::enable_upnp, false);
  s.set_bool(lt::settings_pack::enable_natpmp, false);
  s.set_bool(lt::settings_pack::enable_ip_notifier, false);
  s.set_bool(lt::settings_pack::dht_restrict_routing_ips, false);  // one /24 is not one node
  s.set_bool(lt::settings_pack::dht_restrict_search_ips, false);
  s.set_bool(lt::settings_pack::dht_prefer_verified_node_ids, false);
  s.set_bool(lt::settings_pack::dht_enforce_node_id, false);
  s.set_int(lt::settings_pack::dht_block_ratelimit, 100000);
  s.set_int(lt::settings_pack::dht_upload_rate_limit, 1 << 24);
  s.set_int(lt::settings_pack::alert_mask,
            lt::alert_category::status | lt::alert_category::error | lt::alert_category::dht |
                lt::alert_category::dht_operation);
  s.set_int(lt::settings_pack::alert_queue_size, 10000);
  return s;
}

}  // namespace dm2::dht
