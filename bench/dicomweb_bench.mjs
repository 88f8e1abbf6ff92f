// The measuring half of bench/dicomweb_bench.sh: QIDO-RS series search and WADO-RS series
// retrieval against dm2 (DM2_URL, the demo in DM2_DIR, as its physician dr-demo) and against
// Orthanc's DICOMweb plugin (ORTHANC_URL), one request at a time over keep-alive connections
// (Node's fetch), SEARCHES and RETRIEVALS of each. Exits 1 when a check fails.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dm2 = process.env.DM2_URL;
const dir = process.env.DM2_DIR;
const orthanc = process.env.ORTHANC_URL;
const searches = +process.env.SEARCHES;
const retrievals = +process.env.RETRIEVALS;
const fail = (message) => { console.error(`dicomweb_bench: ${message}`); process.exit(1); };

const password = readFileSync(join(dir, 'accounts', 'dr-demo.password'), 'utf8').trim();
const signed = await fetch(`${dm2}/v1/sessions`, {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'dr-demo', password }),
});
if (signed.status !== 201) fail(`sign-in: ${signed.status}`);
const auth = { Authorization: `Bearer ${(await signed.json()).token}` };
const lfn = readFileSync(join(dir, 'patient.lfn'), 'utf8').trim();
const study = `2.25.${BigInt('0x' + lfn)}`;
const instances = 'multipart/related; type="application/dicom"; transfer-syntax=*';

async function get(url, headers = {}) {
  const r = await fetch(url, { headers });
  if (!r.ok) fail(`${url}: ${r.status} ${await r.text()}`);
  return r;
}

// The parts of a multipart/related answer.
async function parts(r) {
  const boundary = /boundary="?([^";]+)"?/.exec(r.headers.get('content-type') ?? '')?.[1];
  if (!boundary) fail(`not multipart: ${r.headers.get('content-type')}`);
  return Buffer.from(await r.arrayBuffer()).toString('latin1').split(`--${boundary}\r\n`).length - 1;
}

async function timed(n, request) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await request();
    ms.push(performance.now() - t0);
  }
  const total = ms.reduce((a, b) => a + b, 0);
  ms.sort((a, b) => a - b);
  return { n, rps: (n * 1000) / total, p50: ms[Math.floor(n / 2)], p99: ms[Math.min(n - 1, Math.ceil(n * 0.99) - 1)] };
}

// Checks: the same MR series found; the demo patient's heart MR whole from both.
const qido = { dm2: `${dm2}/dicom-web/series?Modality=MR`, orthanc: `${orthanc}/dicom-web/series?Modality=MR` };
const found = { dm2: (await (await get(qido.dm2, auth)).json()).length, orthanc: (await (await get(qido.orthanc)).json()).length };
if (found.dm2 === 0 || found.dm2 !== found.orthanc) fail(`MR series: dm2 ${found.dm2}, Orthanc ${found.orthanc}`);
const theirs = await (await get(`${orthanc}/dicom-web/series?Modality=MR&PatientID=S1-1001`)).json();
if (theirs.length !== 1) fail(`the demo patient's heart MR in Orthanc: ${theirs.length} series`);
const wado = {
  dm2: `${dm2}/dicom-web/studies/${study}/series/${study}.1`,
  orthanc: `${orthanc}/dicom-web/studies/${theirs[0]['0020000D'].Value[0]}/series/${theirs[0]['0020000E'].Value[0]}`,
};
// dm2 answers 503 until the demo's first repair round has placed the key shares.
for (let i = 0; i < 60; i++) {
  const r = await fetch(wado.dm2, { headers: { ...auth, Accept: instances } });
  if (r.status === 200) { await r.arrayBuffer(); break; }
  if (r.status !== 503) fail(`${wado.dm2}: ${r.status}`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
const served = {
  dm2: await parts(await get(wado.dm2, { ...auth, Accept: instances })),
  orthanc: await parts(await get(wado.orthanc, { Accept: instances })),
};
if (served.dm2 === 0 || served.dm2 !== served.orthanc) fail(`instances: dm2 ${served.dm2}, Orthanc ${served.orthanc}`);

const results = {
  qido_dm2: await timed(searches, async () => (await get(qido.dm2, auth)).arrayBuffer()),
  qido_orthanc: await timed(searches, async () => (await get(qido.orthanc)).arrayBuffer()),
  wado_dm2: await timed(retrievals, async () => (await get(wado.dm2, { ...auth, Accept: instances })).arrayBuffer()),
  wado_orthanc: await timed(retrievals, async () => (await get(wado.orthanc, { Accept: instances })).arrayBuffer()),
};
console.log(`# ${found.dm2} MR series in the search; the series retrieved: ${served.dm2} instances`);
console.log('| request | server | n | req/s | p50 ms | p99 ms |');
console.log('|---|---|---|---|---|---|');
for (const [key, r] of Object.entries(results)) {
  const [what, server] = key.split('_');
  console.log(`| ${what === 'qido' ? 'QIDO-RS series?Modality=MR' : 'WADO-RS series'} | ${server} | ${r.n} | ${r.rps.toFixed(1)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} |`);
}
const q = results.qido_dm2.rps / results.qido_orthanc.rps;
console.log(`goal: QIDO-RS dm2 >= 3x Orthanc's requests/s: ${q.toFixed(2)}x (${q >= 3 ? 'met' : 'not met'}); ` +
  `p99 dm2 ${results.qido_dm2.p99.toFixed(1)} ms vs Orthanc ${results.qido_orthanc.p99.toFixed(1)} ms (${results.qido_dm2.p99 < results.qido_orthanc.p99 ? 'lower' : 'not lower'})`);
console.log(`WADO-RS series: dm2 p50 / Orthanc p50 = ${(results.wado_dm2.p50 / results.wado_orthanc.p50).toFixed(2)} (no goal set)`);
