// DICOMweb with the real npm dicomweb-client (XMLHttpRequest from the npm xhr2 package) against
// the running demo consortium (run-web-test.sh): DESK_URL (site 1), DESK_DIR (the demo's
// directory: accounts/<name>.password, patient.lfn); the demo CA is trusted through
// NODE_EXTRA_CA_CERTS. QIDO-RS across the three sites, WADO-RS series and metadata for the care
// team and a granted researcher, frames and rendered images, the patient's name for his care team
// at his site only, refusals and bad input as docs/dicomweb.md says.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import XMLHttpRequest from 'xhr2';
import dicomweb from 'dicomweb-client';

globalThis.XMLHttpRequest = XMLHttpRequest;
const { DICOMwebClient } = dicomweb.api;

const base = process.env.DESK_URL.replace(/\/$/, '');
const dir = process.env.DESK_DIR;
const password = (name) => readFileSync(join(dir, 'accounts', `${name}.password`), 'utf8').trim();
const patient_lfn = readFileSync(join(dir, 'patient.lfn'), 'utf8').trim();
const patient_study = `2.25.${BigInt('0x' + patient_lfn).toString()}`;
const patient_series = `${patient_study}.1`;

const value = (item, tag) => item[tag]?.Value?.[0];
// The demo patient's ID at site 1 (scripts/demo-pacs.sh): in no byte DICOMweb serves.
const canary = 'S1-1001';

async function sign_in(name) {
  const r = await fetch(`${base}/v1/sessions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, password: password(name) }),
  });
  assert.equal(r.status, 201, `sign-in of ${name}`);
  return (await r.json()).token;
}

const client = (token) => new DICOMwebClient({
  url: `${base}/dicom-web`, headers: token ? { Authorization: `Bearer ${token}` } : {},
});

// A raw GET, for what the client hides: status, headers, the JSON error body.
async function get(path, token) {
  return fetch(`${base}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

const tokens = {};
before(async () => {
  for (const name of ['dr-demo', 'm-demo', 'm-nogrant', 'demo-admin', 'demo-patient']) tokens[name] = await sign_in(name);
  // The series can be read once its key shares are placed: the demo's first repair round, up to
  // 30 s after its ingest. Until then WADO-RS answers 503 and says so.
  for (let i = 0; i < 60; i++) {
    const r = await get(`/dicom-web/studies/${patient_study}/series/${patient_series}/metadata`, tokens['dr-demo']);
    if (r.status === 200) break;
    assert.equal(r.status, 503, await r.text());
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
});

// Nothing nominative in any field of a QIDO-RS result: the person's attributes are there, empty;
// but with `named_id`, the care team's own patient at the owning site (site 1) is named: his
// real PatientID and a PatientName, nothing else nominative, the UIDs still pseudonymous.
function assert_pseudonymous(results, named_id) {
  for (const r of results) {
    const named = named_id !== undefined && value(r, '00100020') !== undefined;
    if (named) {
      assert.equal(value(r, '00100020'), named_id);
      assert.ok(value(r, '00100010')?.Alphabetic, 'his name');
      assert.equal(value(r, '00091002'), 'site-1', 'named at the owning site only');
    }
    const tags = ['00100030', '00080090', '00200010'].concat(named ? [] : ['00100010', '00100020', '00080050']);
    for (const tag of tags)
      if (tag in r) assert.equal(r[tag].Value, undefined, `${tag} holds no value`);
    assert.match(value(r, '0020000D'), /^2\.25\.\d+$/);
  }
}

test('the physician searches studies and series across the three sites', async () => {
  const dr = client(tokens['dr-demo']);
  const studies = await dr.searchForStudies();
  assert.ok(studies.length >= 3, `studies: ${studies.length}`);
  assert_pseudonymous(studies, canary);
  const owners = new Set(studies.map((s) => value(s, '00091002')));
  assert.equal(owners.size, 3, `series of every site: ${[...owners]}`);
  const mine = studies.find((s) => value(s, '0020000D') === patient_study);
  assert.ok(mine, 'her patient\'s series is found as a study');
  assert.equal(value(mine, '00080061'), 'MR');
  assert.equal(value(mine, '00091001'), patient_lfn);
  assert.equal(value(mine, '00100020'), canary, 'her own patient, named for his care team');
  assert.equal(mine['00080020'].vr, 'DA');

  const series = await dr.searchForSeries({ queryParams: { Modality: 'MR' } });
  assert.ok(series.length >= 3, `MR series: ${series.length}`);
  assert_pseudonymous(series, canary);
  assert.ok(series.every((s) => value(s, '00080060') === 'MR'));
  assert.ok(series.some((s) => value(s, '0020000E') === patient_series));

  const in_study = await dr.searchForSeries({ studyInstanceUID: patient_study });
  assert.equal(in_study.length, 1);
  assert.equal(value(in_study[0], '0020000E'), patient_series);

  const by_uid = await dr.searchForStudies({ queryParams: { StudyInstanceUID: patient_study, includefield: 'all' } });
  assert.deepEqual(by_uid.map((s) => value(s, '0020000D')), [patient_study]);

  const date = value(mine, '00080020');
  if (date) {
    const dated = await dr.searchForStudies({ queryParams: { StudyDate: `${date}-${date}` } });
    assert.ok(dated.every((s) => value(s, '00080020') === date));
    assert.ok(dated.some((s) => value(s, '0020000D') === patient_study));
  }

  // Paging: two pages of one cover the first two results, in the same order.
  const first = await dr.searchForStudies({ queryParams: { limit: 1, offset: 0 } });
  const second = await dr.searchForStudies({ queryParams: { limit: 1, offset: 1 } });
  assert.deepEqual([...first, ...second].map((s) => value(s, '0020000D')),
    studies.slice(0, 2).map((s) => value(s, '0020000D')));
  const paged = await get('/dicom-web/studies?limit=1', tokens['dr-demo']);
  assert.match(paged.headers.get('warning') ?? '', /additional results/);
  assert.equal(paged.headers.get('content-type'), 'application/dicom+json');
});

test('the physician retrieves her patient\'s series and its metadata with WADO-RS', async () => {
  const dr = client(tokens['dr-demo']);
  const instances = await dr.retrieveSeries({ studyInstanceUID: patient_study, seriesInstanceUID: patient_series });
  assert.ok(instances.length > 1, `instances: ${instances.length}`);
  for (const i of instances) {
    const bytes = new Uint8Array(i);
    assert.equal(String.fromCharCode(...bytes.slice(128, 132)), 'DICM');
    const text = Buffer.from(bytes).toString('latin1');
    assert.ok(text.includes(patient_series), 'the instance names the series as QIDO-RS did');
    assert.ok(!text.includes(canary), 'no patient ID in an instance');
  }
  const metadata = await dr.retrieveSeriesMetadata({ studyInstanceUID: patient_study, seriesInstanceUID: patient_series });
  assert.equal(metadata.length, instances.length);
  const sops = new Set();
  for (const m of metadata) {
    assert.equal(value(m, '0020000D'), patient_study);
    assert.equal(value(m, '0020000E'), patient_series);
    assert.equal(value(m, '00080060'), 'MR');
    assert.equal(m['00100010']?.Value, undefined, 'de-identified: no name');
    assert.ok(m['7FE00010'].BulkDataURI, 'pixel data by reference');
    sops.add(value(m, '00080018'));
  }
  assert.equal(sops.size, metadata.length);

  // Instance level: listed from the instances themselves, one retrieved with its metadata.
  const listed = await dr.searchForInstances({ studyInstanceUID: patient_study, seriesInstanceUID: patient_series });
  assert.deepEqual(listed.map((i) => value(i, '00080018')), metadata.map((m) => value(m, '00080018')));
  assert.ok(listed.every((i) => value(i, '0020000E') === patient_series && value(i, '00081190')));
  const sop = value(listed[1], '00080018');
  const one = await dr.retrieveInstance({ studyInstanceUID: patient_study, seriesInstanceUID: patient_series, sopInstanceUID: sop });
  assert.ok(Buffer.from(new Uint8Array(one)).toString('latin1').includes(sop));
  const one_metadata = await dr.retrieveInstanceMetadata(
    { studyInstanceUID: patient_study, seriesInstanceUID: patient_series, sopInstanceUID: sop });
  assert.deepEqual(one_metadata, [metadata[1]]);
  const page = await dr.searchForInstances(
    { studyInstanceUID: patient_study, seriesInstanceUID: patient_series, queryParams: { offset: 1, limit: 1 } });
  assert.deepEqual(page.map((i) => value(i, '00080018')), [sop]);

  const text = await (await get(`/dicom-web/studies/${patient_study}/series/${patient_series}/metadata`, tokens['dr-demo'])).text();
  assert.ok(!text.includes(canary), 'no patient ID in the metadata');
});

test('the patient is named to his care team at his site only, audited; to no one else', async () => {
  // The physician of his care team sees him named, and the patient sees that read.
  const named = await client(tokens['dr-demo']).searchForStudies({ queryParams: { StudyInstanceUID: patient_study } });
  assert.equal(value(named[0], '00100020'), canary);
  const name = value(named[0], '00100010').Alphabetic;
  assert.ok(name.length >= 3, `a name: ${name}`);
  const accesses = await (await get('/v1/me/accesses', tokens['demo-patient'])).json();
  assert.ok(accesses.entries.some((e) => e.action === 'nominative_read' && e.lfn === patient_lfn && e.decision === 'allowed'),
    'the nominative read is audited');
  // The site admin sees every series, the granted researcher his one: neither his ID nor his
  // name in any byte of their answers.
  for (const who of ['demo-admin', 'm-demo']) {
    for (const path of ['/dicom-web/studies?includefield=all', '/dicom-web/series', `/dicom-web/studies?StudyInstanceUID=${patient_study}`]) {
      const r = await get(path, tokens[who]);
      assert.equal(r.status, 200, `${who} ${path}`);
      const text = await r.text();
      assert.ok(!text.includes(canary) && !text.includes(name), `nothing nominative for ${who} in ${path}`);
      assert_pseudonymous(JSON.parse(text));
    }
  }
  const admin_view = await client(tokens['demo-admin']).searchForStudies({ queryParams: { StudyInstanceUID: patient_study } });
  assert.equal(admin_view.length, 1, 'the admin sees the series, unnamed');
});

// dicomweb-client 0.11 answers a single-part image as an array of one ArrayBuffer.
const single = (answer) => (Array.isArray(answer) ? (assert.equal(answer.length, 1), answer[0]) : answer);
// A PNG's width, from its IHDR chunk.
const png_width = (bytes) => Buffer.from(bytes).readUInt32BE(16);
const is_png = (bytes) => Buffer.from(bytes).subarray(1, 4).toString('latin1') === 'PNG';
const is_jpeg = (bytes) => Buffer.from(bytes).subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]));

test('frames and rendered images of her patient\'s series, for whoever may read the images', async () => {
  const t = tokens['dr-demo'];
  const dr = client(t);
  const metadata = await dr.retrieveSeriesMetadata({ studyInstanceUID: patient_study, seriesInstanceUID: patient_series });
  const m = metadata[Math.floor(metadata.length / 2)];
  const [rows, columns, bits] = ['00280010', '00280011', '00280100'].map((tag) => value(m, tag));
  const ids = { studyInstanceUID: patient_study, seriesInstanceUID: patient_series, sopInstanceUID: value(m, '00080018') };

  // Frames: the stored pixels, uncompressed.
  const frames = await dr.retrieveInstanceFrames({ ...ids, frameNumbers: [1] });
  assert.equal(frames.length, 1);
  assert.equal(frames[0].byteLength, rows * columns * bits / 8);
  assert.ok(new Uint16Array(frames[0]).some((v) => v !== 0), 'an image, not zeros');

  // Rendered: JPEG by default, PNG when asked, windowed and fit to a viewport.
  const jpeg = single(await dr.retrieveInstanceRendered(ids));
  assert.ok(is_jpeg(jpeg), 'image/jpeg by default');
  const png = single(await dr.retrieveInstanceRendered({ ...ids, mediaTypes: [{ mediaType: 'image/png' }] }));
  assert.ok(is_png(png));
  assert.equal(png_width(png), columns);
  const windowed = single(await dr.retrieveInstanceRendered({ ...ids, mediaTypes: [{ mediaType: 'image/png' }], queryParams: { window: '0,4000' } }));
  assert.ok(is_png(windowed));
  assert.ok(!Buffer.from(windowed).equals(Buffer.from(png)), 'another window, another image');
  const small = single(await dr.retrieveInstanceRendered({ ...ids, mediaTypes: [{ mediaType: 'image/png' }], queryParams: { viewport: '32,32' } }));
  assert.ok(png_width(small) <= 32);
  const frame = single(await dr.retrieveInstanceFramesRendered({ ...ids, frameNumbers: [1], mediaTypes: [{ mediaType: 'image/png' }] }));
  assert.ok(Buffer.from(frame).equals(Buffer.from(png)), 'frame 1 is the instance');

  // The series rendered: one image per instance, multipart/related.
  const series = await fetch(`${base}/dicom-web/studies/${patient_study}/series/${patient_series}/rendered`,
    { headers: { Authorization: `Bearer ${t}`, Accept: 'image/jpeg' } });
  assert.equal(series.status, 200);
  const type = series.headers.get('content-type');
  assert.match(type, /^multipart\/related; type="image\/jpeg"; boundary=/);
  const boundary = type.split('boundary=')[1];
  const body = Buffer.from(await series.arrayBuffer()).toString('latin1');
  assert.equal(body.split(`--${boundary}\r\n`).length - 1, metadata.length);
  assert.equal(series.headers.get('cache-control'), 'no-store');

  // Refusals and bad input.
  const base_path = `/dicom-web/studies/${patient_study}/series/${patient_series}/instances/${ids.sopInstanceUID}`;
  const cases = [
    [`${base_path}/frames/2`, 404], [`${base_path}/frames/0`, 400], [`${base_path}/frames/1,1`, 400],
    [`${base_path}/rendered?window=1`, 400], [`${base_path}/rendered?annotation=patient`, 400],
    [`${base_path}/frames/1/metadata`, 404], [`${base_path}/thumbnail`, 404],
  ];
  for (const [path, status] of cases) {
    const r = await get(path, t);
    assert.equal(r.status, status, path);
    assert.ok((await r.json()).error?.message, path);
  }
  const accept = async (path, a) => (await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${t}`, Accept: a } })).status;
  assert.equal(await accept(`${base_path}/rendered`, 'image/gif'), 406);
  assert.equal(await accept(`${base_path}/frames/1`, 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.50'), 406);

  // Whoever may not read the images gets none of them.
  const nogrant = client(tokens['m-nogrant']);
  await assert.rejects(nogrant.retrieveInstanceFrames({ ...ids, frameNumbers: [1] }), (e) => e.status === 403);
  await assert.rejects(nogrant.retrieveInstanceRendered(ids), (e) => e.status === 403);
  assert.equal((await get(`/dicom-web/studies/${patient_study}/series/${patient_series}/rendered`, tokens['m-nogrant'])).status, 403);
  assert.equal((await get(`${base_path}/rendered`)).status, 401);
  const granted = single(await client(tokens['m-demo']).retrieveInstanceRendered(ids));
  assert.ok(is_jpeg(granted), 'the granted researcher sees it');
});

test('a researcher sees and retrieves only what his grant covers; without a grant, nothing', async () => {
  const granted = await client(tokens['m-demo']).searchForStudies();
  assert.deepEqual(granted.map((s) => value(s, '0020000D')), [patient_study]);
  const instances = await client(tokens['m-demo']).retrieveSeries(
    { studyInstanceUID: patient_study, seriesInstanceUID: patient_series });
  assert.ok(instances.length > 1);

  const nogrant = client(tokens['m-nogrant']);
  assert.deepEqual(await nogrant.searchForStudies(), []);
  assert.deepEqual(await nogrant.searchForSeries({ queryParams: { Modality: 'MR' } }), []);
  await assert.rejects(
    nogrant.retrieveSeries({ studyInstanceUID: patient_study, seriesInstanceUID: patient_series }),
    (e) => e.status === 403);
  await assert.rejects(
    nogrant.retrieveSeriesMetadata({ studyInstanceUID: patient_study, seriesInstanceUID: patient_series }),
    (e) => e.status === 403);
});

test('without a token: 401 with a JSON body', async () => {
  await assert.rejects(client(null).searchForStudies(), (e) => e.status === 401);
  await assert.rejects(client(null).retrieveSeries({ studyInstanceUID: patient_study, seriesInstanceUID: patient_series }),
    (e) => e.status === 401);
  for (const path of ['/dicom-web/studies', '/dicom-web/series?Modality=MR',
    `/dicom-web/studies/${patient_study}/series/${patient_series}/metadata`]) {
    const r = await get(path);
    assert.equal(r.status, 401, path);
    assert.equal((await r.json()).error.code, 'unauthenticated');
  }
});

test('bad input is a 4xx with a JSON body', async () => {
  const t = tokens['dr-demo'];
  const cases = [
    ['/dicom-web/studies?PatientName=DOE*', 400], ['/dicom-web/studies?NoSuchKey=1', 400],
    ['/dicom-web/studies?StudyDate=2024-01-01', 400], ['/dicom-web/studies?StudyDate=20241301', 400],
    ['/dicom-web/studies?limit=5000', 400], ['/dicom-web/studies?limit=0', 400],
    ['/dicom-web/series?StudyInstanceUID=1.2.x', 400], ['/dicom-web/studies?includefield=no%20such', 400],
    ['/dicom-web/studies/1.2.x/series', 400], ['/dicom-web/studies/1.2.x/series/1.2', 400],
    ['/dicom-web/studies/1.2.3/series/1.2.3.4', 404], [`/dicom-web/studies/${patient_study}/series/2.25.1.1`, 404],
    [`/dicom-web/studies/${patient_study}/series/${patient_series}/instances/1.2.3`, 404],
    [`/dicom-web/studies/${patient_study}/series/${patient_series}/instances/1.x`, 400],
    [`/dicom-web/studies/${patient_study}/series/${patient_series}/instances?SOPInstanceUID=1.2`, 400],
  ];
  for (const [path, status] of cases) {
    const r = await get(path, t);
    assert.equal(r.status, status, path);
    const body = await r.json();
    assert.ok(body.error?.code && body.error?.message, path);
  }
  const other = await fetch(`${base}/dicom-web/studies/${patient_study}/series/${patient_series}`, {
    headers: { Authorization: `Bearer ${t}`, Accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50' },
  });
  assert.equal(other.status, 406);
  const empty = await fetch(`${base}/dicom-web/studies/${patient_study}/series/${patient_series}/metadata`, {
    headers: { Authorization: `Bearer ${t}`, Accept: 'application/dicom+json; transfer-syntax=' },
  });
  assert.equal(empty.status, 406);
  // A study UID that is not dm2's matches nothing.
  const none = await get('/dicom-web/studies?StudyInstanceUID=1.2.3', t);
  assert.equal(none.status, 200);
  assert.deepEqual(await none.json(), []);
});
