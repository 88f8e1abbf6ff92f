// What every route file is given: the node's services, and the checks every handler shares.
// Handlers are plain functions of (context, request); the services they reach are thread-safe.
#pragma once

#include <optional>
#include <string>

#include "../audit_log.hpp"
#include "../consortium.hpp"
#include "../ingest/ingest_service.hpp"
#include "../overlay_service.hpp"
#include "../query_book.hpp"
#include "../roster_service.hpp"
#include "dm2/node/config.hpp"
#include "dm2/node/http_types.hpp"
#include "dm2/node/identity.hpp"
#include "dm2/node/metrics.hpp"

namespace dm2::node {

struct route_context {
  // All outlive the routes (the node owns them).
  const node_config* config = nullptr;
  const site_identity* identity = nullptr;
  const consortium* members = nullptr;
  overlay_service* overlay = nullptr;
  roster_service* roster = nullptr;
  query_book* queries = nullptr;
  metrics* stats = nullptr;
  audit_log* audit = nullptr;
  ingest_service* ingest = nullptr;

  // Allows a request from this site's own certificate (the local operator's CLI) or from a
  // current roster member; otherwise the 403 to answer (and a log line).
  std::optional<http_response> refuse_unless_site(const http_request& request) const;
  // Allows a request from this site's own certificate only (the local operator's CLI).
  std::optional<http_response> refuse_unless_self(const http_request& request) const;
  // Who made the request, for the audit log: "site:<id>" for a roster member, else
  // "cert:<fingerprint>" (this node's own certificate before it is on a roster).
  std::string actor(const http_request& request) const;
  // Audits a decision about `request` (actor from the request). Errors: those of audit_log::append.
  status audit_request(const http_request& request, std::string action, std::string object,
                       std::string decision) const;
};

}  // namespace dm2::node
