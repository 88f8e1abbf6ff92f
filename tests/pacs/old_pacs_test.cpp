// dm2 against an "older PACS" (old_pacs_server.hpp): image-level C-FIND without SOPClassUID,
// no UID-list matching in C-GET/C-MOVE, an association proposing more than 16 presentation
// contexts aborted, and associations rejected for our calling AE title. (Undated studies:
// site_sync_test.cpp; exit codes, empty directories, `dm2 pacs deidentify`: pacs_cli_test.cpp.)
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/oflog/oflog.h>

#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "dm2/pacs/dicom_client.hpp"
#include "dm2/pacs/parallel_fetch.hpp"
#include "old_pacs_server.hpp"
#include "pacs_server_fixture.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::pacs {
namespace {

using dm2::test::old_pacs_behaviour;
using dm2::test::old_pacs_server;

class old_pacs_test : public ::testing::Test {
 protected:
  void SetUp() override { DM2_REQUIRE_PRIVATE_NETWORK(); }
  dm2::test::synthetic_series series(const std::string& name, dm2::test::synthetic_options o) {
    std::filesystem::create_directories(dir_ / name);
    return dm2::test::write_synthetic_series(dir_ / name, o);
  }
  // A small CT series (into `ct`) served by a started older PACS behaving as `b`.
  std::unique_ptr<old_pacs_server> serve_ct(unsigned slices, const old_pacs_behaviour& b,
                                            dm2::test::synthetic_series& ct) {
    dm2::test::synthetic_options o;
    o.slices = slices;
    o.rows = o.columns = 16;
    ct = series("ct", o);
    auto server = std::make_unique<old_pacs_server>(b);
    EXPECT_EQ(server->add(ct.files), "");
    EXPECT_EQ(server->start(), "");
    return server;
  }
  std::filesystem::path out(const std::string& name) {
    std::filesystem::create_directories(dir_ / name);
    return dir_ / name;
  }
  dm2::test::temp_dir dir_{"dm2-old-pacs"};
};

// The pixel data of a file.
std::string pixels(const std::filesystem::path& file) {
  DcmFileFormat f;
  if (f.loadFile(file.string().c_str()).bad()) return "";
  const Uint8* data = nullptr;
  unsigned long n = 0;
  if (f.getDataset()->findAndGetUint8Array(DCM_PixelData, data, &n).bad()) return "";
  return std::string(reinterpret_cast<const char*>(data), n);
}

// Negotiates an association proposing `contexts` presentation contexts (CT storage in one
// transfer syntax each, after Verification) with plain DCMTK; true if it was accepted.
bool associate_with(const pacs_settings& s, std::size_t contexts) {
  const char* syntaxes[] = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax,
                            UID_BigEndianExplicitTransferSyntax, UID_JPEGProcess1TransferSyntax,
                            UID_JPEGProcess2_4TransferSyntax, UID_JPEGProcess14SV1TransferSyntax,
                            UID_JPEGProcess14TransferSyntax, UID_JPEGLSLosslessTransferSyntax,
                            UID_JPEGLSLossyTransferSyntax, UID_RLELosslessTransferSyntax};
  OFLog::configure(OFLogger::FATAL_LOG_LEVEL);  // DCMTK's own chatter, as dm2's clients do
  DcmSCU scu;
  scu.setAETitle(s.calling_ae_title.c_str());
  scu.setPeerHostName(s.host.c_str());
  scu.setPeerPort(s.port);
  scu.setPeerAETitle(s.called_ae_title.c_str());
  scu.setACSETimeout(5);
  OFList<OFString> one;
  one.push_back(UID_LittleEndianImplicitTransferSyntax);
  scu.addPresentationContext(UID_VerificationSOPClass, one);
  const char* classes[] = {UID_CTImageStorage, UID_MRImageStorage};
  for (std::size_t i = 1; i < contexts; ++i) {
    OFList<OFString> ts;
    ts.push_back(syntaxes[(i - 1) % 10]);
    scu.addPresentationContext(classes[(i - 1) / 10], ts);
  }
  if (scu.initNetwork().bad()) return false;
  const bool ok = scu.negotiateAssociation().good();
  if (ok) scu.releaseAssociation();
  return ok;
}

TEST_F(old_pacs_test, fetch_without_sop_class_negotiates_bounded_sets) {
  // DX: not in the first pair of the fallback list, so the first association cannot bring it.
  dm2::test::synthetic_options o;
  o.modality = "DX";
  o.slices = 6;
  o.rows = o.columns = 16;
  auto dx = series("dx", o);
  old_pacs_server server;  // every older behaviour
  ASSERT_EQ(server.add(dx.files), "");
  ASSERT_EQ(server.start(), "");

  // The server enforces its limit: 17 contexts are aborted, 16 accepted.
  EXPECT_FALSE(associate_with(server.settings(), max_presentation_contexts + 1));
  EXPECT_EQ(server.counters().aborted_too_many_contexts.load(), 1u);
  EXPECT_TRUE(associate_with(server.settings(), max_presentation_contexts));
  EXPECT_EQ(server.counters().aborted_too_many_contexts.load(), 1u);

  dicom_client client(server.settings());
  auto found = client.find({query_level::image, {{"SeriesInstanceUID", dx.series_uid}}});
  ASSERT_TRUE(found.ok()) << found.err().to_string();
  ASSERT_EQ(found->size(), 6u);
  EXPECT_EQ((*found)[0].get("SOPClassUID"), "");  // the server really omits it
  client.close();
  server.counters().most_contexts_proposed = 0;

  fetch_options fo;
  fo.associations = 2;
  auto r = fetch_series(server.settings(), dx.study_uid, dx.series_uid, out("fetched"), fo);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  ASSERT_EQ(r->files.size(), 6u);
  for (std::size_t i = 0; i < dx.files.size(); ++i) {
    const auto got = out("fetched") / (dx.sop_uids[i] + ".dcm");
    ASSERT_TRUE(std::filesystem::exists(got));
    EXPECT_EQ(pixels(got), pixels(dx.files[i]));
    EXPECT_FALSE(pixels(got).empty());
  }
  EXPECT_EQ(server.counters().aborted_too_many_contexts.load(), 1u);  // none from fetch_series
  EXPECT_LE(server.counters().most_contexts_proposed.load(), max_presentation_contexts);
  EXPECT_EQ(r->retried, 0u);
}

// A series of three classes (DX, CR, MG), their classes known: each association proposes one
// class (11 contexts), and a C-GET told all three negotiates again for the classes still
// missing, with a UID list and with a series-level request.
TEST_F(old_pacs_test, several_known_classes_are_negotiated_over_bounded_associations) {
  old_pacs_behaviour b;
  b.find_without_sop_class = false;
  b.no_uid_list_matching = false;
  std::vector<std::filesystem::path> files;
  std::vector<std::string> uids;
  dm2::test::synthetic_options o;
  o.rows = o.columns = 16;
  o.slices = 2;
  for (const char* modality : {"DX", "CR", "MG"}) {
    o.modality = modality;
    auto s = series(modality, o);
    o.study_uid = s.study_uid;
    o.series_uid = s.series_uid;
    files.insert(files.end(), s.files.begin(), s.files.end());
    uids.insert(uids.end(), s.sop_uids.begin(), s.sop_uids.end());
  }
  old_pacs_server server(b);
  ASSERT_EQ(server.add(files), "");
  ASSERT_EQ(server.start(), "");
  const std::set<std::string> expected(uids.begin(), uids.end());
  auto names = [](const std::vector<std::string>& paths) {
    std::set<std::string> n;
    for (const auto& p : paths) n.insert(std::filesystem::path(p).stem().string());
    return n;
  };

  get_options three;
  three.sop_classes = {UID_DigitalXRayImageStorageForPresentation, UID_ComputedRadiographyImageStorage,
                       UID_DigitalMammographyXRayImageStorageForPresentation};
  std::string list;
  for (const auto& u : uids) list += (list.empty() ? "" : "\\") + u;
  dicom_client client(server.settings());
  auto listed = client.get({query_level::image,
                            {{"StudyInstanceUID", o.study_uid},
                             {"SeriesInstanceUID", o.series_uid},
                             {"SOPInstanceUID", list}}},
                           out("listed"), three);
  ASSERT_TRUE(listed.ok()) << listed.err().to_string();
  EXPECT_EQ(names(listed->files), expected);
  auto whole = client.get({query_level::series, {{"StudyInstanceUID", o.study_uid}, {"SeriesInstanceUID", o.series_uid}}},
                          out("whole"), three);
  ASSERT_TRUE(whole.ok()) << whole.err().to_string();
  EXPECT_EQ(names(whole->files), expected);
  client.close();

  fetch_options fo;
  fo.associations = 2;
  auto r = fetch_series(server.settings(), o.study_uid, o.series_uid, out("fetched"), fo);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(names(r->files), expected);
  EXPECT_EQ(r->retried, 0u);
  EXPECT_EQ(server.counters().aborted_too_many_contexts.load(), 0u);
  EXPECT_LE(server.counters().most_contexts_proposed.load(), max_presentation_contexts);
}

TEST_F(old_pacs_test, fetch_of_known_class_keeps_its_association_bounded) {
  old_pacs_behaviour b;
  b.find_without_sop_class = false;
  dm2::test::synthetic_series ct;
  auto served = serve_ct(5, b, ct);
  auto& server = *served;
  auto r = fetch_series(server.settings(), ct.study_uid, ct.series_uid, out("fetched"));
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->files.size(), 5u);
  EXPECT_EQ(server.counters().aborted_too_many_contexts.load(), 0u);
  EXPECT_LE(server.counters().most_contexts_proposed.load(), max_presentation_contexts);
}

TEST_F(old_pacs_test, uid_list_answered_with_nothing_falls_back_to_one_uid_per_request) {
  old_pacs_behaviour b;
  b.find_without_sop_class = false;
  b.max_contexts = 0;
  dm2::test::synthetic_series ct;
  auto served = serve_ct(4, b, ct);
  auto& server = *served;
  auto list = [&](std::size_t from, std::size_t n) {
    std::string l;
    for (std::size_t i = from; i < from + n; ++i) l += (l.empty() ? "" : "\\") + ct.sop_uids[i];
    return dicom_query{query_level::image,
                       {{"StudyInstanceUID", ct.study_uid},
                        {"SeriesInstanceUID", ct.series_uid},
                        {"SOPInstanceUID", l}}};
  };
  get_options g;
  g.sop_classes = {UID_CTImageStorage};

  dicom_client client(server.settings());
  auto r = client.get(list(0, 3), out("get"), g);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->files.size(), 3u);
  EXPECT_EQ(server.counters().unmatched_uid_lists.load(), 1u);
  EXPECT_EQ(server.counters().retrieve_requests.load(), 4u);  // the list, then one per UID
  // The client remembers: the next list goes out one UID per request straight away.
  r = client.get(list(1, 3), out("get2"), g);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->files.size(), 3u);
  EXPECT_EQ(server.counters().unmatched_uid_lists.load(), 1u);
  // UIDs that are really absent: "nothing matched" only after asking each.
  auto none = client.get({query_level::image,
                          {{"StudyInstanceUID", ct.study_uid},
                           {"SeriesInstanceUID", ct.series_uid},
                           {"SOPInstanceUID", "1.2.3.4\\1.2.3.5"}}},
                         out("none"), g);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.err().code, errc::not_found);
  client.close();

  dicom_client mover(server.settings());
  auto m = mover.move(list(0, 2), out("move"));
  ASSERT_TRUE(m.ok()) << m.err().to_string();
  EXPECT_EQ(m->files.size(), 2u);
  EXPECT_EQ(m->completed, 2u);
  EXPECT_EQ(server.counters().unmatched_uid_lists.load(), 2u);
  mover.close();

  fetch_options fo;
  fo.associations = 2;
  auto f = fetch_series(server.settings(), ct.study_uid, ct.series_uid, out("fetched"), fo);
  ASSERT_TRUE(f.ok()) << f.err().to_string();
  EXPECT_EQ(f->files.size(), 4u);
}

TEST_F(old_pacs_test, rejected_association_names_the_ae_title_at_fault) {
  old_pacs_behaviour b;
  b.reject_calling_ae = dm2::test::test_our_ae;
  old_pacs_server server(b);
  ASSERT_EQ(server.start(), "");
  dicom_client ours(server.settings());
  auto r = ours.echo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::permission_denied);
  EXPECT_NE(r.err().message.find("calling AE title 'DM2TEST' (ours) is not recognised"),
            std::string::npos)
      << r.err().message;

  auto s = server.settings();
  s.calling_ae_title = "SOMEONE";
  s.called_ae_title = "NOTTHEPACS";
  dicom_client wrong_called(s);
  r = wrong_called.echo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::permission_denied);
  EXPECT_NE(r.err().message.find("called AE title 'NOTTHEPACS' (the PACS's) is not recognised"),
            std::string::npos)
      << r.err().message;
  s.called_ae_title = server.settings().called_ae_title;
  EXPECT_TRUE(dicom_client(s).echo().ok());
}

TEST_F(old_pacs_test, orthanc_rejecting_a_wrong_called_ae_says_so) {
  std::filesystem::create_directories(dir_ / "orthanc");
  dm2::test::orthanc_server orthanc(dir_ / "orthanc");
  ASSERT_EQ(orthanc.start(), "");
  auto s = orthanc.settings();
  s.called_ae_title = "NOTORTHANC";
  auto r = dicom_client(s).echo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::permission_denied);
  EXPECT_NE(r.err().message.find("'NOTORTHANC'"), std::string::npos) << r.err().message;
}

}  // namespace
}  // namespace dm2::pacs
