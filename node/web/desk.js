// The clinician's desk: sign in, then the view of one's role. Physician: his patients' series,
// a similarity query across the consortium by one of them (or by uploaded NIfTI or DICOM files,
// or by a series' UID at his PACS) followed live (sites answering, ranking with the hits'
// diagnoses), a case opened in the viewer (three planes), his diagnosis recorded for his
// patient's series. Researcher: queries by an uploaded volume, his grants and their series to
// download. Patient: his series and who accessed them. Site admin: the site's accounts. Nothing
// is kept in the URL or in browser storage; the session is the node's HttpOnly cookie.
import { call, fetch_bytes, follow_query, to_base64 } from './api.js';
import { parse_nifti, volume_viewer } from './viewer.js';

const $ = (id) => document.getElementById(id);
const views = ['sign-in-view', 'series-view', 'query-view', 'viewer-view', 'diagnosis-view', 'grants-view', 'accesses-view',
  'status-view', 'users-view'];
const by_role = {
  physician: ['series-view', 'query-view', 'grants-view'],
  researcher: ['query-view', 'grants-view'],
  patient: ['series-view', 'accesses-view'],
  site_admin: ['status-view', 'users-view'],
};
const state_words = { answered: 'answered', waiting: 'waiting…', late: 'late: its replicas asked', covered: 'covered by replicas', timed_out: 'timed out' };

let me = null;
const plane = (name) => ({ canvas: $(`${name}-canvas`), slice: $(`${name}-slice`), slice_out: $(`${name}-slice-out`) });
const viewer = new volume_viewer({
  window: $('window'), level: $('level'), planes: { axial: plane('axial'), coronal: plane('coronal'), sagittal: plane('sagittal') },
});
let diagnosis_lfn = null;

function show_error(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  if (cls) td.className = cls;
  return td;
}

function button(label, on_click) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.addEventListener('click', on_click);
  return b;
}

// Runs an action, showing its failure in the page (role=alert) instead of losing it.
async function guarded(action) {
  show_error('');
  try { await action(); } catch (e) { show_error(e.message); }
}

function show_views(names) {
  for (const v of views) $(v).hidden = !names.includes(v);
}

async function enter() {
  me = await call('GET', '/v1/sessions/current');
  $('who-text').textContent = `Signed in: ${me.role.replace('_', ' ')} ${me.id.slice(0, 8)}… at ${me.site}`;
  $('who').hidden = false;
  show_views(by_role[me.role] ?? []);
  $('series-title').textContent = me.role === 'patient' ? 'My series' : "My patients' series";
  $('source-series').disabled = $('source-pacs').disabled = me.role !== 'physician';
  if (me.role !== 'physician') $('source-upload').checked = true;
  if (me.role === 'physician' || me.role === 'patient') await load_series();
  if (me.role === 'physician' || me.role === 'researcher') await load_grants();
  if (me.role === 'patient') await load_accesses();
  if (me.role === 'site_admin') await Promise.all([load_status(), load_users()]);
}

function leave() {
  me = null;
  $('who').hidden = true;
  show_views(['sign-in-view']);
  $('hits').hidden = true;
  $('hits').tBodies[0].replaceChildren();
  forget_thumbnails();
  $('sites').replaceChildren();
  $('progress-text').textContent = '';
  $('name').focus();
}

async function load_series() {
  const { series } = await call('GET', '/v1/me/series');
  const body = $('series-table').tBodies[0];
  body.replaceChildren();
  series.forEach((s, i) => {
    const tr = document.createElement('tr');
    const pick = document.createElement('td');
    const radio = document.createElement('input');
    radio.type = 'radio';
    radio.name = 'series';
    radio.value = s.lfn;
    radio.id = `series-${i}`;
    radio.checked = i === 0;
    radio.setAttribute('aria-label', `Series ${s.lfn.slice(0, 8)}, ${s.attributes.modality} ${s.attributes.body_part} ${s.attributes.study_date}`);
    pick.append(radio);
    tr.append(pick, cell(s.lfn.slice(0, 8) + '…'), cell(s.attributes.modality), cell(s.attributes.body_part),
      cell(s.attributes.study_date));
    const patient = document.createElement('td');
    patient.append(button('Show name', () => guarded(async () => {
      const n = await call('GET', `/v1/nominative/${s.lfn}`);
      patient.textContent = n.patient_name || '(no name)';
    })), ' ', button('Open', () => guarded(() => open_case(s.lfn))));
    if (me.role === 'physician') patient.append(' ', button('Diagnoses', () => guarded(() => open_diagnoses(s.lfn))));
    tr.append(patient);
    body.append(tr);
  });
  $('series-table').hidden = series.length === 0;
  $('series-empty').hidden = series.length !== 0;
}

// Grants given or received; a grantee may download each live grant's series that it lets him see.
async function load_grants() {
  const { grants } = await call('GET', '/v1/grants');
  $('consortium-id').textContent = me.consortium_id;
  $('grants').replaceChildren(...grants.map((g) => {
    const li = document.createElement('li');
    // Cross-site grants name the other hospital: the one that granted me, or my grantee's.
    const who = g.grantee === me.id ? `To me${g.site !== me.site ? ' from ' + g.site : ''}`
      : `Given${g.grantee_site !== me.site ? ' to a user of ' + g.grantee_site : ''}`;
    li.textContent = `${who}: ${g.lfns.length} series, ${g.classes.join(', ')}, ` +
      `${g.purpose}, ${g.live ? 'until ' + new Date(g.expires_at * 1000).toLocaleString() : 'not live'}`;
    if (g.grantee === me.id && g.live && g.classes.includes('deidentified_image')) {
      const list = document.createElement('ul');
      list.append(...g.lfns.map((lfn) => {
        const item = document.createElement('li');
        item.dataset.lfn = lfn;
        item.append(`Series ${lfn.slice(0, 8)}… `,
          button('Download NIfTI', () => guarded(() => download(lfn, 'nifti', `${lfn}.nii`))), ' ',
          button('Download DICOM', () => guarded(() => download(lfn, 'dicom', `${lfn}.multipart`))), ' ',
          button('Open', () => guarded(() => open_case(lfn))));
        return item;
      }));
      li.append(list);
    }
    return li;
  }));
  if (!grants.length) $('grants').replaceChildren(Object.assign(document.createElement('li'), { textContent: 'none' }));
}

async function load_accesses() {
  const a = await call('GET', '/v1/me/accesses');
  $('accesses-summary').textContent = `${a.entries.length} entries about your ${a.series} series` +
    (a.sites_unreachable.length ? `; not reachable now: ${a.sites_unreachable.join(', ')}` : '');
  $('accesses').tBodies[0].replaceChildren(...a.entries.map((e) => {
    const tr = document.createElement('tr');
    tr.append(cell(new Date(e.time_ms).toLocaleString()), cell(e.site), cell(e.actor), cell(e.action),
      cell(e.lfn.slice(0, 8) + '…'), cell(e.decision));
    return tr;
  }));
}

function facts(list, pairs) {
  list.replaceChildren(...pairs.flatMap(([term, value]) => [
    Object.assign(document.createElement('dt'), { textContent: term }),
    Object.assign(document.createElement('dd'), { textContent: String(value) }),
  ]));
}

// The site admin's view of the node: the overlay (GET /v1/overlay) and the PACS ingest (GET /v1/ingest).
async function load_status() {
  const [o, i] = await Promise.all([call('GET', '/v1/overlay'), call('GET', '/v1/ingest')]);
  facts($('node-status'), [
    ['Site', o.site_id], ['Overlay', o.dht_running ? 'running' : 'NOT running'],
    ['Sites live', `${o.live_peers} of ${o.roster_peers} peers`], ['Roster version', o.roster_version],
    ['Records held', o.records_held], ['Replicas owed', o.replicas_owed], ['Keys owned', o.keys_owned],
    ['Replicas per record', o.replicas], ['Sites that may fail at once', o.survivable_failures],
  ]);
  $('peers').tBodies[0].replaceChildren(...o.peers.map((p) => {
    const tr = document.createElement('tr');
    tr.append(cell(p.site_id), cell(p.https), cell(p.live ? 'live' : 'unreachable', p.live ? '' : 'bad'));
    return tr;
  }));
  const run = i.current_run ?? i.last_run;
  facts($('ingest-status'), [
    ['PACS', !i.pacs_configured ? 'none configured'
      : `configured, ${i.sync_period_s ? `synchronised every ${i.sync_period_s} s` : 'synchronised on demand (dm2 ingest run)'}`],
    ['Series indexed', i.totals.series_indexed], ['Series failed', i.totals.series_failed],
    ['Stored', `${(i.totals.bytes_stored / 1e6).toFixed(1)} MB`],
    ['Run', run ? `${i.current_run ? 'running' : 'last'}: ${run.state}, ${run.counts.series_indexed} indexed, ` +
      `${run.failures.length} failed` : 'none yet'],
  ]);
}

async function load_users() {
  const { users } = await call('GET', '/v1/users');
  $('users').tBodies[0].replaceChildren(...users.map((u) => {
    const tr = document.createElement('tr');
    tr.append(cell(u.name), cell(u.role), cell(u.disabled ? 'yes' : 'no'));
    return tr;
  }));
}

// The hits' thumbnails (GET /v1/series/{lfn}/thumbnail: the middle slice, rendered for whoever
// may read the images, audited as a read), asked for once the query is done, one at a time;
// kept per query as object URLs (in memory, never in browser storage). A refusal shows
// "withheld", any other failure "no image".
const thumbnails = new Map();  // lfn -> Promise<{ url } | { text }>
let thumbnail_queue = Promise.resolve();

function forget_thumbnails() {
  for (const t of thumbnails.values()) t.then((r) => r.url && URL.revokeObjectURL(r.url));
  thumbnails.clear();
}

function thumbnail_of(lfn) {
  if (!thumbnails.has(lfn)) {
    const asked = thumbnail_queue.then(async () => {
      try {
        const bytes = await fetch_bytes(`/v1/series/${lfn}/thumbnail`);
        return { url: URL.createObjectURL(new Blob([bytes], { type: 'image/png' })) };
      } catch (e) {
        return { text: e.status === 403 ? 'withheld' : 'no image' };
      }
    });
    thumbnails.set(lfn, asked);
    thumbnail_queue = asked;
  }
  return thumbnails.get(lfn);
}

function thumbnail_cell(lfn, final) {
  const td = cell(final ? '…' : '', 'thumbnail');
  if (!final) return td;
  thumbnail_of(lfn).then((r) => {
    if (r.url) {
      const img = document.createElement('img');
      img.src = r.url;
      img.alt = 'middle slice of the series';
      td.replaceChildren(img);
    } else {
      td.textContent = r.text;
      td.dataset.withheld = r.text === 'withheld';
    }
  });
  return td;
}

function render_query(state, final) {
  if (state.error) {
    show_error(state.error);
    $('progress-text').textContent = 'The query could not be followed.';
    return;
  }
  const stage2 = state.stage2;
  let text = `${state.answered} of ${state.asked} sites answered`;
  if (stage2?.started) text += `; stage 2 (${stage2.algorithm.name}): ${stage2.answered.length} of ${stage2.asked.length} owners scored`;
  if (final) text += state.deadline_passed ? ' — time limit reached, results partial.' : ' — done.';
  $('progress-text').textContent = text;
  $('sites').replaceChildren(...state.sites.map(({ site, state: s }) => {
    const li = document.createElement('li');
    const failed = stage2?.failed?.includes(site);
    li.dataset.state = failed ? 'failed' : s;
    li.textContent = `${site}: ${state_words[s] ?? s}${failed ? ', stage 2: no answer' : ''}`;
    return li;
  }));
  $('withheld').textContent = state.withheld ? `(${state.withheld} not shown: not yours to see)` : '';
  $('hits').tBodies[0].replaceChildren(...state.hits.map((h, i) => {
    const tr = document.createElement('tr');
    const open = document.createElement('td');
    open.append(button('Open', () => guarded(() => open_case(h.lfn))));
    tr.append(cell(String(i + 1)), cell(h.score === null ? '—' : h.score.toFixed(3), 'num'),
      cell(`${h.algorithm.name}/${h.algorithm.version}`), cell(`${h.stage}${h.stage2_missing ? ' (' + h.stage2_missing + ')' : ''}`),
      cell(h.owner), cell(h.attributes.modality), cell(h.attributes.body_part), cell(h.attributes.study_date),
      cell(diagnoses_text(h.diagnoses)), open, thumbnail_cell(h.lfn, final));
    tr.dataset.lfn = h.lfn;
    return tr;
  }));
  $('hits').hidden = false;
}

async function run_query() {
  const body = { measure: $('measure').value, top_k: +$('top-k').value, timeout_ms: 1000 * +$('timeout').value };
  if ($('modality').value) body.filters = { modality: $('modality').value };
  if ($('source-upload').checked) {
    const file = $('nifti-file').files[0];
    if (!file) throw new Error('Choose a NIfTI file to query by.');
    body.nifti = to_base64(await file.arrayBuffer());
  } else if ($('source-dicom').checked) {
    // The series' instances, each in base64; the node assembles them and keeps nothing.
    const files = [...$('dicom-files').files];
    if (!files.length) throw new Error('Choose the DICOM files of one series to query by.');
    body.dicom = await Promise.all(files.map(async (f) => to_base64(await f.arrayBuffer())));
  } else if ($('source-pacs').checked) {
    const uid = $('pacs-series-uid').value.trim();
    if (!uid) throw new Error('Give the Series Instance UID your PACS viewer shows.');
    body.pacs_series = { series_uid: uid };
  } else {
    const picked = document.querySelector('input[name=series]:checked');
    if (!picked) throw new Error('Pick one of your patients\' series first.');
    body.by_series = picked.value;
  }
  $('run-query').disabled = true;
  $('progress-text').textContent = 'Asking the consortium…';
  $('sites').replaceChildren();
  $('hits').hidden = true;
  forget_thumbnails();
  try {
    const { id } = await call('POST', '/v1/queries', body);
    await follow_query(id, render_query);
  } finally {
    $('run-query').disabled = false;
  }
}

// "I21.4: inferior STEMI; Q21" — the codes, with the texts the owner showed this user.
function diagnoses_text(diagnoses) {
  return (diagnoses ?? []).map((d) => [d.code, d.text].filter(Boolean).join(': ') || '(text kept at its hospital)').join('; ');
}

// A retrieved series saved as a file (DICOM: the multipart/related body, one part per instance).
async function download(lfn, format, name) {
  const bytes = await fetch_bytes(`/v1/series/${lfn}?format=${format}`);
  const link = $('download-link');
  link.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

async function open_diagnoses(lfn) {
  diagnosis_lfn = lfn;
  $('diagnosis-lfn').textContent = `${lfn.slice(0, 8)}…`;
  const { diagnoses } = await call('GET', `/v1/series/${lfn}/diagnoses`);
  $('diagnoses').replaceChildren(...diagnoses.map((d) =>
    Object.assign(document.createElement('li'), { textContent: `${d.recorded_on}: ${diagnoses_text([d])}` })));
  if (!diagnoses.length) $('diagnoses').replaceChildren(Object.assign(document.createElement('li'), { textContent: 'none yet' }));
  $('diagnosis-view').hidden = false;
  $('diagnosis-code').focus();
}

async function record_diagnosis() {
  const body = {};
  if ($('diagnosis-code').value) body.code = $('diagnosis-code').value.trim().toUpperCase();
  if ($('diagnosis-text').value.trim()) body.text = $('diagnosis-text').value.trim();
  if (!body.code && !body.text) throw new Error('Give a code, a text, or both.');
  await call('POST', `/v1/series/${diagnosis_lfn}/diagnoses`, body);
  $('diagnosis-code').value = $('diagnosis-text').value = '';
  await open_diagnoses(diagnosis_lfn);
}

async function open_case(lfn) {
  $('viewer-lfn').textContent = `${lfn.slice(0, 8)}… (loading)`;
  $('viewer-view').hidden = false;
  try {
    const volume = parse_nifti(await fetch_bytes(`/v1/series/${lfn}?format=nifti`));
    $('viewer-lfn').textContent = `${lfn.slice(0, 8)}… ${volume.nx}×${volume.ny}×${volume.nz}`;
    viewer.show(volume);
    $('axial-canvas').focus();
  } catch (e) {
    $('viewer-view').hidden = true;
    throw e;
  }
}

$('sign-in-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guarded(async () => {
    await call('POST', '/v1/sessions', { name: $('name').value, password: $('password').value });
    $('password').value = '';
    await enter();
  });
});
$('sign-out').addEventListener('click', () => guarded(async () => {
  await call('DELETE', '/v1/sessions/current');
  leave();
}));
$('query-form').addEventListener('submit', (ev) => { ev.preventDefault(); guarded(run_query); });
$('nifti-file').addEventListener('change', () => { $('source-upload').checked = true; });
$('dicom-files').addEventListener('change', () => { $('source-dicom').checked = true; });
$('pacs-series-uid').addEventListener('input', () => { $('source-pacs').checked = true; });
$('close-viewer').addEventListener('click', () => { $('viewer-view').hidden = true; });
$('refresh-status').addEventListener('click', () => guarded(load_status));
$('diagnosis-form').addEventListener('submit', (ev) => { ev.preventDefault(); guarded(record_diagnosis); });
$('close-diagnosis').addEventListener('click', () => { $('diagnosis-view').hidden = true; });

// A session cookie still alive (a reload) goes straight to the desk; otherwise sign in.
call('GET', '/v1/sessions/current').then(enter, leave).catch((e) => show_error(e.message));
