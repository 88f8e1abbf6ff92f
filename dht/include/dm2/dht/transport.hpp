// How the overlay logic reaches other sites. Delivery is best effort and asynchronous: a message
// to a dead or unreachable site is lost without an error (the next repair round retries), and
// answers arrive later through replicator::on_message. Implementations say whether they are
// thread-safe.
#pragma once

#include <string>

#include "dm2/dht/messages.hpp"
#include "dm2/dht/site_indexes.hpp"

namespace dm2::dht {

class transport {
 public:
  virtual ~transport() = default;
  virtual void send(const std::string& from_site, const std::string& to_site, message m) = 0;
  // The same, with both sites' indexes in the sender's membership view (site_indexes.hpp;
  // `from` may be no_site): a transport whose sites all share one view (dm2-sim) finds the
  // destination and names the sender without hashing their ids, once per message. By id here.
  virtual void send_indexed(const std::string& from_site, site_index from, const std::string& to_site,
                            site_index to, message m) {
    (void)from;
    (void)to;
    send(from_site, to_site, std::move(m));
  }
};

}  // namespace dm2::dht
