#include "uploaded_series.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "dm2/crypto/hash.hpp"
#include "dm2/pacs/volume.hpp"

namespace dm2::node {
namespace fs = std::filesystem;

namespace {

fs::path scratch_root_of(const fs::path& data_dir) { return data_dir / "upload-scratch"; }

// The upload's folder, removed however the call ends.
struct scratch_folder {
  fs::path dir;
  ~scratch_folder() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Writes `bytes` to a new file readable by this user only. Errors: io_error.
status write_private(const fs::path& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail(errc::io_error, "cannot write the upload's scratch file");
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (done != bytes.size()) return fail(errc::io_error, "cannot write the upload's scratch file");
  return {};
}

}  // namespace

result<similarity::volume> assemble_in_scratch(const fs::path& data_dir, std::size_t max_voxels, const std::string& label,
                                               const std::function<result<std::vector<fs::path>>(const fs::path&)>& fill) {
  const auto scratch_root = scratch_root_of(data_dir);
  std::error_code ec;
  fs::create_directories(scratch_root, ec);
  ::chmod(scratch_root.c_str(), 0700);
  scratch_folder scratch{scratch_root / crypto::to_hex(crypto::random_bytes(8))};
  if (::mkdir(scratch.dir.c_str(), 0700) != 0) return fail(errc::io_error, label + "cannot create a scratch folder");
  auto paths = fill(scratch.dir);
  if (!paths) return error{paths.err().code, label + paths.err().message};
  pacs::assembly_options options;
  options.max_voxels = max_voxels;
  auto v = pacs::assemble_series(*paths, options);
  if (!v) return error{v.err().code, label + v.err().message};
  v->series_uid.clear();
  v->files.clear();
  v->notes.clear();
  return std::move(*v);
}

result<similarity::volume> assemble_uploaded_series(const std::vector<std::string>& files,
                                                    const fs::path& data_dir, std::size_t max_voxels) {
  if (files.empty()) return fail(errc::invalid_argument, "dicom: no files");
  return assemble_in_scratch(data_dir, max_voxels, "dicom: ", [&](const fs::path& folder) -> result<std::vector<fs::path>> {
    std::vector<fs::path> paths;
    for (std::size_t i = 0; i < files.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "file-%04zu.dcm", i + 1);  // the upload's order, 1-based: errors name it
      paths.push_back(folder / name);
      if (auto s = write_private(paths.back(), files[i]); !s) return s.err();
    }
    return paths;
  });
}

void sweep_upload_scratch(const fs::path& data_dir) {
  std::error_code ec;
  fs::remove_all(scratch_root_of(data_dir), ec);
}

}  // namespace dm2::node
