// How the overlay logic reaches other sites. Delivery is best effort and asynchronous: a message
// to a dead or unreachable site is lost without an error (the next repair round retries), and
// answers arrive later through replicator::on_message. Implementations say whether they are
// thread-safe.
#pragma once

#include <string>

#include "dm2/dht/messages.hpp"

namespace dm2::dht {

class transport {
 public:
  virtual ~transport() = default;
  virtual void send(const std::string& from_site, const std::string& to_site, message m) = 0;
};

}  // namespace dm2::dht
