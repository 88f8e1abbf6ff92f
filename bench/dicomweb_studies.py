#!/usr/bin/python3
"""bench/dicomweb_bench.sh's studies: small synthetic single-instance studies, made once and
stored into Orthanc (its REST API) and into a dm2 site's index (POST /v1/records, the write the
ingest ends with), and a physician's session token for wrk.

  dicomweb_studies.py generate DIR N           N studies DIR/NNNNN.dcm (kept: made again only when
                                               DIR/done does not say N), and DIR/attributes.jsonl, each
                                               study's index attributes as the ingest reads them
                                               (node/src/ingest/index_attributes.cpp)
  dicomweb_studies.py orthanc URL DIR          POSTs every DIR/*.dcm to Orthanc's /instances
  dicomweb_studies.py records URL SITE_DIR DIR [FIRST COUNT]
                                               POSTs the attributes of studies FIRST..FIRST+COUNT-1
                                               (default all) as new index records of the site, with
                                               its own certificate (SITE_DIR/identity), random LFNs
  dicomweb_studies.py token URL SITE_DIR CA    a physician account (made once) signed in: its token
  dicomweb_studies.py count DIR FIRST COUNT KEY=VALUE...
                                               how many of those studies match every KEY=VALUE (index
                                               attribute names; study_date may be a range from-to)

Deterministic (seeded): every run makes the same studies. pydicom is Debian's python3-pydicom.
"""
import concurrent.futures, datetime, glob, http.client, json, os, random, secrets, ssl, sys, urllib.parse

MODALITIES = {"MR": "1.2.840.10008.5.1.4.1.1.4", "CT": "1.2.840.10008.5.1.4.1.1.2",
              "PT": "1.2.840.10008.5.1.4.1.1.128", "US": "1.2.840.10008.5.1.4.1.1.6.1"}
BODY_PARTS = ["HEAD", "CHEST", "ABDOMEN", "PELVIS", "KNEE"]
MANUFACTURERS = ["ACME", "GLOBEX", "INITECH"]


def age_band(birth, study):
    years = int(study[:4]) - int(birth[:4]) - (1 if study[4:] < birth[4:] else 0)
    return "090+" if years >= 90 else "%03d-%03d" % (years // 10 * 10, years // 10 * 10 + 9)


def generate(out, n):
    import numpy
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian
    done = os.path.join(out, "done")
    if os.path.exists(done) and open(done).read().strip() == str(n):
        return
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20261203)
    uid = lambda: "2.25.%d" % rng.getrandbits(127)
    start = datetime.date(2020, 1, 1)
    with open(os.path.join(out, "attributes.jsonl"), "w") as attributes:
        for i in range(n):
            modality = rng.choice(list(MODALITIES))
            study = (start + datetime.timedelta(days=rng.randrange(5 * 365))).strftime("%Y%m%d")
            birth = "%04d%02d%02d" % (rng.randrange(1930, 2015), rng.randrange(1, 13), rng.randrange(1, 29))
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MODALITIES[modality]
            meta.MediaStorageSOPInstanceUID = uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
            ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID, ds.SeriesInstanceUID = uid(), uid()
            ds.PatientName, ds.PatientID = "BENCH^%05d" % i, "BENCH-%05d" % i
            ds.PatientBirthDate, ds.PatientSex = birth, rng.choice("MFO")
            ds.StudyDate = ds.SeriesDate = study
            ds.StudyTime, ds.AccessionNumber, ds.StudyID = "120000", "ACC%05d" % i, "1"
            ds.Modality, ds.BodyPartExamined = modality, rng.choice(BODY_PARTS)
            ds.Manufacturer = rng.choice(MANUFACTURERS)
            ds.SeriesNumber = ds.InstanceNumber = 1
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.Rows = ds.Columns = 8
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.PixelData = numpy.full((8, 8), i % 4096, dtype="<u2").tobytes()
            ds.is_little_endian, ds.is_implicit_VR = True, False
            ds.save_as(os.path.join(out, "%05d.dcm" % i), write_like_original=False)
            attributes.write(json.dumps({"modality": modality, "body_part": ds.BodyPartExamined,
                                         "manufacturer": ds.Manufacturer, "study_date": study,
                                         "series_date": study, "sex": ds.PatientSex,
                                         "age_band": age_band(birth, study)}) + "\n")
    with open(done, "w") as f:
        f.write("%d\n" % n)


def in_parallel(items, connect, send, workers=4):
    """send(connection, item) for every item, over `workers` keep-alive connections."""
    chunks = [items[k::workers] for k in range(workers)]

    def run(chunk):
        c = connect()
        for item in chunk:
            send(c, item)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(run, chunk) for chunk in chunks]:
            f.result()


def expect(r, status, what):
    body = r.read()
    if r.status != status:
        sys.exit("dicomweb_studies: %s: %d %s" % (what, r.status, body[:300]))
    return body


def orthanc(url, out):
    u = urllib.parse.urlsplit(url)

    def send(c, path):
        with open(path, "rb") as f:
            c.request("POST", "/instances", f.read(), {"Content-Type": "application/dicom"})
        expect(c.getresponse(), 200, path)

    in_parallel(sorted(glob.glob(os.path.join(out, "*.dcm"))), lambda: http.client.HTTPConnection(u.hostname, u.port), send)


def site_context(site_dir, ca=None):
    ctx = ssl.create_default_context(cafile=ca) if ca else ssl._create_unverified_context()
    ident = os.path.join(site_dir, "identity")
    ctx.load_cert_chain(os.path.join(ident, "site.crt"), os.path.join(ident, "site.key"))
    return ctx


def records(url, site_dir, out, first=0, count=None):
    u = urllib.parse.urlsplit(url)
    with open(os.path.join(out, "attributes.jsonl")) as f:
        lines = f.read().splitlines()
    lines = lines[first:] if count is None else lines[first:first + count]
    ctx = site_context(site_dir)

    def send(c, line):
        body = json.dumps({"lfn": secrets.token_hex(16), "attributes": json.loads(line)})
        c.request("POST", "/v1/records", body, {"Content-Type": "application/json"})
        expect(c.getresponse(), 201, "POST /v1/records")

    in_parallel(lines, lambda: http.client.HTTPSConnection(u.hostname, u.port, context=ctx), send)


def token(url, site_dir, ca):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPSConnection(u.hostname, u.port, context=site_context(site_dir, ca))
    password_file = os.path.join(site_dir, "bench-physician.password")
    if not os.path.exists(password_file):
        password = secrets.token_urlsafe(15)
        c.request("POST", "/v1/users", json.dumps({"name": "bench-physician", "role": "physician", "password": password}),
                  {"Content-Type": "application/json"})
        expect(c.getresponse(), 201, "POST /v1/users")
        with open(os.open(password_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(password)
    c.request("POST", "/v1/sessions", json.dumps({"name": "bench-physician", "password": open(password_file).read()}),
              {"Content-Type": "application/json"})
    print(json.loads(expect(c.getresponse(), 201, "POST /v1/sessions"))["token"])


def count(out, first, n, *conditions):
    def matches(a, key, value):
        if "-" in value:
            low, high = value.split("-")
            return low <= a[key] <= high
        return a[key] == value

    with open(os.path.join(out, "attributes.jsonl")) as f:
        studies = [json.loads(line) for line in f.read().splitlines()[first:first + n]]
    print(sum(all(matches(a, *c.split("=", 1)) for c in conditions) for a in studies))


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "generate":
        generate(rest[0], int(rest[1]))
    elif command == "orthanc":
        orthanc(*rest)
    elif command == "records":
        records(rest[0], rest[1], rest[2], *(int(x) for x in rest[3:5]))
    elif command == "token":
        token(*rest)
    elif command == "count":
        count(rest[0], int(rest[1]), int(rest[2]), *rest[3:])
    else:
        sys.exit(__doc__)
