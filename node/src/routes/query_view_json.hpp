// A query's state as its caller may see it (GET /v1/queries/{id} and its event stream): progress,
// each asked site's state, stage 2, and the ranked hits whose index attributes the policy lets
// the caller read (the others only counted), with their diagnoses.
#pragma once

#include <nlohmann/json.hpp>

#include "route_context.hpp"

namespace dm2::node {

struct shown_query {
  nlohmann::json body;
  std::size_t hits = 0;
  std::size_t withheld = 0;
};

// Diagnosis texts of this site's own series are added for callers the policy lets read them,
// each disclosure audited (diagnosis_read, under the LFN). Errors: those of the audit log and
// of the diagnosis texts' store.
result<shown_query> show_query(const route_context& c, const access::principal& who, const std::string& id,
                               const query_view& view);

// Audits a person's read of a query's hits (action query_read, object the query id, detail the
// counts and `how`: "" for a poll). Sites' reads are not audited here. Errors: those of
// audit_log::append.
status audit_query_read(const route_context& c, const access::principal& who, const std::string& id,
                        const shown_query& shown, const std::string& how = {});

}  // namespace dm2::node
