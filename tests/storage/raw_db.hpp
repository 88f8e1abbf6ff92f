// Direct RocksDB access to a closed dm2 database, for tests that tamper with stored bytes the way
// an attacker with the disk (but without the storage key) could.
#pragma once

#include <rocksdb/db.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dm2/storage/families.hpp"

namespace dm2::storage::test {

class raw_db {
 public:
  explicit raw_db(const std::filesystem::path& dir) {
    std::vector<rocksdb::ColumnFamilyDescriptor> d;
    d.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
    for (family f : all_families()) d.emplace_back(std::string(name_of(f)), rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    auto s = rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), d, &handles_, &raw);
    if (!s.ok()) throw std::runtime_error(s.ToString());
    db_.reset(raw);
  }
  ~raw_db() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    (void)db_->Close();
  }
  std::optional<std::string> get(family f, const std::string& key) {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), h(f), key, &v);
    if (s.IsNotFound()) return std::nullopt;
    return v;
  }
  void put(family f, const std::string& key, const std::string& value) {
    if (!db_->Put(rocksdb::WriteOptions(), h(f), key, value).ok()) throw std::runtime_error("put");
  }
  void erase(family f, const std::string& key) {
    if (!db_->Delete(rocksdb::WriteOptions(), h(f), key).ok()) throw std::runtime_error("delete");
  }
  std::map<std::string, std::string> all(family f) {
    std::map<std::string, std::string> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), h(f)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out[it->key().ToString()] = it->value().ToString();
    return out;
  }

 private:
  rocksdb::ColumnFamilyHandle* h(family f) { return handles_.at(static_cast<std::size_t>(f) + 1); }
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace dm2::storage::test
