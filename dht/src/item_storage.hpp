// libtorrent's dht_storage_interface over item_table: keeps only BEP44 mutable items signed by
// roster keys, refuses immutable items and peer announces (dm2 does not use them), and never
// touches the disk on the network thread (item_table's writer does).
#pragma once

#include <libtorrent/kademlia/dht_storage.hpp>

#include <memory>

#include "item_table.hpp"

namespace dm2::dht {

libtorrent::dht::dht_storage_constructor_type item_storage_constructor(std::shared_ptr<item_table> table);

}  // namespace dm2::dht
