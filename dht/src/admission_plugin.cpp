#include "admission_plugin.hpp"

#include <libtorrent/bdecode.hpp>
#include <libtorrent/entry.hpp>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

namespace dm2::dht {

namespace lt = libtorrent;

std::uint64_t incarnation_in(const lt::bdecode_node& dict) {
  if (dict.type() != lt::bdecode_node::dict_t) return 0;
  auto inc = dict.dict_find_int_value("inc", 0);
  return inc > 0 ? static_cast<std::uint64_t>(inc) : 0;
}

lt::feature_flags_t admission_plugin::implemented_features() {
  return lt::plugin::dht_request_feature;
}

bool admission_plugin::refuse(lt::entry& response, const std::string& peer, lt::string_view query,
                              const char* reason, std::atomic<std::uint64_t>& counter) {
  auto n = ++counter;
  // One line per 1000 refusals: a scanning or misbehaving peer must not flood the log.
  if (n % 1000 == 1)
    spdlog::warn("event=dht_query_refused peer={} query={} reason={} refused_total={}", peer,
                 std::string(query.substr(0, 32)), reason, n);
  auto& dict = response.dict();
  dict.erase("r");
  dict["y"] = "e";
  lt::entry::list_type error;
  error.emplace_back(203);
  error.emplace_back(reason);
  dict["e"] = std::move(error);
  return true;  // answered: libtorrent sends `response` and does nothing else
}

bool admission_plugin::on_dht_request(lt::string_view query, lt::udp::endpoint const& source,
                                      lt::bdecode_node const& message, lt::entry& response) {
  auto address = source.address().to_string();
  if (!policy_->address_allowed(address))
    return refuse(response, address, query, "not_on_roster", policy_->refused_queries);
  if (query == "ping") {
    if (heard_) heard_(source, incarnation_in(message.dict_find_dict("a")));
    // libtorrent answers it, with this entry: its "r" dictionary already holds our id.
    response["r"]["inc"] = static_cast<lt::entry::integer_type>(incarnation_);
    return false;
  }
  if (heard_) heard_(source, 0);
  if (query != "put") return false;  // libtorrent handles it
  auto args = message.dict_find_dict("a");
  if (!args) return refuse(response, address, query, "malformed", policy_->refused_items);
  auto k = args.dict_find_string("k");
  auto v = args.dict_find("v");
  if (!k || !v) return refuse(response, address, query, "immutable_item", policy_->refused_items);
  if (k.string_length() != 32) return refuse(response, address, query, "malformed", policy_->refused_items);
  auto salt = args.dict_find_string_value("salt");
  // BEP44: target = SHA-1(public key || salt).
  std::string key(k.string_value());
  std::string target(20, '\0');
  std::string material = key + std::string(salt);
  SHA1(reinterpret_cast<const unsigned char*>(material.data()), material.size(),
       reinterpret_cast<unsigned char*>(target.data()));
  auto why = table_->refusal(target, key,
                             salt.size(), static_cast<std::size_t>(v.data_section().size()));
  if (!why.empty()) return refuse(response, address, query, why.c_str(), policy_->refused_items);
  return false;
}

}  // namespace dm2::dht
