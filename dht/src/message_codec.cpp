#include "dm2/dht/message_codec.hpp"

#include <bit>
#include <cstring>
#include <stdexcept>

namespace dm2::dht {

namespace {

constexpr std::uint8_t codec_version = 1;

class writer {
 public:
  void u8(std::uint8_t v) { out += static_cast<char>(v); }
  void u32(std::uint32_t v) {
    for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  void u64(std::uint64_t v) {
    for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out += s;
  }
  void f64(double d) { u64(std::bit_cast<std::uint64_t>(d)); }
  void boolean(bool b) { u8(b ? 1 : 0); }
  template <class T, class F>
  void list(const std::vector<T>& v, F each) {
    u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& x : v) each(x);
  }
  std::string out;
};

struct bad_input : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class reader {
 public:
  reader(std::string_view in, const codec_limits& limits) : in_(in), limits_(limits) {}
  std::uint8_t u8() {
    need(1);
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint32_t u32() {
    need(4);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in_[pos_++]);
    return v;
  }
  std::uint64_t u64() {
    need(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in_[pos_++]);
    return v;
  }
  std::string str() {
    auto n = u32();
    if (n > limits_.max_string_bytes) throw bad_input("a string is over the limit");
    need(n);
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  double f64() { return std::bit_cast<double>(u64()); }
  bool boolean() {
    auto b = u8();
    if (b > 1) throw bad_input("a flag is not 0 or 1");
    return b == 1;
  }
  template <class T, class F>
  std::vector<T> list(F each) {
    auto n = u32();
    if (n > limits_.max_list_items) throw bad_input("a list is over the limit");
    // Each element takes at least one byte: a count beyond the remaining bytes is a lie.
    if (n > in_.size() - pos_) throw bad_input("a list count exceeds the message");
    std::vector<T> v;
    v.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) v.push_back(each());
    return v;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  void need(std::size_t n) {
    if (in_.size() - pos_ < n) throw bad_input("truncated");
  }
  std::string_view in_;
  const codec_limits& limits_;
  std::size_t pos_ = 0;
};

void put_record(writer& w, const record& r) {
  w.str(r.lfn);
  w.u64(r.version);
  w.str(r.owner);
  w.str(r.payload);
}
record get_record(reader& r) {
  record out;
  out.lfn = r.str();
  out.version = r.u64();
  out.owner = r.str();
  out.payload = r.str();
  return out;
}
void put_share(writer& w, const key_share& s) {
  w.str(s.key_id);
  w.u32(s.index);
  w.str(s.owner);
  w.str(s.holder);
  w.str(s.sealed);
  w.u32(s.count);
  w.u32(s.threshold);
}
key_share get_share(reader& r) {
  key_share s;
  s.key_id = r.str();
  s.index = r.u32();
  s.owner = r.str();
  s.holder = r.str();
  s.sealed = r.str();
  s.count = r.u32();
  s.threshold = r.u32();
  return s;
}
void put_pair(writer& w, const std::pair<std::string, std::uint32_t>& p) {
  w.str(p.first);
  w.u32(p.second);
}
std::pair<std::string, std::uint32_t> get_pair(reader& r) {
  auto first = r.str();
  return {first, r.u32()};
}

void put_plan(writer& w, const repair_plan& p) {
  w.str(p.session);
  w.str(p.key_id);
  w.str(p.owner);
  w.u32(p.count);
  w.u32(p.threshold);
  w.u32(p.target_index);
  w.str(p.target_site);
  w.list(p.helpers, [&](const auto& h) { put_pair(w, h); });
}
void put_hit(writer& w, const query_hit& h) {
  w.str(h.lfn);
  w.str(h.owner);
  w.f64(h.score);
  w.str(h.summary);
}

query_hit get_hit(reader& r) {
  query_hit h;
  h.lfn = r.str();
  h.owner = r.str();
  h.score = r.f64();
  h.summary = r.str();
  return h;
}

// A relayed hit carries who answered it and that site's signature.
void put_signed_hit(writer& w, const query_hit& h) {
  put_hit(w, h);
  w.str(h.signer);
  w.str(h.signature);
}

query_hit get_signed_hit(reader& r) {
  auto h = get_hit(r);
  h.signer = r.str();
  h.signature = r.str();
  return h;
}

// A prefix: its bit count, then the id (bits beyond the count are not read by anyone).
void put_prefix(writer& w, const id_prefix& p) {
  w.u8(p.bits);
  w.str(std::string(p.id.begin(), p.id.end()));
}

id_prefix get_prefix(reader& r) {
  id_prefix p;
  p.bits = r.u8();
  auto id = r.str();
  if (p.bits > 160 || id.size() != p.id.size()) throw bad_input("a prefix needs a 20-byte id and at most 160 bits");
  std::copy(id.begin(), id.end(), p.id.begin());
  return p;
}

repair_plan get_plan(reader& r) {
  repair_plan p;
  p.session = r.str();
  p.key_id = r.str();
  p.owner = r.str();
  p.count = r.u32();
  p.threshold = r.u32();
  p.target_index = r.u32();
  p.target_site = r.str();
  p.helpers = r.list<std::pair<std::string, std::uint32_t>>([&] { return get_pair(r); });
  return p;
}
}  // namespace

std::string encode_message(const message& m) {
  writer w;
  w.u8(codec_version);
  w.u8(static_cast<std::uint8_t>(m.index()));
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, digest_request>) {
          w.u32(b.bucket_count);
          w.list(b.buckets, [&](const auto& p) {
            w.u32(p.first);
            w.u64(p.second);
          });
        } else if constexpr (std::is_same_v<T, digest_reply>) {
          w.list(b.differing, [&](std::uint32_t x) { w.u32(x); });
          w.list(b.entries, [&](const version_entry& e) {
            w.str(e.lfn);
            w.u64(e.version);
            w.u64(e.payload_print);
            w.str(e.owner);
          });
        } else if constexpr (std::is_same_v<T, pull_request>) {
          w.list(b.lfns, [&](const std::string& s) { w.str(s); });
        } else if constexpr (std::is_same_v<T, push_records>) {
          w.list(b.records, [&](const record& r) { put_record(w, r); });
        } else if constexpr (std::is_same_v<T, share_inventory_request>) {
          w.list(b.key_ids, [&](const std::string& s) { w.str(s); });
        } else if constexpr (std::is_same_v<T, share_inventory_reply>) {
          w.list(b.held, [&](const auto& p) { put_pair(w, p); });
        } else if constexpr (std::is_same_v<T, push_shares>) {
          w.list(b.shares, [&](const key_share& s) { put_share(w, s); });
        } else if constexpr (std::is_same_v<T, drop_shares>) {
          w.list(b.shares, [&](const auto& p) { put_pair(w, p); });
        } else if constexpr (std::is_same_v<T, query_request>) {
          w.str(b.query_id);
          w.str(b.body);
          w.str(b.signature);
          w.u64(static_cast<std::uint64_t>(b.deadline_ms));
          w.list(b.asked, [&](const std::string& s) { w.str(s); });
          if (!b.answer_for.empty()) w.list(b.answer_for, [&](const std::string& s) { w.str(s); });
        } else if constexpr (std::is_same_v<T, query_answer>) {
          w.str(b.query_id);
          w.list(b.hits, [&](const query_hit& h) { put_hit(w, h); });
          w.boolean(b.last);
          // Only when set, so that a site's usual answers still decode at an older peer.
          if (b.restoring) w.boolean(true);
        } else if constexpr (std::is_same_v<T, repair_inventory_request>) {
          w.list(b.key_ids, [&](const std::string& s) { w.str(s); });
        } else if constexpr (std::is_same_v<T, repair_start>) {
          put_plan(w, b.plan);
        } else if constexpr (std::is_same_v<T, repair_piece>) {
          w.str(b.session);
          w.u32(b.from_index);
          w.str(b.piece);
        } else if constexpr (std::is_same_v<T, repair_sum>) {
          put_plan(w, b.plan);
          w.u32(b.from_index);
          w.str(b.sum);
        } else if constexpr (std::is_same_v<T, subtree_request>) {
          w.str(b.query_id);
          w.str(b.body);
          w.str(b.signature);
          w.u64(static_cast<std::uint64_t>(b.deadline_ms));
          w.str(b.querier);
          w.u64(b.tag);
          put_prefix(w, b.cover);
          w.u64(static_cast<std::uint64_t>(b.budget_ms));
          w.list(b.skip, [&](const std::string& s) { w.str(s); });
          w.list(b.answer_for, [&](const id_prefix& p) { put_prefix(w, p); });
          if (b.hop_ms > 0) w.u64(static_cast<std::uint64_t>(b.hop_ms));
        } else if constexpr (std::is_same_v<T, subtree_answer>) {
          w.str(b.query_id);
          w.u64(b.tag);
          w.list(b.hits, [&](const query_hit& h) { put_signed_hit(w, h); });
          w.u32(b.reached);
          w.list(b.uncovered, [&](const id_prefix& p) { put_prefix(w, p); });
          w.boolean(b.last);
          if (!b.restoring.empty()) w.list(b.restoring, [&](const id_prefix& p) { put_prefix(w, p); });
        }
      },
      m);
  return std::move(w.out);
}

result<message> decode_message(std::string_view bytes, const codec_limits& limits) {
  if (bytes.size() > limits.max_message_bytes)
    return fail(errc::too_large, "overlay message over " + std::to_string(limits.max_message_bytes) + " bytes");
  try {
    reader r(bytes, limits);
    if (r.u8() != codec_version) return fail(errc::malformed_input, "unknown overlay message version");
    auto type = r.u8();
    message m;
    switch (type) {
      case 0: {
        digest_request d;
        d.bucket_count = r.u32();
        d.buckets = r.list<std::pair<std::uint32_t, std::uint64_t>>([&] {
          auto b = r.u32();
          return std::pair<std::uint32_t, std::uint64_t>{b, r.u64()};
        });
        m = std::move(d);
        break;
      }
      case 1: {
        digest_reply d;
        d.differing = r.list<std::uint32_t>([&] { return r.u32(); });
        d.entries = r.list<version_entry>([&] {
          version_entry e;
          e.lfn = r.str();
          e.version = r.u64();
          e.payload_print = r.u64();
          e.owner = r.str();
          return e;
        });
        m = std::move(d);
        break;
      }
      case 2:
        m = pull_request{r.list<std::string>([&] { return r.str(); })};
        break;
      case 3:
        m = push_records{r.list<record>([&] { return get_record(r); })};
        break;
      case 4:
        m = share_inventory_request{r.list<std::string>([&] { return r.str(); })};
        break;
      case 5:
        m = share_inventory_reply{r.list<std::pair<std::string, std::uint32_t>>([&] { return get_pair(r); })};
        break;
      case 6:
        m = push_shares{r.list<key_share>([&] { return get_share(r); })};
        break;
      case 7:
        m = drop_shares{r.list<std::pair<std::string, std::uint32_t>>([&] { return get_pair(r); })};
        break;
      case 8: {
        query_request q;
        q.query_id = r.str();
        q.body = r.str();
        q.signature = r.str();
        q.deadline_ms = static_cast<std::int64_t>(r.u64());
        q.asked = r.list<std::string>([&] { return r.str(); });
        // Optional at the end: a request from a node without hedging still decodes. Present
        // means non-empty (the encoder leaves an empty list out), so every request has one form.
        if (!r.done()) {
          q.answer_for = r.list<std::string>([&] { return r.str(); });
          if (q.answer_for.empty())
            return fail(errc::malformed_input, "query_request: an empty answer_for list is left out, not sent");
        }
        m = std::move(q);
        break;
      }
      case 9: {
        query_answer a;
        a.query_id = r.str();
        a.hits = r.list<query_hit>([&] { return get_hit(r); });
        a.last = r.boolean();
        // Optional at the end, present only when set (one form per answer, as answer_for above).
        if (!r.done() && !(a.restoring = r.boolean()))
          return fail(errc::malformed_input, "query_answer: restoring is left out when false, not sent");
        m = std::move(a);
        break;
      }
      case 10:
        m = repair_inventory_request{r.list<std::string>([&] { return r.str(); })};
        break;
      case 11:
        m = repair_start{get_plan(r)};
        break;
      case 12: {
        repair_piece p;
        p.session = r.str();
        p.from_index = r.u32();
        p.piece = r.str();
        m = std::move(p);
        break;
      }
      case 13: {
        repair_sum p;
        p.plan = get_plan(r);
        p.from_index = r.u32();
        p.sum = r.str();
        m = std::move(p);
        break;
      }
      case 14: {
        subtree_request q;
        q.query_id = r.str();
        q.body = r.str();
        q.signature = r.str();
        q.deadline_ms = static_cast<std::int64_t>(r.u64());
        q.querier = r.str();
        q.tag = r.u64();
        q.cover = get_prefix(r);
        q.budget_ms = static_cast<std::int64_t>(r.u64());
        q.skip = r.list<std::string>([&] { return r.str(); });
        q.answer_for = r.list<id_prefix>([&] { return get_prefix(r); });
        if (!r.done() && (q.hop_ms = static_cast<std::int64_t>(r.u64())) <= 0)
          return fail(errc::malformed_input, "subtree_request: hop is left out when 0, not sent");
        m = std::move(q);
        break;
      }
      case 15: {
        subtree_answer a;
        a.query_id = r.str();
        a.tag = r.u64();
        a.hits = r.list<query_hit>([&] { return get_signed_hit(r); });
        a.reached = r.u32();
        a.uncovered = r.list<id_prefix>([&] { return get_prefix(r); });
        a.last = r.boolean();
        if (!r.done() && (a.restoring = r.list<id_prefix>([&] { return get_prefix(r); })).empty())
          return fail(errc::malformed_input, "subtree_answer: restoring is left out when empty, not sent");
        m = std::move(a);
        break;
      }
      default:
        return fail(errc::malformed_input, "unknown overlay message type " + std::to_string(type));
    }
    if (!r.done()) return fail(errc::malformed_input, "trailing bytes after the overlay message");
    return m;
  } catch (const bad_input& e) {
    return fail(errc::malformed_input, std::string("overlay message: ") + e.what());
  } catch (const std::bad_alloc&) {
    return fail(errc::too_large, "overlay message too large to decode");
  }
}

std::string encode_key_share(const key_share& s) {
  writer w;
  w.u8(codec_version);
  put_share(w, s);
  return std::move(w.out);
}

result<key_share> decode_key_share(std::string_view bytes, const codec_limits& limits) {
  try {
    reader r(bytes, limits);
    if (r.u8() != codec_version) return fail(errc::malformed_input, "unknown key share version");
    auto s = get_share(r);
    if (!r.done()) return fail(errc::malformed_input, "trailing bytes after the key share");
    return s;
  } catch (const bad_input& e) {
    return fail(errc::malformed_input, std::string("key share: ") + e.what());
  }
}

}  // namespace dm2::dht
