#include "dm2/storage/database.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

namespace dm2::storage {

const std::vector<family>& all_families() {
  static const std::vector<family> families = {family::node_meta, family::index_records,
                                               family::nominative, family::key_shares,
                                               family::audit,      family::dht_items};
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
  }
  return "unknown";
}

struct database::impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // [0] is "default", then all_families()

  rocksdb::ColumnFamilyHandle* handle(family f) const {
    return handles.at(static_cast<size_t>(f) + 1);
  }

  ~impl() {
    if (!db) return;
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    db->Close();
  }
};

namespace {
error storage_error(const rocksdb::Status& s, std::string_view what) {
  return fail(errc::storage_failure, std::string(what) + ": " + s.ToString());
}
}  // namespace

database::database(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
database::~database() = default;

result<std::unique_ptr<database>> database::open(const std::filesystem::path& dir,
                                                 const database_options& options) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = options.create_if_missing;
  db_options.paranoid_checks = true;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (family f : all_families())
    descriptors.emplace_back(std::string(name_of(f)), rocksdb::ColumnFamilyOptions());

  auto p = std::make_unique<impl>();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir.string(), descriptors, &p->handles, &raw);
  if (!s.ok()) return storage_error(s, "cannot open database " + dir.string());
  p->db.reset(raw);
  return std::unique_ptr<database>(new database(std::move(p)));
}

status database::put(family f, std::string_view key, std::string_view value) {
  rocksdb::WriteOptions w;
  w.sync = true;
  auto s = impl_->db->Put(w, impl_->handle(f), rocksdb::Slice(key.data(), key.size()),
                          rocksdb::Slice(value.data(), value.size()));
  if (!s.ok()) return storage_error(s, "put failed");
  return {};
}

result<std::optional<std::string>> database::get(family f, std::string_view key) {
  std::string value;
  auto s = impl_->db->Get(rocksdb::ReadOptions(), impl_->handle(f),
                          rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>{};
  if (!s.ok()) return storage_error(s, "get failed");
  return std::optional<std::string>{std::move(value)};
}

}  // namespace dm2::storage
