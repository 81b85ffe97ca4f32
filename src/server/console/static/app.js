// SCOMO operator console: one ES module, no framework, no build step. It talks to the REST API
// of the server that serves it (docs/api.md) with the API token kept in sessionStorage. Pages
// are hash routes; a page returns a cleanup function that stops its polling. Data from the
// server is only ever put into the DOM as text (el(): textContent), never as HTML.

const TOKEN_KEY = 'scomo.token';
const OPERATIONS = ['DownloadInstall', 'Download', 'DownloadInstallInactive', 'Install', 'InstallInactive', 'Activate', 'Deactivate', 'Remove'];
const JOB_STATES = ['queued', 'notified', 'in-session', 'accepted', 'succeeded', 'failed'];
const NEEDS_PKG = (op) => /^(Download|Install)/.test(op);
const NEEDS_COMPONENT = (op) => op === 'Activate' || op === 'Deactivate' || op === 'Remove';

const main = document.getElementById('main');
const top = document.getElementById('top');
let cleanup = () => {};

// ---------- DOM and formatting helpers ----------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    // Through the CSSOM: the page's CSP (style-src 'self') refuses style attributes.
    else if (k === 'style') e.style.cssText = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function badge(state) {
  return el('span', { class: 'badge ' + String(state || '').toLowerCase(), 'data-state': state }, state || '—');
}

function ago(iso) {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '—';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return new Date(t).toLocaleDateString();
}

function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : d.toLocaleString();
}

function bytes(n) {
  if (typeof n !== 'number') return '—';
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  if (n < 1024 ** 3) return (n / 1024 / 1024).toFixed(1) + ' MiB';
  return (n / 1024 ** 3).toFixed(2) + ' GiB';
}

function table(headers, rows, emptyText) {
  return el('table', {},
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { class: 'empty', colspan: headers.length }, emptyText || 'Nothing here yet.'))));
}

let toastTimer;
function toast(text, bad) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.className = 'toast' + (bad ? ' bad' : '');
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, bad ? 6000 : 3000);
}

/** Runs `fn` now and every `ms` while the page is shown; errors show once and polling goes on. */
function poll(fn, ms) {
  let stopped = false;
  let timer;
  let lastErr = '';
  const tick = async () => {
    try {
      await fn();
      lastErr = '';
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      if (m !== lastErr && !(e instanceof AuthError)) toast(m, true);
      lastErr = m;
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
class AuthError extends ApiError {}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

async function api(method, path, body, tok) {
  const headers = { Authorization: 'Bearer ' + (tok ?? token()) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  const text = await r.text();
  let json;
  try { json = text ? JSON.parse(text) : {}; } catch { json = { error: text.trim() || r.statusText }; }
  if (r.status === 401) {
    if (tok === undefined) signOut('Your session ended: sign in again.');
    throw new AuthError(401, json.error || 'invalid token');
  }
  if (!r.ok) throw new ApiError(r.status, json.error || `${method} ${path}: HTTP ${r.status}`);
  return json;
}

const enc = encodeURIComponent;

// ---------- routing ----------

const routes = [
  [/^#\/fleet$/, pageFleet],
  [/^#\/devices\/(.+)$/, pageDevice],
  [/^#\/packages$/, pagePackages],
  [/^#\/jobs$/, pageJobs],
  [/^#\/campaigns$/, pageCampaigns],
  [/^#\/campaigns\/(.+)$/, pageCampaign],
  [/^#\/webhooks$/, pageWebhooks],
];

function render() {
  cleanup();
  cleanup = () => {};
  main.replaceChildren();
  document.getElementById('toast').hidden = true;
  if (!token()) { top.hidden = true; pageLogin(); return; }
  top.hidden = false;
  const hash = location.hash || '#/fleet';
  for (const [re, page] of routes) {
    const m = re.exec(hash);
    if (!m) continue;
    const section = hash.split('/')[1];
    for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === section);
    const c = page(...m.slice(1).map(decodeURIComponent));
    if (typeof c === 'function') cleanup = c;
    return;
  }
  location.hash = '#/fleet';
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  render();
  if (message) toast(message, true);
}

window.addEventListener('hashchange', render);
document.getElementById('logout').addEventListener('click', () => signOut());

// ---------- login ----------

function pageLogin() {
  const input = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', placeholder: 'API token', required: true });
  const err = el('p', { class: 'error', id: 'login-error' });
  const form = el('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      const t = input.value.trim();
      if (!t) return;
      try {
        await api('GET', '/api/devices', undefined, t);
        sessionStorage.setItem(TOKEN_KEY, t);
        if (!location.hash || location.hash === '#/login') location.hash = '#/fleet';
        render();
      } catch (e) {
        err.textContent = e instanceof AuthError ? 'That token is not valid for this server.' : 'Cannot reach the server: ' + e.message;
      }
    },
  },
  el('label', { for: 'token' }, 'API token'),
  input,
  el('button', { class: 'primary', type: 'submit', id: 'login' }, 'Sign in'),
  err);
  main.append(el('div', { class: 'login' }, el('div', { class: 'panel' },
    el('h1', {}, el('span', { class: 'logo' }, 'S'), 'SCOMO console'),
    el('p', { class: 'muted' }, 'Sign in with the server\u2019s API token (--api-token / SCOMO_API_TOKEN). It is kept in this tab only.'),
    form)));
  input.focus();
}

// ---------- fleet ----------

function jobChips(jobs) {
  const chips = JOB_STATES.filter((s) => jobs && jobs[s]).map((s) => el('span', { class: 'badge ' + s, title: s }, `${jobs[s]} ${s}`));
  return chips.length ? el('span', { class: 'chips' }, chips) : el('span', { class: 'muted' }, 'none');
}

function pageFleet() {
  const filter = el('input', { type: 'search', placeholder: 'Filter by device id or tag', id: 'fleet-filter', style: 'max-width:280px' });
  const cards = el('div', { class: 'cards' });
  const body = el('div', {});
  const count = el('span', { class: 'muted', id: 'fleet-count' });
  main.append(
    el('div', { class: 'head' }, el('h1', {}, 'Fleet')),
    cards,
    el('div', { class: 'panel' }, el('div', { class: 'head' }, el('h2', {}, 'Devices ', count), filter), body),
  );
  const draw = (f, q) => {
    const t = f.jobTotals || {};
    const recent = f.devices.filter((d) => Date.now() - Date.parse(d.lastSeen) < 10 * 60_000).length;
    const running = (t.queued || 0) + (t.notified || 0) + (t['in-session'] || 0) + (t.accepted || 0);
    const part = f.total > f.devices.length;
    cards.replaceChildren(
      card(q ? 'Devices matching' : 'Devices', f.total, 'stat-devices'),
      card('Seen in 10 min' + (part ? ' (listed)' : ''), recent, 'stat-recent'),
      card('Components' + (part ? ' (listed)' : ''), f.devices.reduce((n, d) => n + (d.deployed || 0), 0), 'stat-deployed'),
      card('Jobs running', running, 'stat-running'),
      card('Jobs succeeded', t.succeeded || 0, 'stat-succeeded'),
      card('Jobs failed', t.failed || 0, 'stat-failed'),
    );
    count.textContent = part ? `(first ${f.devices.length} of ${f.total})` : '';
    body.replaceChildren(table(['Device', 'Tags', 'Last seen', 'Deployed', 'Jobs'], f.devices.map((d) => el('tr', { dataset: { device: d.deviceId } },
      el('td', {}, el('a', { href: '#/devices/' + enc(d.deviceId), class: 'mono' }, d.deviceId)),
      el('td', {}, (d.tags || []).map((x) => el('span', { class: 'tag' }, x))),
      el('td', { title: when(d.lastSeen) }, ago(d.lastSeen)),
      el('td', {}, d.deployed === null ? el('span', { class: 'muted', title: 'inventory not read yet' }, '—') : String(d.deployed)),
      el('td', {}, jobChips(d.jobs)))), q ? 'No device matches.' : 'No devices yet: add accounts with `scomo account add`.'));
  };
  const load = async () => {
    const q = filter.value.trim();
    const f = await api('GET', '/console/api/fleet' + (q ? '?q=' + enc(q) : ''));
    if (q === filter.value.trim()) draw(f, q);
  };
  let debounce;
  filter.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(() => load().catch((e) => toast(e.message, true)), 250); });
  const stop = poll(load, 3000);
  return () => { stop(); clearTimeout(debounce); };
}

function card(k, v, id) {
  return el('div', { class: 'card', id }, el('div', { class: 'v' }, String(v)), el('div', { class: 'k' }, k));
}

// ---------- device ----------

function pageDevice(deviceId) {
  const info = el('dl', { class: 'kv' });
  const deployed = el('div', {});
  const delivered = el('div', {});
  const jobs = el('div', {});
  const invNote = el('span', { class: 'muted', id: 'inventory-note' });
  const tagsInput = el('input', { type: 'text', id: 'tags', placeholder: 'e.g. sim, eu-west' });
  const refreshBtn = el('button', { type: 'button', id: 'refresh-inventory', onclick: () => loadInventory(true) }, 'Read inventory from device');
  const notifyBtn = el('button', {
    type: 'button', id: 'notify',
    onclick: async () => {
      try {
        const r = await api('POST', `/api/devices/${enc(deviceId)}/notify`);
        toast(r.sent ? 'Notification sent' : 'Notification failed: ' + (r.error || ''), !r.sent);
      } catch (e) { toast(e.message, true); }
    },
  }, 'Notify');
  const remove = removeDeviceControl(deviceId);
  main.append(
    el('div', { class: 'head' }, el('h1', {}, el('a', { href: '#/fleet' }, 'Fleet'), ' / ', el('span', { class: 'mono', id: 'device-id' }, deviceId)),
      el('div', { class: 'head-side' }, el('div', { class: 'actions' }, notifyBtn, refreshBtn, remove.buttons), remove.err)),
    el('div', { class: 'row' },
      el('div', { class: 'panel' }, el('h2', {}, 'Device'), info),
      el('div', { class: 'panel' }, el('h2', {}, 'Tags'),
        el('form', {
          class: 'actions',
          onsubmit: async (ev) => {
            ev.preventDefault();
            const tags = tagsInput.value.split(/[\s,]+/).filter(Boolean);
            try { await api('PUT', '/api/devices/' + enc(deviceId), { tags }); toast('Tags saved'); } catch (e) { toast(e.message, true); }
          },
        }, tagsInput, el('button', { type: 'submit' }, 'Save')),
        el('p', { class: 'hint' }, 'Campaigns can target devices by tag.'))),
    el('div', { class: 'panel' }, el('div', { class: 'head' }, el('h2', {}, 'Deployed components'), invNote), deployed),
    el('div', { class: 'panel' }, el('h2', {}, 'Delivered packages'), delivered),
    el('div', { class: 'panel' }, el('h2', {}, 'Job history'), jobs),
    el('div', { class: 'panel' }, el('h2', {}, 'New job'), jobForm({ deviceIds: [deviceId] })),
  );

  (async () => {
    let d;
    try { d = await api('GET', '/api/devices/' + enc(deviceId)); } catch { /* older servers: take it from the list */ }
    if (!d || !d.deviceId) {
      const all = await api('GET', '/api/devices');
      d = (all.devices || []).find((x) => x.deviceId === deviceId);
    }
    if (!d) { info.replaceChildren(el('p', { class: 'error' }, 'Unknown device.')); return; }
    const f = await api('GET', '/console/api/fleet?q=' + enc(deviceId)).catch(() => undefined);
    const s = f && f.devices.find((x) => x.deviceId === deviceId);
    const rows = [
      ['Device id', d.deviceId],
      ['Notification', d.notifyHost ? `${d.notifyHost}:${d.notifyPort ?? '?'} (UDP)` : 'address unknown'],
      ['SCOMO root', d.scomoRoot || 'not discovered yet'],
      ['Last seen', s ? `${ago(s.lastSeen)} (${when(s.lastSeen)})` : when(d.updatedAt)],
    ];
    info.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    const tags = d.tags || (s && s.tags) || [];
    if (!tagsInput.value) tagsInput.value = tags.join(', ');
  })().catch((e) => toast(e.message, true));

  async function loadInventory(refresh) {
    if (refresh) { refreshBtn.disabled = true; invNote.textContent = 'reading from the device…'; }
    try {
      const inv = await api('GET', `/api/devices/${enc(deviceId)}/inventory${refresh ? '?refresh=1&timeout=15' : ''}`);
      invNote.textContent = inv.updatedAt ? `read ${ago(inv.updatedAt)}${inv.stale ? ' (stale)' : ''}` : 'not read yet';
      deployed.replaceChildren(table(['ID', 'Name', 'Version', 'State', 'Description'], (inv.deployed || []).map((c) => el('tr', {},
        el('td', { class: 'mono' }, c.id), el('td', {}, c.name), el('td', {}, c.version), el('td', {}, badge(c.state)), el('td', { class: 'muted' }, c.description || '')
      )), 'No deployed components.'));
      delivered.replaceChildren(table(['Package', 'Name', 'State'], (inv.delivered || []).map((p) => el('tr', {},
        el('td', { class: 'mono' }, p.pkgId), el('td', {}, p.name), el('td', {}, badge(p.state)))), 'No delivered packages.'));
    } catch (e) {
      if (refresh) toast(e.message, true); else throw e;
    } finally {
      refreshBtn.disabled = false;
    }
  }

  let n = 0;
  return poll(async () => {
    const r = await api('GET', `/api/devices/${enc(deviceId)}/jobs?limit=50`);
    jobs.replaceChildren(jobsTable(r.jobs || [], false));
    // The inventory changes when a job ends: reread the stored snapshot now and then.
    if (n++ % 3 === 0) await loadInventory(false);
  }, 1000);
}

/**
 * Remove device (docs/api.md "DELETE /api/devices/{deviceId}"), after a confirmation. A 409 names
 * the job or campaign that holds the device: its text stays next to the control, with a second
 * button that fails the device's unfinished jobs first (?force=1). Removed: back to the fleet.
 */
function removeDeviceControl(deviceId) {
  const err = el('div', { class: 'error cell-error', id: 'remove-device-error', hidden: true });
  const btn = el('button', { type: 'button', class: 'danger', id: 'remove-device', 'data-action': 'remove' }, 'Remove device');
  const forceBtn = el('button', { type: 'button', class: 'danger', id: 'remove-device-force', 'data-action': 'remove-force', hidden: true }, 'Fail its jobs and remove');
  const remove = (force) => async () => {
    const question = force
      ? `Fail the unfinished jobs of ${deviceId} ("device decommissioned") and remove the device? Commands already sent to it cannot be recalled.`
      : `Remove device ${deviceId}? Its DM account, tags and cached inventory are deleted; its jobs stay as history.`;
    if (!confirm(question)) return;
    btn.disabled = true;
    forceBtn.disabled = true;
    err.hidden = true;
    try {
      await api('DELETE', '/api/devices/' + enc(deviceId) + (force ? '?force=1' : ''));
      // After the fleet page has rendered (render() hides the toast).
      window.addEventListener('hashchange', () => toast('Device removed: ' + deviceId), { once: true });
      location.hash = '#/fleet';
    } catch (e) {
      btn.disabled = false;
      forceBtn.disabled = false;
      if (e instanceof AuthError) return;
      err.textContent = e.message;
      err.hidden = false;
      forceBtn.hidden = !(e instanceof ApiError && e.status === 409);
    }
  };
  btn.addEventListener('click', remove(false));
  forceBtn.addEventListener('click', remove(true));
  return { buttons: [btn, forceBtn], err };
}

function jobsTable(list, withDevice) {
  const head = ['Job', ...(withDevice ? ['Device'] : []), 'Operation', 'Package / component', 'State', 'Result', 'Created', 'Finished'];
  return table(head, list.map((j) => el('tr', { dataset: { job: j.jobId } },
    el('td', { class: 'mono' }, j.jobId),
    withDevice ? el('td', {}, el('a', { class: 'mono', href: '#/devices/' + enc(j.deviceId) }, j.deviceId)) : null,
    el('td', {}, j.operation),
    el('td', { class: 'mono' }, j.pkgId || j.componentId || ''),
    el('td', {}, badge(j.state)),
    el('td', { title: j.error || '' }, j.resultCode != null ? String(j.resultCode) : j.error ? el('span', { class: 'muted' }, j.error.length > 48 ? j.error.slice(0, 47) + '…' : j.error) : ''),
    el('td', { title: when(j.createdAt) }, ago(j.createdAt)),
    el('td', { title: when(j.finishedAt) }, j.finishedAt ? ago(j.finishedAt) : ''),
  )), 'No jobs yet.');
}

// ---------- jobs ----------

async function packageOptions(select) {
  const r = await api('GET', '/api/packages');
  const pk = (r.packages || []).slice().reverse();
  select.replaceChildren(...(pk.length ? pk.map((p) => el('option', { value: p.pkgId }, `${p.name} ${p.version} (${p.pkgId})`)) : [el('option', { value: '' }, 'no packages: upload one first')]));
}

/** The job form; `deviceIds` fixed (device page) or chosen from a list (jobs page). */
function jobForm(o) {
  const op = el('select', { id: 'job-operation', name: 'operation' }, OPERATIONS.map((x) => el('option', { value: x }, x)));
  const pkg = el('select', { id: 'job-package', name: 'pkgId' });
  const comp = el('input', { type: 'text', id: 'job-component', name: 'componentId', placeholder: 'component ID from the inventory' });
  const devices = o.deviceIds ? null : el('select', { id: 'job-devices', multiple: true, size: 5 });
  const pkgRow = [el('label', { for: 'job-package' }, 'Package'), pkg];
  const compRow = [el('label', { for: 'job-component' }, 'Component'), comp];
  const sync = () => {
    for (const e of pkgRow) e.hidden = !NEEDS_PKG(op.value);
    for (const e of compRow) e.hidden = !NEEDS_COMPONENT(op.value);
  };
  op.addEventListener('change', sync);
  sync();
  packageOptions(pkg).catch((e) => toast(e.message, true));
  if (devices) {
    api('GET', '/api/devices').then((r) => {
      devices.replaceChildren(...(r.devices || []).map((d) => el('option', { value: d.deviceId }, d.deviceId)));
    }).catch((e) => toast(e.message, true));
  }
  const submit = el('button', { class: 'primary', type: 'submit', id: 'job-create' }, 'Create job');
  return el('form', {
    class: 'grid',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const ids = o.deviceIds || [...devices.selectedOptions].map((x) => x.value);
      if (!ids.length) { toast('Choose at least one device', true); return; }
      const body = { operation: op.value };
      if (NEEDS_PKG(op.value)) body.pkgId = pkg.value;
      if (NEEDS_COMPONENT(op.value) && comp.value.trim()) body.componentId = comp.value.trim();
      submit.disabled = true;
      try {
        const r = await api('POST', '/api/jobs', { deviceIds: ids, ...body });
        toast(`Created ${r.jobIds.length} job${r.jobIds.length === 1 ? '' : 's'}`);
        if (o.onCreated) o.onCreated(r.jobIds);
      } catch (e) {
        toast(e.message, true);
      } finally {
        submit.disabled = false;
      }
    },
  },
  devices ? [el('label', { for: 'job-devices' }, 'Devices'), el('div', {}, devices, el('div', { class: 'hint' }, 'Ctrl/⌘-click to choose several.'))] : null,
  el('label', { for: 'job-operation' }, 'Operation'), op,
  pkgRow, compRow,
  el('span', {}), el('div', {}, submit));
}

function pageJobs() {
  const list = el('div', {});
  main.append(
    el('h1', {}, 'Jobs'),
    el('div', { class: 'panel' }, el('h2', {}, 'New job'), jobForm({})),
    el('div', { class: 'panel' }, el('h2', {}, 'Recent jobs'), list),
  );
  return poll(async () => {
    const r = await api('GET', '/api/jobs?limit=100');
    list.replaceChildren(jobsTable(r.jobs || [], true));
  }, 1000);
}

// ---------- packages ----------

function pagePackages() {
  const file = el('input', { type: 'file', id: 'pkg-file', required: true });
  const name = el('input', { type: 'text', id: 'pkg-name', required: true, placeholder: 'com.example.app' });
  const version = el('input', { type: 'text', id: 'pkg-version', required: true, placeholder: '1.0.0' });
  const type = el('input', { type: 'text', id: 'pkg-type', placeholder: 'application/x-tar' });
  const bar = el('span', { class: 's-upload', style: 'width:0%' });
  const pct = el('span', { class: 'muted', id: 'upload-status' });
  const progress = el('div', { id: 'upload-progress', hidden: true }, el('div', { class: 'bar' }, bar), el('div', { class: 'legend' }, pct));
  const progressLabel = el('label', { hidden: true }, 'Progress');
  const submit = el('button', { class: 'primary', type: 'submit', id: 'pkg-upload' }, 'Upload');
  const list = el('div', {});
  file.addEventListener('change', () => {
    const f = file.files[0];
    if (!f) return;
    // "name-1.2.3.tar" → name "name", version "1.2.3": a guess the operator can correct.
    const m = /^(.+?)[-_]v?(\d[\w.+-]*?)(\.(tar|tgz|tar\.gz|zip|bin|pkg|ipk|deb|img))?$/i.exec(f.name);
    if (!name.value) name.value = m ? m[1] : f.name.replace(/\.[^.]+$/, '');
    if (!version.value && m) version.value = m[2];
    if (!type.value) type.value = f.type || (/\.tar$/i.test(f.name) ? 'application/x-tar' : 'application/octet-stream');
  });
  const refresh = async () => {
    const r = await api('GET', '/api/packages');
    list.replaceChildren(table(['Package', 'Name', 'Version', 'Type', 'Size', 'SHA-256', 'Signature', 'Uploaded', ''], (r.packages || []).slice().reverse().map((p) => el('tr', { dataset: { pkg: p.pkgId } },
      el('td', { class: 'mono' }, p.pkgId), el('td', {}, p.name), el('td', {}, p.version), el('td', { class: 'muted' }, p.type),
      el('td', {}, bytes(p.size)), el('td', { class: 'mono', title: p.sha256 }, (p.sha256 || '').slice(0, 12) + '…'),
      p.signature ? el('td', { title: p.signature }, p.signature.split(':')[0]) : el('td', { class: 'muted' }, 'unsigned'),
      el('td', { title: when(p.created) }, ago(p.created)),
      el('td', { class: 'right' }, deletePackageControl(p, refresh)))), 'No packages yet.'));
  };
  const form = el('form', {
    class: 'grid',
    onsubmit: (ev) => {
      ev.preventDefault();
      const f = file.files[0];
      if (!f) return;
      const q = `name=${enc(name.value.trim())}&version=${enc(version.value.trim())}&type=${enc(type.value.trim() || 'application/octet-stream')}`;
      // XMLHttpRequest, not fetch: only it reports upload progress.
      const x = new XMLHttpRequest();
      x.open('POST', '/api/packages?' + q);
      x.setRequestHeader('Authorization', 'Bearer ' + token());
      x.upload.onprogress = (e) => {
        const p = e.lengthComputable ? Math.round((e.loaded / e.total) * 100) : 0;
        bar.style.width = p + '%';
        pct.textContent = `${bytes(e.loaded)} of ${bytes(e.total)} (${p} %)`;
      };
      x.onload = () => {
        submit.disabled = false;
        let j = {};
        try { j = JSON.parse(x.responseText); } catch { /* not JSON */ }
        if (x.status === 201) {
          bar.style.width = '100%';
          pct.textContent = `Uploaded ${j.pkgId} (${bytes(j.size)})`;
          toast('Package uploaded: ' + j.pkgId);
          form.reset();
          refresh().catch((e) => toast(e.message, true));
        } else if (x.status === 401) {
          signOut('Your session ended: sign in again.');
        } else {
          pct.textContent = 'Upload failed: ' + (j.error || 'HTTP ' + x.status);
          toast(pct.textContent, true);
        }
      };
      x.onerror = () => { submit.disabled = false; pct.textContent = 'Upload failed: network error'; toast(pct.textContent, true); };
      submit.disabled = true;
      progress.hidden = false;
      progressLabel.hidden = false;
      bar.style.width = '0%';
      pct.textContent = 'starting…';
      x.send(f);
    },
  },
  el('label', { for: 'pkg-file' }, 'File'), file,
  el('label', { for: 'pkg-name' }, 'Name'), name,
  el('label', { for: 'pkg-version' }, 'Version'), version,
  el('label', { for: 'pkg-type' }, 'MIME type'), type,
  progressLabel, progress,
  el('span', {}), el('div', {}, submit));
  main.append(el('h1', {}, 'Packages'), el('div', { class: 'panel' }, el('h2', {}, 'Upload a package'), form), el('div', { class: 'panel' }, el('h2', {}, 'Repository'), list));
  refresh().catch((e) => toast(e.message, true));
}

/** Delete after a confirmation, like a campaign's Cancel; the server's refusal (409 in use, 404 gone) stays next to the package. */
function deletePackageControl(p, after) {
  const err = el('div', { class: 'error cell-error', 'data-pkg-error': p.pkgId, hidden: true });
  const btn = el('button', {
    type: 'button', class: 'danger', 'data-action': 'delete',
    onclick: async () => {
      if (!confirm(`Delete package ${p.pkgId} (${p.name} ${p.version})? Devices that installed it keep their component.`)) return;
      btn.disabled = true;
      err.hidden = true;
      try {
        await api('DELETE', '/api/packages/' + enc(p.pkgId));
        toast('Package deleted: ' + p.pkgId);
        await after();
      } catch (e) {
        if (e instanceof AuthError) return;
        err.textContent = e.message;
        err.hidden = false;
        btn.disabled = false;
        // Already gone (another operator): the list is out of date.
        if (e instanceof ApiError && e.status === 404) toast(e.message, true);
      }
    },
  }, 'Delete');
  return [btn, err];
}

// ---------- campaigns ----------
// The campaign API is read loosely: counts per job state may be under `counts` or `jobs`.

function campaignId(c) { return c.campaignId || c.id; }

function countsOf(c) {
  for (const k of ['counts', 'jobCounts', 'jobs', 'byState']) {
    const v = c[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((n) => typeof n === 'number')) return v;
  }
  return {};
}

function totalOf(c) {
  if (typeof c.total === 'number') return c.total;
  if (typeof c.devices === 'number') return c.devices;
  if (Array.isArray(c.devices)) return c.devices.length;
  return Object.values(countsOf(c)).reduce((a, b) => a + b, 0);
}

function progressBar(c, size) {
  const n = countsOf(c);
  const total = Math.max(1, size ?? totalOf(c));
  const ok = n.succeeded || 0;
  const bad = n.failed || 0;
  const gone = n.cancelled || 0;
  const run = (n.notified || 0) + (n['in-session'] || 0) + (n.accepted || 0) + (n.queued || 0) + (n.downloaded || 0);
  const w = (x) => (100 * x / total).toFixed(2) + '%';
  return el('div', { class: 'bar', title: `${ok} succeeded, ${bad} failed, ${run} in progress${gone ? `, ${gone} cancelled` : ''} of ${size ?? totalOf(c)}` },
    el('span', { class: 's-succeeded', style: 'width:' + w(ok) }),
    el('span', { class: 's-failed', style: 'width:' + w(bad) }),
    el('span', { class: 's-run', style: 'width:' + w(run) }),
    el('span', { class: 's-cancelled', style: 'width:' + w(gone) }));
}

function campaignControls(c, after) {
  const id = campaignId(c);
  const st = String(c.state || '').toLowerCase();
  const finished = ['completed', 'cancelled'].includes(st);
  const act = (verb) => async () => {
    if (verb === 'cancel' && !confirm(`Cancel campaign ${id}? Downloads in flight stop.`)) return;
    try { await api('POST', `/api/campaigns/${enc(id)}/${verb}`); toast(`Campaign ${verb}${verb.endsWith('e') ? 'd' : 'ed'}`); after(); } catch (e) { toast(e.message, true); }
  };
  return el('span', { class: 'actions' },
    el('button', { type: 'button', 'data-action': 'pause', disabled: finished || st === 'paused', onclick: act('pause') }, 'Pause'),
    el('button', { type: 'button', 'data-action': 'resume', disabled: finished || st !== 'paused', onclick: act('resume') }, 'Resume'),
    el('button', { type: 'button', class: 'danger', 'data-action': 'cancel', disabled: finished, onclick: act('cancel') }, 'Cancel'));
}

function notAvailable(e, where) {
  if (e instanceof ApiError && (e.status === 404 || e.status === 405)) {
    where.replaceChildren(el('p', { class: 'muted' }, 'This server has no campaign API (/api/campaigns).'));
    return true;
  }
  return false;
}

function pageCampaigns() {
  const list = el('div', {});
  const op = el('select', { id: 'c-operation' }, OPERATIONS.filter(NEEDS_PKG).map((x) => el('option', { value: x }, x)));
  const pkg = el('select', { id: 'c-package' });
  const devices = el('input', { type: 'text', id: 'c-devices', placeholder: 'dev-1, dev-2 …' });
  const tags = el('input', { type: 'text', id: 'c-tags', placeholder: 'sim, eu-west …' });
  const waves = el('input', { type: 'text', id: 'c-waves', placeholder: 'e.g. 1, 10, 100 (empty: one wave)' });
  const succ = el('input', { type: 'number', id: 'c-success', min: 0, max: 100, step: 1, placeholder: '90' });
  const errT = el('input', { type: 'number', id: 'c-error', min: 0, max: 100, step: 1, placeholder: '20' });
  const wStart = el('input', { type: 'text', id: 'c-window-start', placeholder: 'HH:MM', style: 'width:90px', pattern: '[0-2][0-9]:[0-5][0-9]' });
  const wEnd = el('input', { type: 'text', id: 'c-window-end', placeholder: 'HH:MM', style: 'width:90px', pattern: '[0-2][0-9]:[0-5][0-9]' });
  const wTz = el('input', { type: 'text', id: 'c-window-tz', placeholder: 'UTC', style: 'width:160px' });
  const submit = el('button', { class: 'primary', type: 'submit', id: 'c-create' }, 'Start campaign');
  packageOptions(pkg).catch((e) => toast(e.message, true));
  const split = (s) => s.split(/[\s,]+/).filter(Boolean);
  const form = el('form', {
    class: 'grid',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const target = {};
      if (split(devices.value).length) target.devices = split(devices.value);
      if (split(tags.value).length) target.tags = split(tags.value);
      if (!target.devices && !target.tags) { toast('Give devices or tags to target', true); return; }
      const body = { operation: op.value, pkgId: pkg.value, target };
      const w = split(waves.value).map(Number);
      if (w.length) {
        if (!w.every((n) => Number.isInteger(n) && n > 0)) { toast('Wave sizes are positive whole numbers', true); return; }
        body.waves = w;
      }
      // Thresholds are shares (0..1) in the API; the form takes percentages.
      if (succ.value !== '') body.successThreshold = Number(succ.value) / 100;
      if (errT.value !== '') body.errorThreshold = Number(errT.value) / 100;
      if (wStart.value || wEnd.value) body.window = { start: wStart.value.trim(), end: wEnd.value.trim(), tz: wTz.value.trim() || 'UTC' };
      submit.disabled = true;
      try {
        const r = await api('POST', '/api/campaigns', body);
        toast('Campaign started: ' + r.campaignId);
        location.hash = '#/campaigns/' + enc(r.campaignId);
      } catch (e) {
        toast(e.message, true);
      } finally {
        submit.disabled = false;
      }
    },
  },
  el('label', { for: 'c-operation' }, 'Operation'), op,
  el('label', { for: 'c-package' }, 'Package'), pkg,
  el('label', { for: 'c-devices' }, 'Devices'), devices,
  el('label', { for: 'c-tags' }, 'Tags'), tags,
  el('label', { for: 'c-waves' }, 'Wave sizes'), waves,
  el('label', { for: 'c-success' }, 'Next wave at'), el('div', {}, succ, el('div', { class: 'hint' }, '% of a wave succeeded before the next one starts')),
  el('label', { for: 'c-error' }, 'Pause at'), el('div', {}, errT, el('div', { class: 'hint' }, '% of jobs failed')),
  el('label', { for: 'c-window-start' }, 'Install window'), el('div', {}, el('span', { class: 'actions' }, wStart, el('span', { class: 'muted', style: 'align-self:center' }, 'to'), wEnd, wTz),
    el('div', { class: 'hint' }, 'Optional: download now, install only inside this daily window (DownloadInstall*).')),
  el('span', {}), el('div', {}, submit));
  main.append(el('h1', {}, 'Campaigns'),
    el('div', { class: 'panel' }, el('h2', {}, 'Campaigns'), list),
    el('div', { class: 'panel' }, el('h2', {}, 'New campaign'), form));
  let stop = () => {};
  const tick = async () => {
    let r;
    try { r = await api('GET', '/api/campaigns'); } catch (e) { if (notAvailable(e, list)) { stop(); return; } throw e; }
    const cs = Array.isArray(r) ? r : r.campaigns || [];
    list.replaceChildren(table(['Campaign', 'Operation', 'Package', 'State', 'Progress', '', 'Controls'], cs.map((c) => {
      const n = countsOf(c);
      return el('tr', { dataset: { campaign: campaignId(c) } },
        el('td', {}, el('a', { class: 'mono', href: '#/campaigns/' + enc(campaignId(c)) }, campaignId(c))),
        el('td', {}, c.operation || ''), el('td', { class: 'mono' }, c.pkgId || ''), el('td', {}, badge(c.state)),
        el('td', { style: 'width:22%' }, progressBar(c)),
        el('td', { class: 'muted' }, `${(n.succeeded || 0) + (n.failed || 0)} / ${totalOf(c)}`),
        el('td', {}, ['completed', 'cancelled'].includes(c.state) ? el('span', { class: 'muted' }, '—') : campaignControls(c, tick)));
    }), 'No campaigns yet.'));
  };
  stop = poll(tick, 1000);
  return () => stop();
}

function pageCampaign(id) {
  const head = el('div', {});
  const bar = el('div', {});
  const legend = el('div', { class: 'legend' });
  const waves = el('div', {});
  const jobs = el('div', {});
  const controls = el('span', {});
  main.append(
    el('div', { class: 'head' }, el('h1', {}, el('a', { href: '#/campaigns' }, 'Campaigns'), ' / ', el('span', { class: 'mono' }, id)), controls),
    el('div', { class: 'panel' }, head, el('div', { style: 'margin-top:16px' }, bar, legend)),
    el('div', { class: 'panel' }, el('h2', {}, 'Waves'), waves),
    el('div', { class: 'panel', hidden: true, id: 'campaign-jobs-panel' }, el('h2', {}, 'Devices'), jobs),
  );
  let stop = () => {};
  let withTargets = true;
  const tick = async () => {
    let c;
    // Targets (one row per device) only while the campaign is small enough to list.
    try { c = await api('GET', `/api/campaigns/${enc(id)}${withTargets ? '?targets=1' : ''}`); if (typeof c.devices === 'number') withTargets = c.devices <= 200; } catch (e) { if (notAvailable(e, head)) { stop(); return; } throw e; }
    const n = countsOf(c);
    const total = totalOf(c);
    const done = (n.succeeded || 0) + (n.failed || 0) + (n.cancelled || 0);
    head.replaceChildren(el('dl', { class: 'kv' },
      el('dt', {}, 'State'), el('dd', { id: 'campaign-state' }, badge(c.state)),
      el('dt', {}, 'Operation'), el('dd', {}, c.operation || '—'),
      el('dt', {}, 'Package'), el('dd', { class: 'mono' }, c.pkgId || '—'),
      el('dt', {}, 'Target'), el('dd', {}, targetText(c.target)),
      el('dt', {}, 'Thresholds'), el('dd', {}, `next wave at ${pct(c.successThreshold)} succeeded, pause at ${pct(c.errorThreshold)} failed`),
      c.window ? [el('dt', {}, 'Install window'), el('dd', {}, `${c.window.start}–${c.window.end} ${c.window.tz || 'UTC'}`)] : null,
      el('dt', {}, 'Wave'), el('dd', {}, `${c.currentWave ?? '—'} of ${(c.waves || []).length}`),
      c.reason || c.error ? [el('dt', {}, 'Note'), el('dd', {}, c.reason || c.error)] : null,
      el('dt', {}, 'Progress'), el('dd', { id: 'campaign-progress' }, `${done} of ${total} done (${n.succeeded || 0} succeeded, ${n.failed || 0} failed${n.cancelled ? `, ${n.cancelled} cancelled` : ''})`)));
    bar.replaceChildren(progressBar(c));
    legend.replaceChildren(...JOB_STATES.concat(Object.keys(n).filter((k) => !JOB_STATES.includes(k))).filter((s) => n[s]).map((s) => el('span', {}, badge(s), ' ', String(n[s]))));
    controls.replaceChildren(campaignControls(c, tick));
    const ws = Array.isArray(c.waveStats) ? c.waveStats : (Array.isArray(c.waves) ? c.waves : []).map((size, i) => ({ wave: i + 1, size }));
    waves.replaceChildren(table(['Wave', 'Devices', 'State', 'Progress', 'Succeeded', 'Failed'], ws.map((w) => {
      const k = countsOf(w);
      const finished = (k.succeeded || 0) + (k.failed || 0) + (k.cancelled || 0);
      const short = (k.succeeded || 0) < w.size * (typeof c.successThreshold === 'number' ? c.successThreshold : 1);
      const st = w.started === undefined ? '' : !w.started ? 'waiting' : finished < w.size ? 'running' : short ? 'failed' : 'done';
      return el('tr', { dataset: { wave: w.wave } }, el('td', {}, String(w.wave)), el('td', {}, String(w.size)),
        el('td', {}, st ? badge(st) : '—'), el('td', { style: 'width:35%' }, progressBar(w, w.size)),
        el('td', {}, String(k.succeeded || 0)), el('td', {}, String(k.failed || 0)));
    }), 'No waves.'));
    if (Array.isArray(c.targets)) {
      document.getElementById('campaign-jobs-panel').hidden = false;
      jobs.replaceChildren(table(['Device', 'Wave', 'State', 'Job', 'Result'], c.targets.slice(0, 200).map((x) => el('tr', { dataset: { target: x.deviceId } },
        el('td', {}, el('a', { class: 'mono', href: '#/devices/' + enc(x.deviceId) }, x.deviceId)), el('td', {}, String(x.wave)), el('td', {}, badge(x.state)),
        el('td', { class: 'mono' }, x.jobId || ''), el('td', { title: x.error || '' }, x.resultCode != null ? String(x.resultCode) : x.error || '')))));
    }
  };
  stop = poll(tick, 1000);
  return () => stop();
}

// ---------- webhooks ----------
// Secrets go to the server once and are never read back: the API only says whether a webhook is signed.

const WEBHOOK_EVENTS = ['accepted', 'succeeded', 'failed'];
const DEFAULT_WEBHOOK_EVENTS = ['succeeded', 'failed'];

function eventsText(events) {
  return (events || []).includes('*') ? 'every change' : (events || []).join(', ');
}

function pageWebhooks() {
  const list = el('div', {});
  const deliveries = el('div', {});
  const deliveriesTitle = el('h2', {}, 'Deliveries');
  const deliveriesPanel = el('div', { class: 'panel', id: 'deliveries-panel', hidden: true }, deliveriesTitle, deliveries);
  const url = el('input', { type: 'text', id: 'wh-url', placeholder: 'http(s) URL that receives the job events', autocomplete: 'off' });
  const boxes = WEBHOOK_EVENTS.map((x) => el('input', { type: 'checkbox', id: 'wh-ev-' + x, value: x, checked: DEFAULT_WEBHOOK_EVENTS.includes(x) }));
  const all = el('input', { type: 'checkbox', id: 'wh-ev-all', value: '*' });
  const syncBoxes = () => { for (const b of boxes) b.disabled = all.checked; };
  all.addEventListener('change', syncBoxes);
  const secret = el('input', { type: 'password', id: 'wh-secret', autocomplete: 'new-password', placeholder: 'optional: signs deliveries (X-Scomo-Signature-256)' });
  const err = el('p', { class: 'error', id: 'wh-error' });
  const submit = el('button', { class: 'primary', type: 'submit', id: 'wh-create' }, 'Add webhook');
  let selected = '';
  let shownList = '';
  let shownDeliveries = '';

  const form = el('form', {
    class: 'grid',
    onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      // Nothing checked is sent as it is: the server's 400 says what it accepts.
      const body = { url: url.value.trim(), events: all.checked ? ['*'] : boxes.filter((b) => b.checked).map((b) => b.value) };
      if (secret.value) body.secret = secret.value;
      secret.value = '';
      submit.disabled = true;
      try {
        const r = await api('POST', '/api/webhooks', body);
        toast('Webhook added: ' + r.webhookId);
        form.reset();
        syncBoxes();
        await tick();
      } catch (e) {
        if (!(e instanceof AuthError)) err.textContent = e.message;
      } finally {
        submit.disabled = false;
      }
    },
  },
  el('label', { for: 'wh-url' }, 'URL'), url,
  el('label', {}, 'Events'), el('div', {},
    el('span', { class: 'checks' },
      boxes.map((b) => el('label', { class: 'check' }, b, ' ', b.value)),
      el('label', { class: 'check' }, all, ' every change')),
    el('div', { class: 'hint' }, 'Job states pushed to the URL; every change includes queued, notified and in-session.')),
  el('label', { for: 'wh-secret' }, 'Secret'), el('div', {}, secret, el('div', { class: 'hint' }, 'Kept by the server, never shown again.')),
  el('span', {}), el('div', {}, submit, err));

  main.append(el('h1', {}, 'Webhooks'),
    el('div', { class: 'panel' }, el('h2', {}, 'Webhooks'), list),
    deliveriesPanel,
    el('div', { class: 'panel' }, el('h2', {}, 'Add a webhook'), form));

  const remove = (w) => async () => {
    if (!confirm(`Remove webhook ${w.webhookId} (${w.url})? Deliveries not yet sent are dropped.`)) return;
    try {
      await api('DELETE', '/api/webhooks/' + enc(w.webhookId));
      toast('Webhook removed');
    } catch (e) {
      toast(e.message, true);
    }
    await tick().catch((e) => toast(e.message, true));
  };
  const show = (w) => () => {
    selected = selected === w.webhookId ? '' : w.webhookId;
    shownList = '';
    shownDeliveries = '';
    tick().catch((e) => toast(e.message, true));
  };

  // Redrawn only when the data changed, so a button is not swapped out under the pointer.
  const tick = async () => {
    let r;
    try { r = await api('GET', '/api/webhooks'); } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) { list.replaceChildren(el('p', { class: 'muted' }, 'This server has no webhook API (/api/webhooks).')); stop(); return; }
      throw e;
    }
    const ws = r.webhooks || [];
    if (selected && !ws.some((w) => w.webhookId === selected)) selected = '';
    const key = JSON.stringify([selected, ws]);
    if (key !== shownList) {
      shownList = key;
      list.replaceChildren(table(['Webhook', 'URL', 'Events', 'Signed', 'Created', ''], ws.map((w) => el('tr', { dataset: { webhook: w.webhookId }, class: w.webhookId === selected ? 'selected' : false },
        el('td', { class: 'mono' }, w.webhookId),
        el('td', { class: 'mono wrap' }, w.url),
        el('td', { 'data-events': '' }, eventsText(w.events)),
        el('td', { 'data-signed': w.signed ? 'yes' : 'no' }, w.signed ? badge('signed') : el('span', { class: 'muted' }, 'unsigned')),
        el('td', { title: when(w.createdAt) }, ago(w.createdAt)),
        el('td', { class: 'right' }, el('span', { class: 'actions' },
          el('button', { type: 'button', 'data-action': 'deliveries', onclick: show(w) }, w.webhookId === selected ? 'Hide deliveries' : 'Deliveries'),
          el('button', { type: 'button', class: 'danger', 'data-action': 'remove', onclick: remove(w) }, 'Remove'))))), 'No webhooks yet.'));
    }
    deliveriesPanel.hidden = !selected;
    if (!selected) return;
    const d = await api('GET', '/api/webhooks/' + enc(selected));
    const dk = JSON.stringify(d);
    if (dk === shownDeliveries) return;
    shownDeliveries = dk;
    deliveriesTitle.replaceChildren('Deliveries of ', el('span', { class: 'mono' }, d.webhookId), ' ', el('span', { class: 'muted' }, '(last 50)'));
    deliveries.replaceChildren(table(['Event', 'Job', 'State', 'Attempts', 'Last status', 'Last error', 'Delivered / next'], (d.deliveries || []).map((x) => el('tr', { dataset: { delivery: x.deliveryId } },
      el('td', {}, x.event), el('td', { class: 'mono' }, x.jobId), el('td', {}, badge(x.state)), el('td', {}, String(x.attempts)),
      el('td', {}, x.lastStatus != null ? String(x.lastStatus) : '—'),
      el('td', { title: x.lastError || '' }, x.lastError ? el('span', { class: 'muted' }, x.lastError.length > 60 ? x.lastError.slice(0, 59) + '…' : x.lastError) : ''),
      x.deliveredAt ? el('td', { title: when(x.deliveredAt) }, 'delivered ' + ago(x.deliveredAt))
        : x.nextAt ? el('td', {}, 'next try ' + when(x.nextAt)) : el('td', { class: 'muted' }, '—'))), 'No deliveries yet: they appear when a job this webhook listens to changes state.'));
  };
  let stop = () => {};
  stop = poll(tick, 1000);
  return () => stop();
}

function pct(x) { return typeof x === 'number' ? Math.round(x * 100) + ' %' : '—'; }

function targetText(t) {
  if (!t) return '—';
  const parts = [];
  if (Array.isArray(t.devices) && t.devices.length) parts.push(`${t.devices.length} device${t.devices.length === 1 ? '' : 's'} (${t.devices.slice(0, 5).join(', ')}${t.devices.length > 5 ? ', …' : ''})`);
  if (Array.isArray(t.tags) && t.tags.length) parts.push('tags: ' + t.tags.join(', '));
  return parts.join('; ') || '—';
}

render();
