#include "item_storage.hpp"

#include <libtorrent/bdecode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/kademlia/item.hpp>

namespace dm2::dht {

namespace lt = libtorrent;

namespace {

std::string to_string(const lt::sha1_hash& h) { return std::string(h.data(), h.size()); }

class item_storage final : public lt::dht::dht_storage_interface {
 public:
  explicit item_storage(std::shared_ptr<item_table> table) : table_(std::move(table)) {}

  std::size_t num_torrents() const override { return 0; }
  std::size_t num_peers() const override { return 0; }
  void update_node_ids(std::vector<lt::dht::node_id> const&) override {}

  // No peer lists: dm2 does not announce (an announce is unsigned).
  bool get_peers(lt::sha1_hash const&, bool, bool, lt::address const&, lt::entry&) const override {
    return false;
  }
  void announce_peer(lt::sha1_hash const&, lt::tcp::endpoint const&, lt::string_view, bool) override {}

  // No immutable items: anyone could store them, signed by nobody.
  bool get_immutable_item(lt::sha1_hash const&, lt::entry&) const override { return false; }
  void put_immutable_item(lt::sha1_hash const&, lt::span<char const>, lt::address const&) override {
    ++table_->policy()->refused_items;
  }

  bool get_mutable_item_seq(lt::sha1_hash const& target, lt::dht::sequence_number& seq) const override {
    auto item = table_->get(to_string(target));
    if (!item) return false;
    seq = lt::dht::sequence_number(item->seq);
    return true;
  }

  bool get_mutable_item(lt::sha1_hash const& target, lt::dht::sequence_number seq, bool force_fill,
                        lt::entry& out) const override {
    auto item = table_->get(to_string(target));
    if (!item) return false;
    out["seq"] = item->seq;
    if (force_fill || (lt::dht::sequence_number(0) <= seq && seq < lt::dht::sequence_number(item->seq))) {
      lt::error_code ec;
      auto v = lt::bdecode(lt::span<char const>(item->value.data(),
                                                static_cast<std::ptrdiff_t>(item->value.size())), ec);
      if (ec) return false;
      out["v"] = v;
      out["sig"] = item->signature;
      out["k"] = item->public_key;
    }
    return true;
  }

  // Called after libtorrent checked the signature and the sequence number.
  void put_mutable_item(lt::sha1_hash const& target, lt::span<char const> buf,
                        lt::dht::signature const& sig, lt::dht::sequence_number seq,
                        lt::dht::public_key const& pk, lt::span<char const> salt,
                        lt::address const&) override {
    stored_item item;
    item.public_key.assign(pk.bytes.data(), pk.bytes.size());
    item.signature.assign(sig.bytes.data(), sig.bytes.size());
    item.salt.assign(salt.data(), static_cast<std::size_t>(salt.size()));
    item.value.assign(buf.data(), static_cast<std::size_t>(buf.size()));
    item.seq = seq.value;
    table_->put(to_string(target), std::move(item));
  }

  int get_infohashes_sample(lt::entry& item) override {
    item["interval"] = 21600;
    item["num"] = 0;
    item["samples"] = std::string();
    return 0;
  }

  void tick() override {}

  lt::dht::dht_storage_counters counters() const override {
    lt::dht::dht_storage_counters c;
    c.mutable_data = static_cast<std::int32_t>(table_->size());
    return c;
  }

 private:
  std::shared_ptr<item_table> table_;
};

}  // namespace

lt::dht::dht_storage_constructor_type item_storage_constructor(std::shared_ptr<item_table> table) {
  return [table](lt::settings_interface const&) -> std::unique_ptr<lt::dht::dht_storage_interface> {
    return std::make_unique<item_storage>(table);
  };
}

}  // namespace dm2::dht
