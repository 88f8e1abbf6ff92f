# Every third-party package dm2 links, found through the config files Debian 12 ships.
# docs/dependencies.md says why each one is here.
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(Boost 1.74 REQUIRED)                 # Asio + Beast, header-only
find_package(LibtorrentRasterbar 2.0 REQUIRED)
find_package(RocksDB REQUIRED)
find_package(DCMTK REQUIRED)
# NIfTI: Debian 12's NIFTIConfig.cmake points at /usr/lib/libznz.so (absent); pacs/ finds it by hand.
find_package(nlohmann_json 3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(tomlplusplus REQUIRED)
# FAISS 1.7.3 (libfaiss-dev, a static library built with OpenMP and BLAS): stage 1's search.
find_package(OpenMP REQUIRED)
find_package(faiss REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(GFSHARE REQUIRED IMPORTED_TARGET libgfshare)
pkg_check_modules(ARGON2 REQUIRED IMPORTED_TARGET libargon2)  # account passwords (node/src/access)

# libtorrent's headers are compiled with these; every translation unit that includes Asio must
# agree on them, or the same inline Asio code differs between our libraries (an ODR violation).
add_compile_definitions(BOOST_ASIO_NO_DEPRECATED BOOST_ASIO_ENABLE_CANCELIO)

if(DM2_SANITIZE AND DM2_TSAN)
  message(FATAL_ERROR "DM2_SANITIZE (ASan) and DM2_TSAN cannot be combined: use two build directories")
endif()
if(DM2_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(DM2_TSAN)
  # -Wno-tsan: GCC 12 warns that TSan does not model std::atomic_thread_fence, which Boost.Asio's
  # fenced blocks use around every handler; the handlers' own synchronisation (strands, the
  # scheduler's mutex) is what TSan checks, and a report it raises is still examined, never hidden.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer
                      $<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>)
  add_link_options(-fsanitize=thread)
endif()
