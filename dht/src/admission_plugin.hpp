// The session plugin that refuses every DHT query whose source address is not on the roster.
// libtorrent's IP filter does not cover the DHT (notes/libtorrent-dht.md), so this is the one
// place where a non-member's queries stop: it answers them with a KRPC error (203), so their puts
// count no success and their gets find nothing. It does not see replies or routing updates; a
// refused peer may sit in the routing table but can neither store nor read through us.
// It also refuses, from members, puts that the item table would not keep (immutable items,
// unknown signers, oversized, over quota), so the writer sees the refusal (num_success = 0)
// instead of a silent drop. And it carries incarnations (overlay.hpp, live_peer): it reads the
// "inc" of a member's ping and adds this node's own to the reply.
#pragma once

#include <libtorrent/extensions.hpp>

#include <cstdint>
#include <functional>
#include <memory>

#include "admission.hpp"
#include "item_table.hpp"

namespace dm2::dht {

// The "inc" integer of a KRPC argument or reply dictionary: 0 when absent, not a positive
// integer, or `dict` is not a dictionary.
std::uint64_t incarnation_in(const libtorrent::bdecode_node& dict);

class admission_plugin final : public libtorrent::plugin {
 public:
  // `heard` is called (on the network thread) with the source of every query from a roster
  // address, and the incarnation a ping carried (0 for other queries): a query is a sign of life
  // as good as a ping reply. `incarnation`: this node's, added to its ping replies.
  using heard_callback = std::function<void(const libtorrent::udp::endpoint&, std::uint64_t)>;
  admission_plugin(std::shared_ptr<admission> policy, std::shared_ptr<item_table> table,
                   std::uint64_t incarnation, heard_callback heard)
      : policy_(std::move(policy)), table_(std::move(table)), incarnation_(incarnation), heard_(std::move(heard)) {}
  libtorrent::feature_flags_t implemented_features() override;
  bool on_dht_request(libtorrent::string_view query, libtorrent::udp::endpoint const& source,
                      libtorrent::bdecode_node const& message, libtorrent::entry& response) override;

 private:
  bool refuse(libtorrent::entry& response, const std::string& peer, libtorrent::string_view query,
              const char* reason, std::atomic<std::uint64_t>& counter);
  std::shared_ptr<admission> policy_;
  std::shared_ptr<item_table> table_;
  std::uint64_t incarnation_;
  heard_callback heard_;
};

}  // namespace dm2::dht
