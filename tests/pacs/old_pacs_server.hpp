// An "older PACS" for tests: our own DICOM SCP (DCMTK, in-process, one thread per association)
// that serves the files it is given the way some older servers answer, unlike Orthanc and
// dcmqrscp. Each behaviour can be switched off:
//   - image-level C-FIND answers carry no SOPClassUID;
//   - a SOPInstanceUID list (UID\UID\...) in C-GET or C-MOVE matches nothing: the request
//     completes with status Success and 0 sub-operations;
//   - an A-ASSOCIATE-RQ with more than max_contexts presentation contexts is aborted;
//   - associations from one calling AE title are rejected ("calling AE title not recognised");
//     a called AE title other than its own is rejected ("called AE title not recognised").
// StudyDate range matching never matches a study whose date is empty or 00000000 (as usual);
// universal matching (empty key) returns every study.
//
// Like the other test servers it listens on all interfaces (DCMTK's acceptor), so start()
// refuses to run outside the private network namespace (pacs_server_fixture.hpp). Not
// thread-safe except for the counters; stop() (or the destructor) ends every association.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dm2/pacs/pacs_settings.hpp"

namespace dm2::test {

struct old_pacs_behaviour {
  bool find_without_sop_class = true;
  bool no_uid_list_matching = true;
  std::size_t max_contexts = 16;  // 0 = no limit (16: dm2's own bound, max_presentation_contexts)
  std::string reject_calling_ae;  // "" = reject none
};

// What clients did, for tests to check.
struct old_pacs_counters {
  std::atomic<unsigned> associations{0};  // accepted
  std::atomic<unsigned> aborted_too_many_contexts{0};
  std::atomic<unsigned> rejected{0};
  std::atomic<unsigned> unmatched_uid_lists{0};  // C-GET/C-MOVE lists answered with 0 sub-ops
  std::atomic<unsigned> retrieve_requests{0};    // C-GET + C-MOVE requests
  std::atomic<std::size_t> most_contexts_proposed{0};
};

class old_pacs_server {
 public:
  explicit old_pacs_server(old_pacs_behaviour behaviour = {});
  ~old_pacs_server();
  old_pacs_server(const old_pacs_server&) = delete;
  old_pacs_server& operator=(const old_pacs_server&) = delete;

  // Serves these files (read now; before or after start()). Returns "" or why not.
  std::string add(const std::vector<std::filesystem::path>& files);
  // Listens on a free port; returns "" or why it cannot.
  std::string start();
  void stop();

  // Settings for our SCU (calling AE test_our_ae, store_port = our C-MOVE destination, which
  // this server knows as test_our_ae at 127.0.0.1).
  dm2::pacs::pacs_settings settings() const;
  old_pacs_counters& counters();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::test
