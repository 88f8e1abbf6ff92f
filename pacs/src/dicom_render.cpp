#include "dm2/pacs/dicom_render.hpp"

#include <dcmtk/config/osconfig.h>    // must come first with DCMTK
#include <dcmtk/dcmimgle/dcmimage.h>  // before the plugins, which need its declarations

#include <dcmtk/dcmimage/dipipng.h>
#include <dcmtk/dcmimage/diregist.h>  // colour images
#include <dcmtk/dcmjpeg/dipijpeg.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "dcmtk_support.hpp"

namespace dm2::pacs {
namespace {

// Rows × Columns × samples × bytes: 4096 × 4096 × 3 × 2 is 96 MiB.
constexpr std::uint32_t max_frame_bytes = 256u << 20;

struct parsed_instance {
  std::unique_ptr<DcmFileFormat> file;
  DcmDataset* data = nullptr;
  unsigned frames = 1;
};

result<parsed_instance> parse(std::string_view dicom) {
  detail::ensure_codecs_registered();
  auto ff = detail::read_part10(dicom);
  if (!ff) return std::move(ff).err();
  parsed_instance p{std::move(*ff), nullptr, 1};
  p.data = p.file->getDataset();
  if (!p.data->tagExists(DCM_PixelData))
    return fail(errc::malformed_input, "the instance holds no pixel data");
  Sint32 n = 1;
  if (p.data->findAndGetSint32(DCM_NumberOfFrames, n).good() && n > 1)
    p.frames = static_cast<unsigned>(n);
  return p;
}

error no_such_frame(unsigned frame, unsigned frames) {
  return {errc::not_found,
          "no frame " + std::to_string(frame + 1) + " in an instance of " + std::to_string(frames)};
}

// What `write(FILE*)` writes, collected in memory (open_memstream), the buffer wiped after.
template <typename Write>
result<std::string> written(Write&& write) {
  char* buffer = nullptr;
  std::size_t size = 0;
  FILE* f = open_memstream(&buffer, &size);
  if (!f) return fail(errc::internal, "cannot open a memory stream");
  bool ok = write(f);
  std::fclose(f);
  std::string out = ok && buffer ? std::string(buffer, size) : std::string();
  if (buffer) std::fill(buffer, buffer + size, '\0');
  std::free(buffer);
  if (!ok || out.empty()) return fail(errc::internal, "the image encoder failed");
  return out;
}

}  // namespace

result<unsigned> frame_count(std::string_view dicom) {
  auto p = parse(dicom);
  if (!p) return std::move(p).err();
  return p->frames;
}

result<std::string> frame_pixels(std::string_view dicom, unsigned frame) {
  auto p = parse(dicom);
  if (!p) return std::move(p).err();
  if (frame >= p->frames) return no_such_frame(frame, p->frames);
  DcmElement* element = nullptr;
  if (p->data->findAndGetElement(DCM_PixelData, element).bad() || !element)
    return fail(errc::malformed_input, "the instance holds no pixel data");
  Uint32 size = 0;
  if (element->getUncompressedFrameSize(p->data, size).bad() || size == 0)
    return fail(errc::malformed_input, "the instance's image attributes give no frame size");
  if (size > max_frame_bytes)  // attributes that ask for more than any image holds
    return fail(errc::too_large, "a frame over " + std::to_string(max_frame_bytes >> 20) + " MiB");
  std::string out(size + (size & 1), '\0');  // DCMTK may write the pad byte
  Uint32 fragment = 0;
  OFString colour;
  auto cond = element->getUncompressedFrame(p->data, frame, fragment, out.data(),
                                            static_cast<Uint32>(out.size()), colour);
  if (cond.bad())
    return fail(errc::unsupported, std::string("cannot read the frame (") + cond.text() + ")");
  out.resize(size);
  return out;
}

result<std::string> rendered_frame(std::string_view dicom, unsigned frame,
                                   const render_settings& how) {
  auto p = parse(dicom);
  if (!p) return std::move(p).err();
  if (frame >= p->frames) return no_such_frame(frame, p->frames);
  DicomImage image(p->data, p->data->getOriginalXfer(), CIF_UsePartialAccessToPixelData, frame, 1);
  if (image.getStatus() != EIS_Normal)
    return fail(errc::unsupported, std::string("cannot render the image (") +
                                       DicomImage::getString(image.getStatus()) + ")");
  if (image.isMonochrome()) {
    bool set = how.window_center && how.window_width
                   ? image.setWindow(*how.window_center, *how.window_width)
                   : image.getWindowCount() > 0 && image.setWindow(0);
    if (!set) image.setMinMaxWindow();
  }
  std::unique_ptr<DicomImage> scaled;
  DicomImage* out = &image;
  auto cols = image.getWidth(), rows = image.getHeight();
  if ((how.max_columns && cols > how.max_columns) || (how.max_rows && rows > how.max_rows)) {
    double f = 1.0;
    if (how.max_columns) f = std::min(f, double(how.max_columns) / double(cols));
    if (how.max_rows) f = std::min(f, double(how.max_rows) / double(rows));
    scaled.reset(image.createScaledImage(std::max(1UL, static_cast<unsigned long>(cols * f)),
                                         std::max(1UL, static_cast<unsigned long>(rows * f)), 1,
                                         0));
    if (!scaled || scaled->getStatus() != EIS_Normal)
      return fail(errc::internal, "cannot scale the image");
    out = scaled.get();
  }
  return written([&](FILE* f) {
    if (how.format == image_format::png) {
      DiPNGPlugin png;
      png.setMetainfoType(E_pngNoMetainfo);  // no creation time: the same frame, the same bytes
      png.setInterlaceType(E_pngInterlaceNone);
      return out->writePluginFormat(&png, f) != 0;
    }
    DiJPEGPlugin jpeg;
    jpeg.setQuality(std::clamp(how.jpeg_quality, 1U, 100U));
    return out->writePluginFormat(&jpeg, f) != 0;
  });
}

}  // namespace dm2::pacs
