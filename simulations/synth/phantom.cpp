#include "phantom.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>
#include <stdexcept>

namespace dm2::synth {
namespace {

using vec = std::array<double, 3>;

vec add(const vec& a, const vec& b) { return {a[0] + b[0], a[1] + b[1], a[2] + b[2]}; }
vec sub(const vec& a, const vec& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
vec scale(const vec& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }
double dot(const vec& a, const vec& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
vec cross(const vec& a, const vec& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
vec unit(const vec& a) { return scale(a, 1.0 / std::sqrt(dot(a, a))); }

// splitmix64: decorrelates nearby seeds (1, 2, 3...) before they seed the generators.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct draw {
  std::mt19937_64 rng;
  explicit draw(std::uint64_t seed) : rng(mix(seed)) {}
  double operator()(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng() % n); }
};

// Tissue values per study: bSSFP-like MR signal (arbitrary units) or CT Hounsfield units.
struct tissue_values {
  double air, lung, fat, muscle, myocardium, blood_lv, blood_rv, fluid, liver, bone, marrow, disc, csf;
};
constexpr tissue_values mr_values{0, 25, 800, 220, 200, 820, 800, 760, 330, 250, 450, 520, 900};
constexpr tissue_values ct_values{-1000, -860, -100, 45, 95, 330, 260, 12, 70, 700, 240, 80, 15};

// (r/ra)^2 + (s/sa)^2 for a point q relative to an ellipsoid of revolution about axis u.
double spheroid(const vec& q, const vec& u, double ra, double sa) {
  double s = dot(q, u);
  vec radial = sub(q, scale(u, s));
  return dot(radial, radial) / (ra * ra) + (s * s) / (sa * sa);
}

double ellipsoid(const vec& q, const vec& axes) {
  return q[0] * q[0] / (axes[0] * axes[0]) + q[1] * q[1] / (axes[1] * axes[1]) + q[2] * q[2] / (axes[2] * axes[2]);
}

double disc2(double dx, double dy) { return dx * dx + dy * dy; }

// The anatomy as a function of position: the tissue value at p (LPS mm, noise-free).
class patient_model {
 public:
  patient_model(const anatomy& a, const tissue_values& v) : a_(a), v_(v) {
    const vec& u = a.long_axis;
    // The right ventricle lies to the patient's right of and in front of the left one.
    vec towards = sub(vec{-1, -0.6, 0}, scale(u, dot(vec{-1, -0.6, 0}, u)));
    rv_center_ = add(a.heart_center, scale(unit(towards), (a.lv_radius + a.wall) * 0.85));
    la_center_ = add(sub(a.heart_center, scale(u, a.lv_half_length * 1.05)), vec{0, 18, 0});
  }

  double at(const vec& p) const {
    const auto& a = a_;
    const double bx = a.body_center[0], by = a.body_center[1];
    const double body = disc2((p[0] - bx) / a.body_axes[0], (p[1] - by) / a.body_axes[1]);
    if (body > 1) return v_.air;
    if (auto s = spine(p)) return *s;
    // Aorta: descending beside the spine, ascending above the heart's base.
    if (disc2(p[0] - (bx + 22), p[1] - (a.spine_y - 26)) < 12 * 12) return v_.blood_lv;
    const vec& h = a.heart_center;
    if (p[2] > h[2] + 20 && disc2(p[0] - (h[0] - 32), p[1] - (h[1] + 10)) < 15 * 15) return v_.blood_lv;
    if (auto c = heart(p)) return *c;
    // Liver under the right diaphragm dome.
    if (ellipsoid(sub(p, vec{bx - 45, by, h[2] - 115}), {100, 85, 75}) < 1) return v_.liver;
    if (auto l = lung(p, body)) return *l;
    if (auto b = chest_wall_bone(p, body)) return *b;
    const double inner = disc2((p[0] - bx) / (a.body_axes[0] - a.fat), (p[1] - by) / (a.body_axes[1] - a.fat));
    return inner > 1 ? v_.fat : v_.muscle;
  }

 private:
  std::optional<double> spine(const vec& p) const {
    const double bx = a_.body_center[0];
    const double body_r2 = disc2(p[0] - bx, p[1] - a_.spine_y);
    if (body_r2 < 17 * 17) {
      // Intervertebral discs every 27 mm.
      if (std::fmod(p[2] + 1000, 27.0) < 6) return v_.disc;
      return body_r2 > 14 * 14 ? v_.bone : v_.marrow;
    }
    const double canal_r2 = disc2(p[0] - bx, p[1] - (a_.spine_y + 27));
    if (canal_r2 < 8 * 8) return v_.csf;
    if (canal_r2 < 13 * 13 && std::fmod(p[2] + 1000, 27.0) >= 6) return v_.bone;  // neural arch
    return std::nullopt;
  }

  std::optional<double> heart(const vec& p) const {
    const auto& a = a_;
    const vec& u = a.long_axis;
    const vec q = sub(p, a.heart_center);
    const double base = -0.45 * a.lv_half_length;  // the ventricles end at the base plane
    const double s = dot(q, u);
    const double ra = a.lv_radius, sa = a.lv_half_length, t = a.wall;
    const double lv_epi = spheroid(q, u, ra + t, sa + t);
    const vec qr = sub(p, rv_center_);
    const double rv_outer = spheroid(qr, u, ra * 1.15 + 3, sa * 0.85 + 3);
    if (s >= base) {
      if (spheroid(q, u, ra, sa) < 1) return v_.blood_lv;
      if (lv_epi < 1) return v_.myocardium;
      if (spheroid(qr, u, ra * 1.15, sa * 0.85) < 1) return v_.blood_rv;
      if (rv_outer < 1) return v_.myocardium;
    }
    // Left atrium behind the base.
    const double la = ellipsoid(sub(p, la_center_), {24, 20, 20});
    if (la < 1) return v_.blood_lv;
    if (s < base && la < 1.25) return v_.myocardium;
    // Pericardial effusion, then the pericardial fat pad, around both ventricles.
    const double e = a.pericardial_effusion;
    if (s >= base - e) {
      if (e > 0 && (spheroid(q, u, ra + t + e, sa + t + e) < 1 ||
                    spheroid(qr, u, ra * 1.15 + 3 + e, sa * 0.85 + 3 + e) < 1))
        return v_.fluid;
      if (spheroid(q, u, ra + t + e + 3, sa + t + e + 3) < 1 ||
          spheroid(qr, u, ra * 1.15 + 6 + e, sa * 0.85 + 6 + e) < 1)
        return v_.fat;
    }
    return std::nullopt;
  }

  std::optional<double> lung(const vec& p, double body) const {
    const auto& a = a_;
    if (body > 0.8 * 0.8) return std::nullopt;  // inside the ribs only
    // Keep the mediastinum (between the lungs, in front of the spine) soft tissue.
    if (std::abs(p[0] - a.body_center[0]) < 18 && p[1] < a.spine_y) return std::nullopt;
    for (double side : {-1.0, 1.0}) {
      vec c = {a.body_center[0] + side * a.lung_offset, a.body_center[1] + 8, a.heart_center[2] + 25};
      if (ellipsoid(sub(p, c), a.lung_axes) >= 1) continue;
      // A pleural effusion fills the dependent (posterior) part of the right lung.
      if (side < 0 && a.pleural_effusion > 0 && p[1] > c[1] + a.lung_axes[1] - a.pleural_effusion) return v_.fluid;
      // Vessels: a sparse, smooth texture so the lung is not flat.
      double vessels = std::sin(p[0] / 6.1) * std::sin(p[1] / 7.3) * std::sin(p[2] / 5.7);
      return v_.lung + (vessels > 0.75 ? (v_.muscle - v_.lung) * 0.6 : 0.0);
    }
    return std::nullopt;
  }

  std::optional<double> chest_wall_bone(const vec& p, double body) const {
    const auto& a = a_;
    const double dx = p[0] - a.body_center[0];
    const double dy = p[1] - a.body_center[1];
    // Sternum in front of the heart.
    if (std::abs(dx) < 14 && dy < -0.78 * a.body_axes[1] && dy > -0.86 * a.body_axes[1] &&
        p[2] > a.heart_center[2] - 70 && p[2] < a.heart_center[2] + 90)
      return v_.bone;
    // Ribs: a band inside the body wall, sloping down towards the front, every 26 mm.
    if (body > 0.80 * 0.80 && body < 0.87 * 0.87 && !(std::abs(dx) < 30 && dy < 0)) {
      double theta = std::atan2(dy, dx);
      if (std::fmod(p[2] + 14 * std::abs(std::sin(theta)) + 1000, 26.0) < 8) return v_.bone;
    }
    return std::nullopt;
  }

  anatomy a_;
  tissue_values v_;
  vec rv_center_{}, la_center_{};
};

// A near-duplicate's smooth deformation: a few millimetres, wavelengths of ~20 cm.
class deformation {
 public:
  deformation(std::uint64_t seed, std::uint64_t variant) {
    if (variant == 0) return;
    draw d(seed * 1000003 + variant);
    amplitude_ = d(1.5, 3.0);
    for (auto& w : waves_) {
      w.k = scale(unit({d(-1, 1), d(-1, 1), d(-1, 1)}), 2 * std::numbers::pi / d(150, 250));
      w.phase = d(0, 2 * std::numbers::pi);
    }
  }
  vec apply(const vec& p) const {
    if (amplitude_ == 0) return p;
    vec out = p;
    for (std::size_t axis = 0; axis < 3; ++axis)
      out[axis] += amplitude_ * std::sin(dot(p, waves_[axis].k) + waves_[axis].phase);
    return out;
  }

 private:
  struct wave {
    vec k{};
    double phase = 0;
  };
  double amplitude_ = 0;
  std::array<wave, 3> waves_{};
};

std::string two_digits(int v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d", v);
  return buf;
}

std::string study_date_of(std::uint64_t seed, std::uint64_t variant) {
  draw d(seed * 7919 + variant + 17);
  int year = 2024 + static_cast<int>(d.pick(3));
  int month = 1 + static_cast<int>(d.pick(12));
  int day = 1 + static_cast<int>(d.pick(28));
  return std::to_string(year) + two_digits(month) + two_digits(day);
}

// Age in whole years at the study date, as DICOM AS ("054Y").
std::string age_at(const std::string& birth, const std::string& study) {
  int years = std::stoi(study.substr(0, 4)) - std::stoi(birth.substr(0, 4));
  if (study.substr(4) < birth.substr(4)) --years;
  char buf[8];
  std::snprintf(buf, sizeof buf, "%03dY", std::clamp(years, 0, 999));
  return buf;
}

std::string digits(std::uint64_t v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i, v /= 10) out.insert(out.begin(), static_cast<char>('0' + v % 10));
  return out;
}

}  // namespace

std::string to_string(study_kind kind) { return kind == study_kind::heart_mr ? "heart-mr" : "chest-ct"; }

std::optional<study_kind> parse_study_kind(const std::string& text) {
  if (text == "heart-mr") return study_kind::heart_mr;
  if (text == "chest-ct") return study_kind::chest_ct;
  return std::nullopt;
}

patient_identity identity_of(std::uint64_t seed) {
  static const char* const family[] = {"MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD",
                                       "PETIT", "DURAND", "LEROY", "MOREAU", "SIMON", "LAURENT",
                                       "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX"};
  static const char* const female[] = {"MARIE", "CAMILLE", "LEA", "MANON", "CHLOE", "ALICE", "JEANNE", "ROSE"};
  static const char* const male[] = {"LOUIS", "GABRIEL", "JULES", "ARTHUR", "PAUL", "HUGO", "LEON", "ADAM"};
  static const char* const doctors[] = {"LAENNEC^RENE", "CARREL^ALEXIS", "PINEL^PHILIPPE", "BROCA^PAUL"};
  draw d(seed * 31 + 5);
  patient_identity id;
  bool is_female = d.pick(2) == 0;
  id.sex = is_female ? "F" : "M";
  id.name = std::string(family[d.pick(std::size(family))]) + "^" +
            (is_female ? female[d.pick(std::size(female))] : male[d.pick(std::size(male))]);
  id.id = "P" + digits(mix(seed) % 10000000, 7);
  id.birth_date = std::to_string(1940 + d.pick(50)) + two_digits(1 + static_cast<int>(d.pick(12))) +
                  two_digits(1 + static_cast<int>(d.pick(28)));
  id.institution = "Hopital Synthetique";
  id.referring_physician = doctors[d.pick(std::size(doctors))];
  return id;
}

anatomy anatomy_of(std::uint64_t seed) {
  draw d(seed);
  anatomy a;
  a.body_axes = {d(140, 175), d(95, 125)};
  a.body_center = {d(-6, 6), d(-6, 6)};
  a.fat = d(8, 25);
  a.heart_center = {a.body_center[0] + d(10, 30), a.body_center[1] - d(15, 35), d(-10, 10)};
  a.long_axis = unit({0.55 + d(-0.1, 0.1), -0.45 + d(-0.1, 0.1), -0.70 + d(-0.1, 0.1)});
  a.lv_radius = d(22, 30);
  a.lv_half_length = d(40, 52);
  a.hypertrophy = d(0, 1) < 0.3;
  a.wall = a.hypertrophy ? d(14, 19) : d(8, 11);
  a.lung_axes = {d(45, 60), d(60, 80), d(110, 140)};
  a.lung_offset = d(65, 80);
  a.spine_y = a.body_center[1] + a.body_axes[1] * d(0.50, 0.60);
  a.pericardial_effusion = d(0, 1) < 0.25 ? d(5, 12) : 0;
  a.pleural_effusion = d(0, 1) < 0.25 ? d(15, 35) : 0;
  return a;
}

phantom_volume sample_phantom(const phantom_options& o) {
  const bool mr = o.kind == study_kind::heart_mr;
  const unsigned slices = o.slices != 0 ? o.slices : (mr ? 24 : 48);
  if (slices < 1 || slices > 1024 || o.size < 1 || o.size > 1024)
    throw std::invalid_argument("slices and size must be in 1..1024");
  const anatomy a = anatomy_of(o.seed);
  const patient_identity who = o.identity ? *o.identity : identity_of(o.seed);

  // The grid: an axial CT slab around the heart, or a short-axis stack along the left
  // ventricle's long axis (rows run towards the patient's back, so anterior is up).
  vec n, row, col, center;
  double pixel, step;
  if (mr) {
    n = a.long_axis;
    col = unit(sub(vec{0, 1, 0}, scale(n, n[1])));
    row = cross(col, n);
    center = add(a.heart_center, scale(n, 10));
    pixel = 300.0 / o.size;
    step = std::clamp(120.0 / slices, 2.0, 10.0);
  } else {
    n = {0, 0, 1};
    row = {1, 0, 0};
    col = {0, 1, 0};
    center = {a.body_center[0], a.body_center[1], a.heart_center[2] + 10};
    pixel = 400.0 / o.size;
    step = std::clamp(240.0 / slices, 1.25, 10.0);
  }
  const double half_plane = (o.size - 1) / 2.0;
  const vec origin = sub(sub(sub(center, scale(row, pixel * half_plane)), scale(col, pixel * half_plane)),
                         scale(n, step * (slices - 1) / 2.0));

  phantom_volume out;
  auto& dcm = out.dicom;
  dcm.slices = slices;
  dcm.rows = dcm.columns = o.size;
  dcm.modality = mr ? "MR" : "CT";
  dcm.pixel_spacing = {pixel, pixel};
  dcm.slice_spacing = step;
  dcm.orientation = {row[0], row[1], row[2], col[0], col[1], col[2]};
  dcm.origin = origin;
  dcm.patient_name = who.name;
  dcm.patient_id = who.id;
  dcm.birth_date = who.birth_date;
  dcm.sex = who.sex;
  dcm.institution = who.institution;
  dcm.referring_physician = who.referring_physician;
  // One accession per study: the caller's, or drawn from the patient, the variant and the study.
  dcm.accession = o.identity && !o.identity->accession.empty()
                      ? o.identity->accession
                      : "A" + digits(mix(o.seed * 977 + o.variant * 2 + (mr ? 1 : 0)) % 100000000, 8);
  dcm.study_date = o.study_date.empty() ? study_date_of(o.seed, o.variant) : o.study_date;
  dcm.age = age_at(who.birth_date, dcm.study_date);
  dcm.study_description = mr ? "CARDIAC MR" : "CT THORAX C+";
  dcm.series_description = mr ? "SA CINE BSSFP" : "THORAX 5MM C+";
  dcm.body_part = mr ? "HEART" : "CHEST";
  dcm.rescale_intercept = mr ? 0 : -1024;
  dcm.window = mr ? std::array<double, 2>{450, 900} : std::array<double, 2>{40, 400};
  dcm.series_number = mr ? 4 : 2;

  const tissue_values& values = mr ? mr_values : ct_values;
  const patient_model model(a, values);
  const deformation warp(o.seed, o.variant);
  draw d(o.seed * 4099 + o.variant * 13 + (mr ? 1 : 2));
  const double gain = o.variant == 0 ? 1.0 : 1.0 + d(-0.04, 0.04);
  const double offset = o.variant == 0 ? 0.0 : d(-1, 1) * (mr ? 10 : 5);
  const double noise_sigma = mr ? 12 : 10;
  const vec bias_dir = unit({d(-1, 1), d(-1, 1), d(-1, 1)});
  const double intercept = dcm.rescale_intercept;

  out.stored.resize(static_cast<std::size_t>(o.size) * o.size * slices);
  for (unsigned k = 0; k < slices; ++k) {
    // One noise stream per slice: the same slice is the same whatever the order of sampling.
    std::mt19937_64 noise_rng(mix(o.seed ^ (o.variant << 20) ^ (std::uint64_t{k} << 40) ^ (mr ? 0x5a5a : 0xa5a5)));
    std::normal_distribution<double> noise(0.0, noise_sigma);
    for (unsigned j = 0; j < o.size; ++j)
      for (unsigned i = 0; i < o.size; ++i) {
        // 2x2 samples in the plane: partial volume at tissue boundaries.
        double sum = 0;
        for (double dj : {-0.25, 0.25})
          for (double di : {-0.25, 0.25}) {
            vec p = add(add(add(origin, scale(row, pixel * (i + di))), scale(col, pixel * (j + dj))), scale(n, step * k));
            sum += model.at(warp.apply(p));
          }
        double value = sum / 4;
        vec p = add(add(add(origin, scale(row, pixel * i)), scale(col, pixel * j)), scale(n, step * k));
        if (mr) value *= 1 + 0.12 * dot(sub(p, a.heart_center), bias_dir) / 150;  // coil sensitivity
        value = value * gain + offset + noise(noise_rng);
        double stored = std::clamp(std::round(value - intercept), 0.0, 4095.0);
        out.stored[(static_cast<std::size_t>(k) * o.size + j) * o.size + i] = static_cast<std::uint16_t>(stored);
      }
  }
  return out;
}

test::synthetic_series write_phantom_series(const std::filesystem::path& dir, const phantom_options& options) {
  auto volume = sample_phantom(options);
  const auto n = static_cast<std::size_t>(volume.dicom.columns);
  const auto& stored = volume.stored;
  volume.dicom.voxels = [&stored, n](unsigned i, unsigned j, unsigned k) {
    return stored[(static_cast<std::size_t>(k) * n + j) * n + i];
  };
  return test::write_synthetic_series(dir, volume.dicom);
}

}  // namespace dm2::synth
