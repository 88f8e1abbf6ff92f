// How this node reaches its hospital's PACS (DICOM upper layer). Plain settings, no behaviour.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dm2/result.hpp"

namespace dm2::pacs {

struct pacs_settings {
  std::string host = "127.0.0.1";      // the PACS's address
  std::uint16_t port = 4242;           // the PACS's DICOM port (Orthanc's default)
  std::string called_ae_title = "ORTHANC";  // the PACS's AE title
  std::string calling_ae_title = "DM2";     // ours, as the PACS knows us
  std::uint16_t store_port = 11112;    // our C-STORE SCP for C-MOVE (0 = none)
  // The IPv4 address our C-STORE SCP listens on (only this one; DCMTK alone would listen on all
  // interfaces). Set it to the interface the PACS reaches us on.
  std::string store_address = "127.0.0.1";
  std::chrono::seconds timeout{30};    // association and DIMSE timeout
  unsigned associations = 4;           // parallel associations for one series
};

// Checks AE titles (1..16 characters, no backslash or control characters), ports, counts and
// that store_address is an IPv4 address literal (a.b.c.d).
// Errors: invalid_config, naming the bad field.
status validate(const pacs_settings& settings);

}  // namespace dm2::pacs
