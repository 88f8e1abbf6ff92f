#include "audit_log.hpp"

#include <spdlog/spdlog.h>

#include "dm2/storage/transaction.hpp"

namespace dm2::node {

status audit_log::append(storage::audit_event event) {
  auto action = event.action;
  storage::transaction t;
  t.append_audit(std::move(event));
  auto s = db_.commit(std::move(t));
  if (!s) spdlog::error("event=audit_failed action={} reason=\"{}\"", action, s.err().message);
  return s;
}

}  // namespace dm2::node
