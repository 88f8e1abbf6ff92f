// Steps the query process tests share: a consortium whose sites all see each other, records on
// every site replicated everywhere, and a query polled until done.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "process_consortium.hpp"

namespace dm2::test {

// Every site counts the others live.
inline bool all_see_each_other(process_consortium& sites) {
  using namespace std::chrono_literals;
  auto peers = static_cast<int>(sites.all_sites().size()) - 1;
  return eventually(
      [&] {
        for (int site : sites.all_sites()) {
          auto r = sites.request(site, "GET", "/v1/overlay", {}, site);
          if (!r || r->status != 200 || nlohmann::json::parse(r->body)["live_peers"] != peers) return false;
        }
        return true;
      },
      60s);
}

// `per_site` CT records published at each site, then held by every site (k = 5 by default, so
// with up to 6 sites every site holds a copy of every record). Their LFNs; empty on failure
// (reported).
inline std::set<std::string> records_everywhere(process_consortium& sites, int per_site) {
  using namespace std::chrono_literals;
  std::set<std::string> lfns;
  for (int site : sites.all_sites())
    for (int i = 0; i < per_site; ++i) {
      auto lfn = std::string(30, static_cast<char>('a' + site)) + "0" + std::to_string(i);
      nlohmann::json body = {{"lfn", lfn}, {"attributes", {{"modality", "CT"}}}};
      auto r = sites.request(site, "POST", "/v1/records", body.dump(), site);
      if (!r || r->status != 201) {
        ADD_FAILURE() << (r ? r->body : r.err().message);
        return {};
      }
      lfns.insert(lfn);
    }
  bool replicated = eventually(
      [&] {
        for (int site : sites.all_sites())
          for (const auto& lfn : lfns) {
            auto r = sites.request(site, "GET", "/v1/records?lfn=" + lfn, {}, site);
            if (!r || r->status != 200) return false;
          }
        return true;
      },
      60s);
  if (!replicated) {
    ADD_FAILURE() << "records did not reach every site";
    return {};
  }
  return lfns;
}

// Starts a query of every record at `site` and polls it until done (or `wait`): its last view.
inline nlohmann::json query_until_done(process_consortium& sites, int site, std::chrono::milliseconds wait) {
  nlohmann::json ask = {{"filters", nlohmann::json::object()}, {"top_k", 50}, {"timeout_ms", 5000}};
  auto started = sites.request(site, "POST", "/v1/queries", ask.dump(), site);
  if (!started || started->status != 202) {
    ADD_FAILURE() << (started ? started->body : started.err().message);
    return {};
  }
  auto id = nlohmann::json::parse(started->body)["id"].get<std::string>();
  nlohmann::json view;
  bool done = eventually(
      [&] {
        auto r = sites.request(site, "GET", "/v1/queries/" + id, {}, site);
        if (!r || r->status != 200) return false;
        view = nlohmann::json::parse(r->body);
        return view["done"].get<bool>();
      },
      wait);
  if (!done) ADD_FAILURE() << "not done: " << view.dump() << "\nSTDERR:\n" << sites.stderr_text(site);
  return view;
}

inline std::set<std::string> hit_lfns(const nlohmann::json& view) {
  std::set<std::string> got;
  for (const auto& h : view["hits"]) got.insert(h["lfn"].get<std::string>());
  return got;
}

}  // namespace dm2::test
