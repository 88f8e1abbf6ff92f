#include "consortium.hpp"

#include <spdlog/spdlog.h>

#include <ctime>

#include "dm2/crypto/private_file.hpp"

namespace dm2::node {
namespace {
std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }
}  // namespace

consortium::consortium(std::unique_ptr<crypto::roster_state> state, std::string public_key,
                       std::string fingerprint, std::filesystem::path saved)
    : state_(std::move(state)),
      public_key_(std::move(public_key)),
      own_fingerprint_(std::move(fingerprint)),
      saved_path_(std::move(saved)) {}

result<std::unique_ptr<consortium>> consortium::load(const node_config& config, const site_identity& self) {
  if (config.roster.empty())
    return std::unique_ptr<consortium>(new consortium(nullptr, {}, self.certificate_fingerprint, {}));
  auto state = std::make_unique<crypto::roster_state>(config.consortium_public_key);
  auto configured = crypto::read_file(config.roster);
  if (!configured) return fail(errc::invalid_config, "consortium.roster: " + configured.err().message);
  if (auto r = state->accept(*configured); !r)
    return fail(errc::invalid_config, "consortium.roster " + config.roster.string() + ": " + r.err().to_string());
  // A newer roster adopted before a restart wins over the configured starting point.
  auto saved_path = config.data_dir / "roster.json";
  if (auto saved = crypto::read_file(saved_path); saved.ok()) {
    auto r = state->accept(*saved);
    if (!r && r.err().code != errc::stale_version)
      spdlog::warn("event=saved_roster_ignored file={} reason=\"{}\"", saved_path.string(), r.err().message);
  }
  std::unique_ptr<consortium> c(new consortium(std::move(state), config.consortium_public_key,
                                               self.certificate_fingerprint, saved_path));
  if (!c->self())
    spdlog::warn("event=not_on_roster version={} fingerprint={} note=\"peers will refuse this site\"",
                 c->version(), self.certificate_fingerprint);
  spdlog::info("event=roster_loaded version={} peers={}", c->version(), c->peers().size());
  return c;
}

result<bool> consortium::offer(std::string_view document) {
  if (!state_) return fail(errc::unavailable, "this node belongs to no consortium");
  auto adopted = state_->accept(document);
  if (!adopted) return adopted;
  if (*adopted) save();
  return adopted;
}

void consortium::save() {
  std::lock_guard lock(save_mutex_);
  if (auto s = crypto::write_public_file(saved_path_, state_->current_document()); !s)
    spdlog::error("event=roster_save_failed reason=\"{}\"", s.err().message);
  spdlog::info("event=roster_saved version={} peers={}", version(), peers().size());
}

std::string consortium::document() const { return state_ ? state_->current_document() : std::string{}; }
std::uint64_t consortium::version() const { return state_ ? state_->version() : 0; }

result<crypto::site_entry> consortium::member_by_fingerprint(std::string_view sha256_hex) const {
  if (!state_) return fail(errc::permission_denied, "this node belongs to no consortium");
  if (sha256_hex.empty()) return fail(errc::permission_denied, "no verified client certificate");
  return state_->find_by_fingerprint(sha256_hex, now());
}

result<crypto::site_entry> consortium::member_by_id(std::string_view site_id) const {
  if (!state_) return fail(errc::permission_denied, "this node belongs to no consortium");
  return state_->find_by_id(site_id, now());
}

std::optional<crypto::roster> consortium::current() const {
  return state_ ? state_->current() : std::nullopt;
}

std::vector<crypto::site_entry> consortium::peers() const {
  std::vector<crypto::site_entry> out;
  auto r = state_ ? state_->current() : std::nullopt;
  if (!r) return out;
  for (const auto& site : r->sites)
    if (site.certificate_sha256 != own_fingerprint_ && site.expires_at > now()) out.push_back(site);
  return out;
}

std::optional<crypto::site_entry> consortium::self() const {
  if (!state_) return std::nullopt;
  auto entry = state_->find_by_fingerprint(own_fingerprint_, now());
  if (!entry) return std::nullopt;
  return *entry;
}

}  // namespace dm2::node
