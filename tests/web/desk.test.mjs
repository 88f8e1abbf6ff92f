// The clinician's desk in Debian's chromium (playwright-core), against the running demo
// consortium (run-web-test.sh): DESK_URL (site 1's page), DESK_DIR (the demo's directory:
// accounts/<name>.password, patient.lfn, site-1/pacs/manifest.jsonl), DESK_SHOTS (where
// screenshots go), DESK_BUILD (the build: its dm2-synth writes the patient's DICOM files).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.DESK_URL;
const dir = process.env.DESK_DIR;
const shots = process.env.DESK_SHOTS;
const build = process.env.DESK_BUILD;
const password = (name) => readFileSync(join(dir, 'accounts', `${name}.password`), 'utf8').trim();
const patient_lfn = readFileSync(join(dir, 'patient.lfn'), 'utf8').trim();
const volume_file = join(shots, '..', 'patient.nii');

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});
after(async () => { await browser?.close(); });

// A fresh browser profile (no cookies) on the page, signed in as `name`. The demo's TLS
// certificates are its own consortium CA's, which this throwaway profile does not know.
async function sign_in(name) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const events = [];
  page.on('response', (r) => { if (r.url().endsWith('/events')) events.push(r.status()); });
  page.on('pageerror', (e) => console.error(`[${name}] page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') console.error(`[${name}] console: ${m.text()}`); });
  page.on('requestfailed', (r) => console.error(`[${name}] request failed: ${r.url()} ${r.failure()?.errorText}`));
  await page.goto(url);
  await page.getByLabel('Account name').fill(name);
  await page.getByLabel('Password').fill(password(name));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who-text').waitFor();
  return { context, page, events };
}

// Nothing of the session or of a patient is left where the browser keeps things.
async function assert_nothing_kept(page) {
  const kept = await page.evaluate(() => ({
    local: localStorage.length, session: sessionStorage.length, cookie: document.cookie, href: location.href,
  }));
  assert.equal(kept.local, 0);
  assert.equal(kept.session, 0);
  assert.equal(kept.cookie, '', 'the session cookie is HttpOnly');
  assert.equal(kept.href, url, 'nothing in the URL');
}

async function run_query(page) {
  await page.getByLabel('Measure').selectOption('mi');
  await page.getByLabel('Top k').fill('5');
  await page.getByRole('button', { name: 'Search the consortium' }).click();
  await page.locator('#progress-text', { hasText: /done|time limit/ }).waitFor({ timeout: 60000 });
}

test('the physician finds the planted near-duplicate of her patient first, live, and opens her patient', async () => {
  const { context, page, events } = await sign_in('dr-demo');
  await page.screenshot({ path: join(shots, '1-physician-signed-in.png'), fullPage: true });
  // Her patient's series (care team) is listed; she queries by it.
  const pick = page.locator(`input[name=series][value="${patient_lfn}"]`);
  await pick.check();
  await run_query(page);
  await page.screenshot({ path: join(shots, '2-physician-ranking.png'), fullPage: true });
  assert.deepEqual(events, [200], 'the page followed the query by its event stream');
  const sites = await page.locator('#sites li').allTextContents();
  assert.deepEqual(sites.sort(), ['site-1: answered', 'site-2: answered', 'site-3: answered']);
  const rows = page.locator('#hits tbody tr');
  assert.ok(await rows.count() >= 2);
  const first = rows.first();
  const cells = await first.locator('td').allTextContents();
  // rank, score, measure, stage, site, modality, body part, study date
  assert.equal(cells[0], '1');
  assert.equal(cells[2], 'mi/1');
  assert.equal(cells[3], '2');
  assert.ok(['site-2', 'site-3'].includes(cells[4]), `the near-duplicate is at site 2 or 3, not ${cells[4]}`);
  assert.equal(cells[5], 'MR');
  assert.notEqual(await first.getAttribute('data-lfn'), patient_lfn);
  // Another hospital's patient's images are not hers: no thumbnail, the cell says so.
  await first.locator('td.thumbnail', { hasText: 'withheld' }).waitFor();
  assert.equal(await first.locator('td.thumbnail img').count(), 0);

  // Another hospital's patient is not hers to open: the page says so.
  await first.getByRole('button', { name: 'Open' }).click();
  await page.locator('#error', { hasText: 'not allowed' }).waitFor();

  // Her own patient's series opens in the viewer (once the key shares are placed: the demo's first
  // repair round, up to 30 s after its ingest).
  for (let i = 0; i < 60; i++) {
    const r = await context.request.get(`${url}v1/series/${patient_lfn}?format=nifti`);
    if (r.status() === 200) { writeFileSync(volume_file, await r.body()); break; }
    assert.equal(r.status(), 503, await r.text());
    await page.waitForTimeout(1000);
  }
  const own = page.locator('#series-table tbody tr', { has: pick });
  await own.getByRole('button', { name: 'Open' }).click();
  await page.locator('#viewer-lfn', { hasText: '×' }).waitFor();
  // The three planes side by side; the arrow keys scroll the plane under focus only.
  const readouts = async () => Promise.all(['axial', 'coronal', 'sagittal'].map((p) => page.locator(`#${p}-slice-out`).textContent()));
  const before_scroll = await readouts();
  for (const r of before_scroll) assert.match(r, /^\d+ \/ \d+$/);
  await page.locator('#axial-canvas').press('ArrowUp');
  const after_scroll = await readouts();
  assert.notEqual(after_scroll[0], before_scroll[0]);
  assert.deepEqual(after_scroll.slice(1), before_scroll.slice(1));
  await page.screenshot({ path: join(shots, '3-physician-viewer.png'), fullPage: true });

  // She records her diagnosis for her patient's series; it is listed, and a query by his volume
  // shows it with the hit of his own series (the text too: she may read it, at its hospital).
  await own.getByRole('button', { name: 'Diagnoses' }).click();
  await page.getByLabel('ICD-10 code').fill('I21.4');
  await page.getByLabel('Text').fill('inferior STEMI, demo');
  await page.getByRole('button', { name: 'Record diagnosis' }).click();
  await page.locator('#diagnoses li', { hasText: 'I21.4: inferior STEMI, demo' }).waitFor();
  await page.locator('#nifti-file').setInputFiles(volume_file);
  await run_query(page);
  const own_hit = page.locator(`#hits tbody tr[data-lfn="${patient_lfn}"]`);
  assert.match(await own_hit.locator('td').nth(8).textContent(), /I21\.4: inferior STEMI, demo/);
  // Her own patient's hit shows his thumbnail: the middle slice, rendered for her.
  const thumbnail = own_hit.locator('td.thumbnail img');
  await thumbnail.waitFor();
  const size = await thumbnail.evaluate(async (img) => { await img.decode(); return [img.naturalWidth, img.naturalHeight]; });
  assert.ok(size[0] > 0 && size[0] <= 128 && size[1] > 0 && size[1] <= 128, `a small image: ${size}`);
  await page.screenshot({ path: join(shots, '3b-physician-diagnosis.png'), fullPage: true });

  // Her patient's DICOM files, as her PACS viewer would export them (the demo's synthesizer, same
  // seed): the node assembles them and keeps nothing; his own series ranks first.
  const dicom_dir = join(shots, '..', 'patient-dicom');
  const made = spawnSync(join(build, 'simulations', 'dm2-synth'), ['--out', dicom_dir, '--seed', '1001', '--variant', '0',
    '--kind', 'heart-mr', '--patient-id', 'S1-1001', '--institution', 'Hopital Site 1']);
  assert.equal(made.status, 0, String(made.stderr));
  const files = readdirSync(dicom_dir).filter((f) => f.endsWith('.dcm')).map((f) => join(dicom_dir, f));
  await page.locator('#dicom-files').setInputFiles(files);
  assert.ok(await page.locator('#source-dicom').isChecked());
  await run_query(page);
  assert.equal(await page.locator('#hits tbody tr').first().getAttribute('data-lfn'), patient_lfn);

  // By the series' UID at her PACS (her viewer shows it; the demo's manifest has it): the
  // near-duplicates at sites 2 and 3 first, her patient's series itself not a hit.
  const manifest = readFileSync(join(dir, 'site-1', 'pacs', 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const original = manifest.find((l) => l.seed === 1001 && l.variant === 0 && l.kind === 'heart-mr');
  await page.getByLabel('Series Instance UID').fill(original.series_uid);
  assert.ok(await page.locator('#source-pacs').isChecked());
  await run_query(page);
  const by_pacs = page.locator('#hits tbody tr');
  assert.ok(['site-2', 'site-3'].includes(await by_pacs.first().locator('td').nth(4).textContent()));
  assert.equal(await page.locator(`#hits tbody tr[data-lfn="${patient_lfn}"]`).count(), 0);
  await page.screenshot({ path: join(shots, '3c-physician-by-pacs-series.png'), fullPage: true });
  await assert_nothing_kept(page);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Account name').waitFor();
  await context.close();
});

test('a researcher without a grant sees none of the hits and none of their images', async () => {
  const { context, page } = await sign_in('m-nogrant');
  assert.equal(await page.locator('#series-view').isVisible(), false);
  await page.locator('#nifti-file').setInputFiles(volume_file);
  await run_query(page);
  await page.screenshot({ path: join(shots, '4-researcher-withheld.png'), fullPage: true });
  assert.equal(await page.locator('#hits tbody tr').count(), 0);
  assert.match(await page.locator('#withheld').textContent(), /\d+ not shown/);
  const r = await context.request.get(`${url}v1/series/${patient_lfn}?format=nifti`);
  assert.equal(r.status(), 403);
  const thumbnail = await context.request.get(`${url}v1/series/${patient_lfn}/thumbnail`);
  assert.equal(thumbnail.status(), 403, 'no thumbnail either');
  assert.equal((await thumbnail.json()).error.code, 'permission_denied');
  assert.equal(await page.locator('#hits td.thumbnail img').count(), 0);
  await assert_nothing_kept(page);
  await context.close();
});

test('a researcher downloads the series of his grant, as NIfTI and as DICOM', async () => {
  const { context, page } = await sign_in('m-demo');
  const granted = page.locator(`#grants li[data-lfn="${patient_lfn}"]`);
  await granted.waitFor();
  // His consortium id, what a physician of another hospital grants him by.
  assert.match(await page.locator('#consortium-id').textContent(), /^[0-9a-f]{32}@\S+$/);
  const save = async (label) => {
    const [file] = await Promise.all([page.waitForEvent('download'), granted.getByRole('button', { name: label }).click()]);
    return readFileSync(await file.path());
  };
  const nifti = await save('Download NIfTI');
  assert.equal(nifti.readInt32LE(0), 348, 'a NIfTI-1 header');
  assert.deepEqual(nifti, readFileSync(volume_file), 'the same volume the physician read');
  const dicom = await save('Download DICOM');
  assert.ok(dicom.includes('Content-Type: application/dicom'), 'multipart/related parts');
  assert.ok(dicom.includes('DICM'), 'DICOM Part 10 files');
  await page.screenshot({ path: join(shots, '4b-researcher-grant.png'), fullPage: true });
  await assert_nothing_kept(page);
  await context.close();
});

test('the site admin sees the node, its peers and its ingest, and no patient data', async () => {
  const { context, page } = await sign_in('demo-admin');
  await page.locator('#node-status dd').first().waitFor();
  const fact = async (list, term) => page.locator(`#${list} dt:text-is("${term}") + dd`).textContent();
  assert.equal(await fact('node-status', 'Overlay'), 'running');
  assert.equal(await fact('node-status', 'Sites live'), '2 of 2 peers');
  assert.ok(+(await fact('node-status', 'Records held')) > 0);
  assert.ok(+(await fact('ingest-status', 'Series indexed')) > 0);
  assert.deepEqual((await page.locator('#peers tbody td:nth-child(3)').allTextContents()), ['live', 'live']);
  assert.equal(await page.locator('#series-view').isVisible(), false);
  assert.equal((await context.request.get(`${url}v1/series/${patient_lfn}?format=nifti`)).status(), 403);
  await page.screenshot({ path: join(shots, '6-admin-status.png'), fullPage: true });
  await context.close();
  // Status is the admin's: a physician is refused it.
  const physician = await sign_in('dr-demo');
  for (const path of ['v1/overlay', 'v1/ingest']) assert.equal((await physician.context.request.get(`${url}${path}`)).status(), 403);
  await physician.context.close();
});

test('the patient sees his series and who accessed them', async () => {
  const { context, page } = await sign_in('demo-patient');
  await page.locator(`input[name=series][value="${patient_lfn}"]`).waitFor();
  // His physician listed, opened and queried by his series (the desk's reads, each audited). The
  // table fills after the series list (its own request, gathered from every site): wait for it.
  const wanted = ['series_list', 'series_get', 'query_by_series', 'diagnosis_add'];
  let actions = [];
  for (const until = Date.now() + 20000; Date.now() < until; await page.waitForTimeout(250)) {
    actions = await page.locator('#accesses tbody tr td:nth-child(4)').allTextContents();
    if (wanted.every((a) => actions.includes(a))) break;
  }
  for (const action of wanted) assert.ok(actions.includes(action), `${action} in: ${actions.join(' ')}`);
  await page.screenshot({ path: join(shots, '5-patient-accesses.png'), fullPage: true });
  await context.close();
});
