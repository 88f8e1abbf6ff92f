// QIDO-RS over the overlay (docs/dicomweb.md): a search becomes a similarity query without a
// signature (its filters only), fanned out to every live site like POST /v1/queries and waited
// for; each hit is shown only if the policy lets the caller read its index attributes.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "../dicomweb/qido_json.hpp"
#include "../dicomweb/qido_request.hpp"
#include "route_context.hpp"

namespace dm2::node {

struct qido_page {
  std::vector<dht::query_hit> hits;  // this page's, in LFN order
  bool more = false;                 // matches beyond the page (the Warning header says so)
  std::size_t withheld = 0;          // hits the caller may not read (counted in the audit entry)
  std::vector<std::string> sites_missing;  // asked sites that did not answer in time
  // The patients of the hits the caller may see named: his care team's series owned here
  // (lfn -> names), each read audited as nominative_read.
  std::map<std::string, dicomweb::patient_names> names;
};

// Runs `q` for `who` and audits the search (qido_search, with the counts); names the patients
// of the hits this site owns whose care team `who` is in (the policy's nominative read), each
// audited. Errors: those of the
// policy (permission_denied: a role that can read no index attributes), unavailable (429's:
// too many queries running; this site is not on the roster), the audit log's.
result<qido_page> qido_search(const route_context& c, const access::principal& who,
                              const dicomweb::qido_request& q);

}  // namespace dm2::node
