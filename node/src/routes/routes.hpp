// The node's HTTP surface, one file per resource (docs/api.md). Each add_* registers its
// resource's handlers; node.cpp calls them all at start-up.
#pragma once

#include "dm2/node/router.hpp"
#include "route_context.hpp"

namespace dm2::node {

// GET /health, GET /metrics.
void add_status_routes(router& routes, const route_context& c);
// GET and POST /v1/roster.
void add_roster_routes(router& routes, const route_context& c);
// GET /v1/overlay, GET /v1/overlay/records, POST /v1/overlay/message.
void add_overlay_routes(router& routes, const route_context& c);
// POST and GET /v1/records.
void add_record_routes(router& routes, const route_context& c);
// POST /v1/queries, GET /v1/queries/{id}, and (add_query_event_routes) its event stream.
void add_query_routes(router& routes, const route_context& c);
// GET /v1/queries/{id}/events: the query's progress as Server-Sent Events, until it ends.
void add_query_event_routes(router& routes, const route_context& c);
// POST /v1/sessions, GET and DELETE /v1/sessions/current.
void add_session_routes(router& routes, const route_context& c);
// POST and GET /v1/users, PATCH /v1/users/{name}.
void add_user_routes(router& routes, const route_context& c);
// GET, POST and DELETE /v1/care-teams/{patient_ref}.
void add_care_team_routes(router& routes, const route_context& c);
// POST and GET /v1/grants, DELETE /v1/grants/{id}.
void add_grant_routes(router& routes, const route_context& c);
// POST and GET /v1/ingest.
void add_ingest_routes(router& routes, const route_context& c);
// GET /v1/series/{lfn} (a user's retrieval), GET /v1/series/{lfn}/sealed (the owner's
// ciphertext, to another site), GET /v1/key-shares/{lfn} (a holder's release, to another site).
void add_series_routes(router& routes, const route_context& c);
// GET /v1/series/{lfn}/thumbnail: the series' middle slice as a small PNG, for a user allowed
// the images (the retrieval path), as the desk shows it beside a hit.
void add_thumbnail_routes(router& routes, const route_context& c);
// GET /v1/me/accesses (a patient: who read his data, from every site), GET /v1/audit-entries
// (a site's own entries about the LFNs of another site's patient's assertion).
void add_access_history_routes(router& routes, const route_context& c);
// GET /v1/nominative/{lfn} (the patient's nominative record: the patient and his care team).
void add_nominative_routes(router& routes, const route_context& c);
// GET /v1/algorithms (the measures this site runs), POST /v1/similarity/scores (stage 2 of
// another site's query by image, at the owner).
void add_similarity_routes(router& routes, const route_context& c);
// GET /v1/me/series: the series a physician (his care teams') or a patient (his own) may pick.
void add_my_series_routes(router& routes, const route_context& c);
// GET / and GET /desk/{file}: the clinician's desk, static files loaded once from web.root.
void add_web_routes(router& routes, const route_context& c);

// GET /dicom-web/...: QIDO-RS across the overlay, WADO-RS through the retrieval path (docs/dicomweb.md).
void add_dicomweb_routes(router& routes, const route_context& c);

// POST and GET /v1/series/{lfn}/diagnoses (a care-team physician records, readers list).
void add_diagnosis_routes(router& routes, const route_context& c);
// GET /v1/provenance/{id}: what produced a stage-2 score.
void add_provenance_routes(router& routes, const route_context& c);

}  // namespace dm2::node
