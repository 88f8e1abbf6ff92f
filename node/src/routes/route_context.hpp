// What every route file is given: the node's services, and the checks every handler shares.
// Handlers are plain functions of (context, request); the services they reach are thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "../access/access_service.hpp"
#include "../access/principal.hpp"
#include "../audit_log.hpp"
#include "../background_jobs.hpp"
#include "../bounded_pool.hpp"
#include "../consortium.hpp"
#include "../diagnoses/diagnosis_texts.hpp"
#include "../ingest/ingest_service.hpp"
#include "../overlay_service.hpp"
#include "../provenance/result_cache.hpp"
#include "../query_book.hpp"
#include "../roster_service.hpp"
#include "dm2/node/config.hpp"
#include "dm2/node/http_types.hpp"
#include "dm2/node/https_client.hpp"
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
  access::access_service* access = nullptr;
  // The opaque reference of the patient a series (LFN, hex) belongs to, if this site holds its
  // nominative link (the ingest's link store plugs in here); nullopt: unknown here, so nobody
  // is in its care team and it is nobody's own record.
  std::function<std::optional<std::string>(std::string_view lfn)> patient_of =
      [](std::string_view) { return std::optional<std::string>{}; };
  ingest_service* ingest = nullptr;
  background_jobs* jobs = nullptr;  // stage 2 of queries by image
  bounded_pool* stage_two_scoring = nullptr;  // stage 2 at this site as an owner (POST /v1/similarity/scores)
  diagnosis_texts texts;            // the free texts of the diagnoses recorded here
  result_cache* results = nullptr;  // stage-2 scores and their provenance (none: nothing cached)
  https_pool* peer_connections = nullptr;  // call_peer's keep-alive connections (none: one each)

  // Allows a request from this site's own certificate (the local operator's CLI) or from a
  // current roster member; otherwise the 403 to answer (and a log line).
  std::optional<http_response> refuse_unless_site(const http_request& request) const;

  // This site's id (its roster entry, else the configured site name).
  std::string self_site() const;
  // Who is behind `request` (principal.hpp): a session token or cookie, else a peer's signed
  // assertion (DM2-Assertion), else a site certificate. Errors (as the response to send):
  // unauthenticated (401: no credentials, an unknown, expired or revoked token, a disabled
  // account), permission_denied (403: a refused assertion, audited). The purpose is the role's
  // (physician: treatment, researcher: research, site admin: operations) or the assertion's.
  result<access::principal> authenticate(const http_request& request) const;
  // The facts about `who` reading or writing `what` of series `lfn` (hex, may be "") owned by
  // `owner_site`: own site, care team, grant, own record, purpose.
  access::facts facts_for(const access::principal& who, access::data_class what, access::action act,
                          std::string_view lfn, std::string_view owner_site) const;
  // Asks the policy and audits its answer (action, object; the rule and reason in the detail).
  // An assertion that does not cover (lfn, what) is refused as over-scoped. Returns the 403 to
  // answer, or nullopt when allowed; a decision that cannot be audited is a 500. With
  // `audit_allowed` false only refusals are audited here (the caller commits the allowed entry
  // with its write).
  std::optional<http_response> authorize(const access::principal& who, const access::facts& f,
                                         const std::string& audit_action, const std::string& object,
                                         bool audit_allowed = true) const;
  // The policy's answer as authorize gives it, and the audit entry recording it, not appended: a
  // caller deciding about many objects at once appends the entries together (audit_log::append_all)
  // before it touches any of them.
  struct audited_decision {
    access::decision decision;
    storage::audit_event entry;
  };
  audited_decision decide(const access::principal& who, const access::facts& f, const std::string& audit_action,
                          const std::string& object) const;
  // authenticate, then authorize(facts_for(...)) with the LFN (or `object` when given) audited.
  // Sets `who`; returns the response to send (401, 403...) or nullopt when allowed.
  std::optional<http_response> admit(const http_request& request, access::principal& who, access::data_class what,
                                     access::action act, std::string_view lfn, std::string_view owner_site,
                                     const std::string& audit_action, const std::string& object = {},
                                     bool audit_allowed = true) const;

  // A GET to another roster member over mutual TLS, with a user's assertion (DM2-Assertion);
  // the answering certificate must be the one the roster names for that site. Errors: those of
  // consortium::member_by_id and https_request, permission_denied (another certificate answered).
  result<client_response> ask_peer(const std::string& site, const std::string& path,
                                   const std::string& assertion_wire) const;
  // How call_peer reaches `site`, for a caller that talks to it itself (a streamed answer): its
  // roster endpoint, this site's certificate (mutual TLS), the DM2-Assertion header (none when
  // `assertion_wire` is empty), and the certificate that must answer. Errors: those of
  // consortium::member_by_id and crypto::parse_endpoint.
  struct peer_link {
    std::string site{};
    https_target target{};
    tls_material tls{};
    std::map<std::string, std::string> headers{};
    std::string certificate_sha256{};
    // permission_denied unless `answer` came from the certificate the roster names for `site`.
    status check(const client_response& answer) const;
  };
  result<peer_link> link_to(const std::string& site, const std::string& assertion_wire) const;
  // The same for any method and body (of `content_type`), with a timeout; no DM2-Assertion
  // header when `assertion_wire` is empty (the request is then the site's own: role site at the peer).
  result<client_response> call_peer(const std::string& site, const std::string& method, const std::string& path,
                                    const std::string& body, const std::string& assertion_wire,
                                    std::chrono::milliseconds timeout,
                                    const std::string& content_type = "application/json") const;

  // Allows a request from this site's own certificate only (the local operator's CLI).
  std::optional<http_response> refuse_unless_self(const http_request& request) const;
  // Who made the request, for the audit log: "site:<id>" for a roster member, else
  // "cert:<fingerprint>" (this node's own certificate before it is on a roster).
  std::string actor(const http_request& request) const;
  // Audits a decision about `request` (actor from the request). Errors: those of audit_log::append.
  status audit_request(const http_request& request, std::string action, std::string object,
                       std::string decision) const;
};

// The LFN in "<prefix><lfn><suffix>" ("/v1/series/<lfn>/sealed", "/v1/key-shares/<lfn>"): 32
// lowercase hex digits, or "" when the path is anything else.
std::string lfn_in(const std::string& target, std::string_view prefix, std::string_view suffix = "");

}  // namespace dm2::node
