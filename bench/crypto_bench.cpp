// AES-256-GCM throughput of dm2::crypto (one-shot aead_seal/aead_open and the chunked stream)
// on 1-64 MiB buffers. bench/crypto_bench.sh runs it beside `openssl speed` and prints ratios.
#include <benchmark/benchmark.h>

#include "dm2/crypto/aead.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/stream.hpp"

namespace {

using namespace dm2::crypto;

constexpr std::string_view ad = "lfn=0123456789abcdef|v=1|class=series";

void sizes(benchmark::internal::Benchmark* b) {
  for (long mib : {1, 4, 16, 64}) b->Arg(mib << 20);
  b->Unit(benchmark::kMillisecond);
}

void aead_seal_bench(benchmark::State& state) {
  auto key = generate_aead_key();
  std::string plain(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    auto sealed = aead_seal(key, plain, ad);
    if (!sealed) state.SkipWithError("seal failed");
    benchmark::DoNotOptimize(sealed->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void aead_open_bench(benchmark::State& state) {
  auto key = generate_aead_key();
  auto sealed = *aead_seal(key, std::string(static_cast<size_t>(state.range(0)), 'x'), ad);
  for (auto _ : state) {
    auto plain = aead_open(key, sealed, ad);
    if (!plain) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(plain->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

// The same with one output buffer reused across calls (aead_*_into), as a node sealing series
// one after another does: no allocation, zero-fill or page faults per message.
void aead_seal_into_bench(benchmark::State& state) {
  auto key = generate_aead_key();
  std::string plain(static_cast<size_t>(state.range(0)), 'x'), sealed;
  // Warm, as a buffer kept across series is: the first call's page faults are not the call's cost.
  if (!aead_seal_into(key, plain, ad, sealed)) state.SkipWithError("seal failed");
  for (auto _ : state) {
    if (!aead_seal_into(key, plain, ad, sealed)) state.SkipWithError("seal failed");
    benchmark::DoNotOptimize(sealed.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void aead_open_into_bench(benchmark::State& state) {
  auto key = generate_aead_key();
  auto sealed = *aead_seal(key, std::string(static_cast<size_t>(state.range(0)), 'x'), ad);
  std::string plain;
  if (!aead_open_into(key, sealed, ad, plain)) state.SkipWithError("open failed");  // warm
  for (auto _ : state) {
    if (!aead_open_into(key, sealed, ad, plain)) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(plain.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void stream_seal_bench(benchmark::State& state) {
  auto key = generate_aead_key();
  std::string plain(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    auto sealed = stream_seal(key, plain, ad);
    if (!sealed) state.SkipWithError("stream seal failed");
    benchmark::DoNotOptimize(sealed->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void stream_open_bench(benchmark::State& state) {
  auto key = generate_aead_key();
  auto sealed = *stream_seal(key, std::string(static_cast<size_t>(state.range(0)), 'x'), ad);
  for (auto _ : state) {
    auto plain = stream_open(key, sealed, ad);
    if (!plain) state.SkipWithError("stream open failed");
    benchmark::DoNotOptimize(plain->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

// The stream as the node runs it (stream_seal_file, the ingest path): the input fed in 1 MiB
// blocks, each block's sealed bytes written into one reused buffer (and written out), so the output
// never needs a fresh mapping of the whole size.
constexpr std::size_t block_size = std::size_t{1} << 20;

// Feeds `input` to a stream_opener in 1 MiB blocks, the output into the reused `produced`.
template <class Stream>
void feed_in_blocks(benchmark::State& state, dm2::result<Stream> stream, std::string_view input,
                    std::string& produced) {
  if (!stream) return state.SkipWithError("stream create failed");
  for (std::size_t at = 0; at < input.size(); at += block_size) {
    if (!stream->update(input.substr(at, block_size), produced))
      state.SkipWithError("stream update failed");
    benchmark::DoNotOptimize(produced.data());
    produced.clear();
  }
  if (!stream->finish(produced)) state.SkipWithError("stream finish failed");
  produced.clear();
}

void stream_seal_blocks_bench(benchmark::State& state) {
  auto key = generate_aead_key();
  std::string plain(static_cast<size_t>(state.range(0)), 'x'), buffer;
  for (auto _ : state) {
    // As stream_seal_file does: the size announced, each block sealed over one buffer reused
    // across blocks and files.
    auto sealer = stream_sealer::create(key, ad);
    if (!sealer || !sealer->expect_size(plain.size())) return state.SkipWithError("create failed");
    for (std::size_t at = 0; at < plain.size(); at += block_size) {
      auto sealed = sealer->seal_block(std::string_view(plain).substr(at, block_size), buffer);
      if (!sealed) return state.SkipWithError("stream update failed");
      benchmark::DoNotOptimize(sealed->data());
    }
    if (!sealer->seal_last(buffer)) state.SkipWithError("stream finish failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void stream_open_blocks_bench(benchmark::State& state) {
  auto key = generate_aead_key();
  auto sealed = *stream_seal(key, std::string(static_cast<size_t>(state.range(0)), 'x'), ad);
  std::string produced;
  for (auto _ : state) feed_in_blocks(state, stream_opener::create(key, ad), sealed, produced);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

BENCHMARK(aead_seal_bench)->Apply(sizes);
BENCHMARK(aead_open_bench)->Apply(sizes);
BENCHMARK(aead_seal_into_bench)->Apply(sizes);
BENCHMARK(aead_open_into_bench)->Apply(sizes);
BENCHMARK(stream_seal_bench)->Apply(sizes);
BENCHMARK(stream_open_bench)->Apply(sizes);
BENCHMARK(stream_seal_blocks_bench)->Apply(sizes);
BENCHMARK(stream_open_blocks_bench)->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
