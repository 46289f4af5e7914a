// Authenticates keys against the built-in key store: the keyed hash of the presented key first,
// then (when it is not a kept lookup, below) the key's shape and checksum, so garbage costs no
// store round trip, then one primary-key lookup of the hash, then revocation, expiry and the
// key's IP allow-list.
//
// Where the store offers a key epoch (SQLite), a key's lookup is kept and reused while the
// epoch stays the same, for at most kReuseMs: a revocation or rotation — by this process, another
// replica on the same machine or `keys` offline — moves the epoch on before it returns, so the
// very next request looks the key up again. Unknown keys are never kept. A kept lookup is found
// by the key's hash alone: only a key that passed the checksum was kept, and a different string
// with the same HMAC-SHA256 is not something anyone can produce.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/authenticator.hpp"
#include "auth/key_service.hpp"
#include "store/auth_store.hpp"

namespace hokusai::auth {

class LocalAuthenticator final : public Authenticator {
 public:
  // How long a kept lookup is reused at most, epoch unchanged: bounds what a change made
  // outside this program (the database edited by hand) can go unnoticed.
  static constexpr int64_t kReuseMs = 10'000;

  // `service_id` is reported as the principal's service.
  LocalAuthenticator(store::AuthStore& store, const KeyService& keys, std::string service_id);

  Result<Principal> Authenticate(std::string_view secret, std::string_view client_ip) override;
  Result<void> Ping() override;
  bool IsLocal() const override { return true; }

 private:
  // A kept lookup, ready to answer with: the key holder's identity, shared with every request
  // that reuses it, and what a reuse checks without reading it.
  struct Kept {
    std::shared_ptr<const Identity> identity;
    std::optional<int64_t> valid_until;  // the earlier of the key's expiry and its secret's end
    uint64_t epoch = 0;
    int64_t looked_up_at = 0;
    int64_t touched_at = 0;  // when this entry last asked Touch() to record a use
    bool checks_ip = false;  // the key has an IP allow-list
  };
  // One shard's kept lookups: open addressing on the key's digest (32 bytes, held in the slot),
  // so that a reuse reads one slot instead of a node, its key string and a second map's node
  // (with 10,000 keys in use those were cache misses that tripled validation's cost). Entries
  // are overwritten, never erased; the table is emptied when half full at its largest size.
  class KeptTable {
   public:
    Kept* Find(const KeyDigest& digest);
    // The entry for `digest`, new or the one kept before.
    Kept& Put(const KeyDigest& digest);

   private:
    // Two cache lines, aligned: a reuse reads both, and they arrive together.
    struct alignas(128) Slot {
      KeyDigest digest{};
      bool used = false;
      Kept kept;
    };
    std::size_t Home(const KeyDigest& digest) const;
    void Grow();
    std::vector<Slot> slots_;
    std::size_t used_ = 0;
  };

  // The principal for `secret`, whose digest is `digest`, from a kept lookup or the store; an
  // error for malformed, unknown, revoked, expired and unreadable keys. `touch`: a use of the
  // key is due to be recorded. `checks_ip`: the key has an IP allow-list.
  Result<Principal> Lookup(std::string_view secret, const KeyDigest& digest, int64_t now,
                           bool& touch, bool& checks_ip);
  std::optional<Principal> Reuse(const KeyDigest& digest, uint64_t epoch, int64_t now,
                                 bool& touch, bool& checks_ip);
  void Keep(const KeyDigest& digest, std::shared_ptr<const Identity> identity,
            std::optional<int64_t> secret_valid_until, uint64_t epoch, int64_t now);
  // Records last use at most once a minute per key, so reads do not turn into writes.
  void Touch(const std::string& key_id, int64_t now);

  store::AuthStore& store_;
  const KeyService& keys_;
  std::string service_id_;
  // Split into independently locked shards, so concurrent requests rarely wait on one another.
  template <typename Table>
  struct Shards {
    struct Shard {
      std::mutex mutex;
      Table entries;
    };
    Shard& For(std::string_view key) { return At(std::hash<std::string_view>{}(key)); }
    Shard& At(std::size_t hash) { return shards[hash % shards.size()]; }
    std::array<Shard, 16> shards;
  };
  // A digest's shard: its first byte (KeptTable::Home reads others).
  Shards<KeptTable>::Shard& KeptShard(const KeyDigest& digest) { return kept_.At(digest[0]); }

  Shards<KeptTable> kept_;                                   // by key digest
  Shards<std::unordered_map<std::string, int64_t>> last_touch_;  // by key id
};

}  // namespace hokusai::auth
