// Opening the database (families, schema version, storage key check, audit head) and the
// single-value put/get.
#include "dm2/storage/database.hpp"

#include <rocksdb/options.h>

#include "byte_io.hpp"
#include "database_impl.hpp"
#include "dm2/crypto/hash.hpp"
#include "sealed_value.hpp"

namespace dm2::storage {

const std::vector<family>& all_families() {
  static const std::vector<family> families = {family::node_meta,  family::index_records,
                                               family::nominative, family::key_shares,
                                               family::audit,      family::dht_items,
                                               family::record_index, family::owned_keys,
                                               family::accounts,   family::results};
  return families;
}

std::string_view name_of(family f) {
  switch (f) {
    case family::node_meta: return "node_meta";
    case family::index_records: return "index_records";
    case family::nominative: return "nominative";
    case family::key_shares: return "key_shares";
    case family::audit: return "audit";
    case family::dht_items: return "dht_items";
    case family::record_index: return "record_index";
    case family::owned_keys: return "owned_keys";
    case family::accounts: return "accounts";
    case family::results: return "results";
  }
  return "unknown";
}

error storage_error(const rocksdb::Status& s, std::string_view what) {
  return fail(errc::storage_failure, std::string(what) + ": " + s.ToString());
}

namespace {

constexpr std::string_view key_check_plaintext = "dm2 storage key check";

result<std::unique_ptr<rocksdb::DB>> open_rocksdb(const std::filesystem::path& dir,
                                                  const database_options& options,
                                                  std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  // After a crash, recover every complete WAL record and drop only a torn tail: synced commits
  // are complete records, so none is lost.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (family f : all_families())
    descriptors.emplace_back(std::string(name_of(f)), rocksdb::ColumnFamilyOptions());
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir.string(), descriptors, &handles, &raw);
  if (!s.ok()) return storage_error(s, "cannot open database " + dir.string());
  return std::unique_ptr<rocksdb::DB>(raw);
}

rocksdb::WriteOptions synced() {
  rocksdb::WriteOptions w;
  w.sync = true;
  return w;
}

// Schema version: written on creation, refused when newer than this code (no downgrade).
status check_schema(database::impl& p, bool& fresh) {
  auto stored = p.raw_get(family::node_meta, meta_schema_key);
  if (!stored) return std::move(stored).err();
  fresh = !stored->has_value();
  if (fresh) {
    auto s = p.db->Put(synced(), p.handle(family::node_meta), slice(meta_schema_key),
                       slice(detail::be64(schema_version)));
    if (!s.ok()) return storage_error(s, "cannot write schema version");
    return {};
  }
  detail::byte_reader in(**stored);
  auto v = in.be(8);
  if (!v || !in.at_end()) return fail(errc::integrity_failure, "schema version record is malformed");
  if (*v > schema_version)
    return fail(errc::unsupported, "database schema " + std::to_string(*v) +
                                       " is newer than this dm2 (" + std::to_string(schema_version) +
                                       "); refusing to downgrade");
  return {};
}

status check_key(database::impl& p) {
  auto stored = p.raw_get(family::node_meta, meta_key_check);
  if (!stored) return std::move(stored).err();
  if (!stored->has_value()) {
    // First open: store a sealed constant so that a wrong key is refused before anything else.
    auto sealed = detail::seal_value(p.value_key, family::node_meta, meta_key_check, key_check_plaintext);
    if (!sealed) return std::move(sealed).err();
    if (auto s = p.db->Put(synced(), p.handle(family::node_meta), slice(meta_key_check), slice(*sealed)); !s.ok())
      return storage_error(s, "cannot write key check");
    return {};
  }
  auto plain = detail::open_value(p.value_key, family::node_meta, meta_key_check, **stored);
  if (!plain || *plain != key_check_plaintext)
    return fail(errc::integrity_failure, "wrong storage key for this database");
  return {};
}

status load_audit_head(database::impl& p) {
  p.audit_last_hash.assign(audit_hash_size, '\0');
  p.audit_next = 0;
  auto stored = p.raw_get(family::node_meta, meta_audit_head);
  if (!stored) return std::move(stored).err();
  if (!stored->has_value()) return {};
  auto plain = detail::open_value(p.value_key, family::node_meta, meta_audit_head, **stored);
  if (!plain) return std::move(plain).err();
  detail::byte_reader in(*plain);
  auto next = in.be(8);
  auto hash = in.raw(audit_hash_size);
  if (!next || !hash || !in.at_end()) return fail(errc::integrity_failure, "audit head is malformed");
  p.audit_next = *next;
  p.audit_last_hash = *hash;
  return {};
}

bool writable_value_family(family f) {
  return f == family::nominative || f == family::key_shares || f == family::dht_items || f == family::owned_keys ||
         f == family::accounts || f == family::results || f == family::node_meta;
}

status check_value_access(family f, std::string_view key) {
  if (!writable_value_family(f))
    return fail(errc::invalid_argument, std::string(name_of(f)) + " is written only through transactions");
  if (f == family::node_meta && key.substr(0, 4) == "dm2.")
    return fail(errc::invalid_argument, "node_meta keys under dm2. are reserved");
  return {};
}

}  // namespace

result<std::optional<std::string>> database::impl::raw_get(family f, std::string_view key,
                                                           const rocksdb::Snapshot* snapshot) const {
  std::string value;
  rocksdb::ReadOptions read;
  read.snapshot = snapshot;
  auto s = db->Get(read, handle(f), slice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>{};
  if (!s.ok()) return storage_error(s, "read failed");
  return std::optional<std::string>{std::move(value)};
}

result<std::optional<index_record>> database::impl::load_record(std::string_view lfn,
                                                               const rocksdb::Snapshot* snapshot) const {
  auto stored = raw_get(family::index_records, lfn, snapshot);
  if (!stored) return std::move(stored).err();
  if (!stored->has_value()) return std::optional<index_record>{};
  auto record = open_record(lfn, **stored);
  if (!record) return std::move(record).err();
  return std::optional<index_record>{std::move(*record)};
}

result<index_record> database::impl::open_record(std::string_view lfn, std::string_view stored) const {
  auto plain = detail::open_value(value_key, family::index_records, lfn, stored, true);
  if (!plain) return std::move(plain).err();
  auto record = decode_index_record(*plain);
  if (!record || record->lfn != lfn)
    return fail(errc::integrity_failure, "stored index record does not decode to its own key");
  return std::move(*record);
}

database::database(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
database::~database() = default;

result<std::unique_ptr<database>> database::open(const std::filesystem::path& dir,
                                                 std::string_view storage_key,
                                                 const database_options& options,
                                                 audit_signer signer) {
  if (storage_key.size() != storage_key_size)
    return fail(errc::invalid_argument, "storage key must be 32 bytes");
  auto p = std::make_unique<impl>();
  auto value_key = crypto::hkdf_sha256(storage_key, "dm2 storage", "values", 32);
  auto blind_key = crypto::hkdf_sha256(storage_key, "dm2 storage", "index blind", 32);
  if (!value_key) return std::move(value_key).err();
  if (!blind_key) return std::move(blind_key).err();
  p->value_key = std::move(*value_key);
  p->blind_key = std::move(*blind_key);
  p->signer = std::move(signer);
  auto db = open_rocksdb(dir, options, p->handles);
  if (!db) return std::move(db).err();
  p->db = std::move(*db);
  bool fresh = false;
  if (auto s = check_schema(*p, fresh); !s) return std::move(s).err();
  if (auto s = check_key(*p); !s) return std::move(s).err();
  if (auto s = load_audit_head(*p); !s) return std::move(s).err();
  return std::unique_ptr<database>(new database(std::move(p)));
}

status database::put(family f, std::string_view key, std::string_view value) {
  if (auto s = check_value_access(f, key); !s) return s;
  std::string stored(value);
  if (f != family::node_meta) {
    auto sealed = detail::seal_value(impl_->value_key, f, key, value);
    if (!sealed) return std::move(sealed).err();
    stored = std::move(*sealed);
  }
  auto s = impl_->db->Put(synced(), impl_->handle(f), slice(key), slice(stored));
  if (!s.ok()) return storage_error(s, "put failed");
  return {};
}

result<std::optional<std::string>> database::get(family f, std::string_view key) {
  if (auto s = check_value_access(f, key); !s) return std::move(s).err();
  auto stored = impl_->raw_get(f, key);
  if (!stored || !stored->has_value() || f == family::node_meta) return stored;
  auto plain = detail::open_value(impl_->value_key, f, key, **stored);
  if (!plain) return std::move(plain).err();
  return std::optional<std::string>{std::move(*plain)};
}

result<std::optional<index_record>> database::get_index_record(std::string_view lfn) {
  if (lfn.size() != lfn_size) return fail(errc::invalid_argument, "an LFN is 16 bytes");
  return impl_->load_record(lfn);
}

std::uint64_t database::audit_size() const {
  std::lock_guard lock(impl_->commit_mutex);
  return impl_->audit_next;
}

}  // namespace dm2::storage
