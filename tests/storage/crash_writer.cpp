// Child process of crash_test: commits index records (record + index entries + audit entry, one
// synced transaction each) in an endless loop and writes "<lfn hex> <version>\n" to stdout after
// each commit returns, i.e. only for acknowledged commits. The parent SIGKILLs it at random.
// Usage: crash_writer DB_DIR STORAGE_KEY_HEX SIGNER_PEM_FILE SEED
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dm2/crypto/hash.hpp"
#include "dm2/storage/database.hpp"

using namespace dm2;

namespace {

void say(const std::string& line) {
  std::string s = line + "\n";
  // One write per line: a kill between writes never leaves half a line acknowledged.
  if (::write(STDOUT_FILENO, s.data(), s.size()) != static_cast<ssize_t>(s.size())) std::_Exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return 2;
  auto key = crypto::from_hex(argv[2]);
  std::ifstream pem_file(argv[3]);
  std::stringstream pem;
  pem << pem_file.rdbuf();
  auto signer = storage::ed25519_audit_signer(pem.str());
  if (!key || !signer) return 2;
  auto db = storage::database::open(argv[1], *key, {}, *signer);
  if (!db) {
    std::fprintf(stderr, "crash_writer: %s\n", db.err().to_string().c_str());
    return 1;
  }
  say("ready");
  std::mt19937_64 rng(std::stoull(argv[4]));
  const char* modalities[] = {"CT", "MR", "PT", "US"};
  const char* parts[] = {"CHEST", "HEAD", "ABDOMEN"};
  std::vector<storage::index_record> mine;
  for (std::uint64_t n = 0;; ++n) {
    storage::index_record r;
    if (!mine.empty() && n % 2 == 1) {
      r = mine[rng() % mine.size()];  // update: new version, moved index entries
      ++r.version;
    } else {
      r.lfn = crypto::random_bytes(storage::lfn_size);
      r.version = 1;
      r.owner_site = "site-a";
      r.signature = crypto::random_bytes(256);
      r.owner_signature = crypto::random_bytes(64);
    }
    r.attributes.modality = modalities[rng() % 4];
    r.attributes.body_part = parts[rng() % 3];
    r.attributes.manufacturer = "ACME";
    r.attributes.study_date = "2024" + std::to_string(10 + rng() % 3) + std::to_string(10 + rng() % 19);
    r.attributes.sex = rng() % 2 ? "F" : "M";
    storage::transaction t;
    t.put_index_record(r);
    t.append_audit({0, "node", "ingest", crypto::to_hex(r.lfn), "allowed", "crash test"});
    if (auto s = db->get()->commit(std::move(t)); !s) {
      std::fprintf(stderr, "crash_writer: %s\n", s.err().to_string().c_str());
      return 1;
    }
    say(crypto::to_hex(r.lfn) + " " + std::to_string(r.version));
    bool known = false;
    for (auto& m : mine)
      if (m.lfn == r.lfn) m = r, known = true;
    if (!known) mine.push_back(r);
  }
}
