// Private helpers over OpenSSL: RAII owners and error text. Not part of the public API.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

namespace dm2::crypto::detail {

template <auto Free>
struct deleter {
  template <class T>
  void operator()(T* p) const noexcept { Free(p); }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, deleter<EVP_PKEY_CTX_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO_free_all>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, deleter<EVP_MD_CTX_free>>;
using cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, deleter<EVP_CIPHER_CTX_free>>;

// OpenSSL takes bytes as unsigned char; ours live in std::string / string_view / char buffers.
inline const unsigned char* u8(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
inline unsigned char* u8(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }
inline const unsigned char* u8(const char* p) { return reinterpret_cast<const unsigned char*>(p); }
inline unsigned char* u8(char* p) { return reinterpret_cast<unsigned char*>(p); }

// AES-256-GCM fetched from the provider once: with EVP_aes_256_gcm(), OpenSSL 3 looks the cipher
// up again (a lock and a table walk) at every key set-up, that is for every sealed file opened.
inline const EVP_CIPHER* aes_256_gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

// The oldest queued OpenSSL error as text (and clears the queue), prefixed by `what`.
inline std::string openssl_error(std::string_view what) {
  std::string out(what);
  unsigned long code = ERR_get_error();
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

inline bio_ptr memory_bio(std::string_view data) {
  return bio_ptr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

inline std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace dm2::crypto::detail
