#include "dicomweb_search.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "../query_body.hpp"
#include "../query_scoring.hpp"

namespace dm2::node {
namespace {

// A QIDO-RS answer waits for the sites this long at most; the late ones are named in a Warning.
constexpr std::chrono::milliseconds search_timeout{5000};

// The hits of the fan-out once it is done (every live site answered, or the deadline).
result<query_view> fan_out(const route_context& c, const query_body& body) {
  auto id = c.queries->open({body.top_k, "", 0, search_timeout, body.user});
  if (!id) return std::move(id).err();
  auto started = c.overlay->start_query(
      *id, canonical_json(body), search_timeout,
      [c, id = *id](const std::vector<dht::query_hit>& hits, const dht::query_progress& p) {
        c.queries->record(id, hits, p);
      });
  if (!started) {
    c.queries->cancel(*id);
    return std::move(started).err();
  }
  auto view = c.queries->view(*id);
  auto deadline = std::chrono::steady_clock::now() + search_timeout + std::chrono::seconds(1);
  while (view && !view->progress.done && std::chrono::steady_clock::now() < deadline)
    view = c.queries->wait_for_change(*id, view->revision, std::chrono::milliseconds(500));
  // Forgotten at once: a search's hits are answered now, and kept finished they would push the
  // queries users poll out of the book (query_book_settings::max_finished); late answers to a
  // forgotten id are ignored.
  c.queries->cancel(*id);
  if (!view) return fail(errc::unavailable, "the search was dropped before it ended");
  return std::move(*view);
}

// The patient of `lfn`, owned here, if `who` is in his care team: the policy's nominative read,
// audited (nominative_read) when allowed; others are not audited per hit (the search's own
// entry counts them). nullopt: not to be named (or the link does not open: logged).
using named = std::optional<dicomweb::patient_names>;

named names_for(const route_context& c, const access::principal& who, const dht::query_hit& hit) {
  if (!who.person || !c.ingest || hit.owner != c.self_site()) return named{};
  auto f = c.facts_for(who, access::data_class::nominative, access::action::read, hit.lfn, hit.owner);
  if (!f.care_team || !access::decide(f).allowed) return named{};
  auto link = c.ingest->nominative_of(hit.lfn);
  if (!link) {  // the result stays pseudonymous; the search goes on
    spdlog::warn("event=qido_name_unavailable lfn={} reason=\"{}\"", hit.lfn, link.err().message);
    return named{};
  }
  if (!*link) return named{};
  if (c.authorize(who, f, "nominative_read", hit.lfn)) return named{};
  return named{dicomweb::patient_names{(*link)->patient_name, (*link)->patient_id, (*link)->accession_number}};
}

}  // namespace

result<qido_page> qido_search(const route_context& c, const access::principal& who,
                              const dicomweb::qido_request& q) {
  // Who may search at all: a role that could read some series' index attributes (as POST
  // /v1/queries); which hits it sees is decided per hit below.
  auto f = c.facts_for(who, access::data_class::index_attributes, access::action::read, "", "");
  f.care_team = f.grant = true;
  f.self = who.who == access::role::patient;
  if (auto refused = c.authorize(who, f, "qido_search", "dicom-web", false))
    return fail(errc::permission_denied, "this role reads no index attributes");

  query_body body;
  body.filters = q.filter;
  body.top_k = std::min(q.offset + q.limit + 1, query_limits::max_top_k);
  if (who.person) {
    body.user = who.id;
    body.purpose = access::name_of(f.why);
  }
  auto started = std::chrono::steady_clock::now();
  std::map<std::string, dht::query_hit> found;  // lfn -> hit
  qido_page page;
  bool ask_overlay = true;
  if (q.lfns) {
    // Named series: this site's copies first (the same filters applied), the overlay for the rest.
    auto plan = plan_query(canonical_json(body));
    std::size_t local = 0;
    for (const auto& lfn : *q.lfns)
      if (auto copy = c.overlay->find(lfn)) {
        ++local;
        if (auto hit = plan ? plan->score(*copy) : std::nullopt)
          found.emplace(lfn, std::move(*hit));
      }
    ask_overlay = local < q.lfns->size();
    body.top_k = query_limits::max_top_k;
  }
  if (ask_overlay) {
    auto view = fan_out(c, body);
    if (!view) return std::move(view).err();
    for (const auto& r : view->hits)
      if (!q.lfns || q.lfns->count(r.hit.lfn)) found.emplace(r.hit.lfn, r.hit);
    for (const auto& site : view->progress.asked_sites)
      if (std::find(view->progress.answered_sites.begin(), view->progress.answered_sites.end(),
                    site) == view->progress.answered_sites.end())
        page.sites_missing.push_back(site);
    page.sites_missing.insert(page.sites_missing.end(), view->progress.unheard_sites.begin(),
                              view->progress.unheard_sites.end());
  }
  std::vector<dht::query_hit> readable;
  for (auto& [lfn, hit] : found) {
    auto allowed = access::decide(c.facts_for(who, access::data_class::index_attributes,
                                              access::action::read, lfn, hit.owner));
    if (allowed.allowed)
      readable.push_back(std::move(hit));
    else
      ++page.withheld;
  }
  // `found` is ordered by LFN: the order pages are cut in.
  auto first = std::min(q.offset, readable.size());
  auto last = std::min(q.offset + q.limit, readable.size());
  page.more = readable.size() > last;
  page.hits.assign(std::make_move_iterator(readable.begin() + static_cast<std::ptrdiff_t>(first)),
                   std::make_move_iterator(readable.begin() + static_cast<std::ptrdiff_t>(last)));
  for (const auto& hit : page.hits)
    if (auto names = names_for(c, who, hit)) page.names.emplace(hit.lfn, std::move(*names));
  spdlog::info("event=qido_search hits={} withheld={} named={} sites_missing={} overlay={} ms={}",
               page.hits.size(), page.withheld, page.names.size(), page.sites_missing.size(), ask_overlay,
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count());
  if (who.person)
    if (auto s = c.audit->append({0, who.actor(), "qido_search", "dicom-web", "allowed",
                                  "hits=" + std::to_string(page.hits.size()) +
                                      " withheld=" + std::to_string(page.withheld)});
        !s)
      return std::move(s).err();
  return page;
}

}  // namespace dm2::node
