// The schedule form (SPEC 9): fields -> YAML -> POST /api/v1/validate and
// /api/v1/preview. Plain JavaScript, no library, nothing fetched but the
// daemon's own API. Text from the server or the user only ever reaches the
// page through textContent.
(() => {
  const data = JSON.parse(document.getElementById('form-data').textContent);
  const form = document.getElementById('schedule-form');
  const $ = (id) => document.getElementById(id);
  const field = (name) => form.elements.namedItem(name);
  const val = (name) => {
    const f = field(name);
    return f && typeof f.value === 'string' ? f.value.trim() : '';
  };
  const checked = (name) => Array.from(form.querySelectorAll(`input[name="${name}"]:checked`)).map((i) => i.value);
  const list = (s) => s.split(/[,\s]+/).map((x) => x.trim()).filter(Boolean);

  // YAML scalars: plain when that reads back as the same string, else
  // double-quoted (a JSON string is a valid YAML double-quoted scalar).
  const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~)$/i;
  const plain = (s) => /^[A-Za-z0-9][A-Za-z0-9 _./@+-]*$/.test(s) && !/ $/.test(s)
    && !RESERVED.test(s) && !/^[-+]?(\d[\d_]*)?(\.\d*)?([eE][-+]?\d+)?$/.test(s) && !/^0[xob]/i.test(s);
  // JSON leaves some characters YAML forbids (DEL, C1 controls, U+FFFE/F)
  // and lone surrogates: escape them, or the whole file stops parsing.
  const quoted = (s) => JSON.stringify(s.toWellFormed ? s.toWellFormed() : s)
    .replace(/[\u007f-\u009f\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const q = (s) => (plain(s) ? s : quoted(s));
  const flow = (items) => `[${items.map(q).join(', ')}]`;
  // A whole number as YAML reads one back (no leading zeros), else a string
  // for the check to name.
  const num = (s) => (/^-?(0|[1-9]\d*)$/.test(s) ? s : q(s));

  // The file's path inside the schedules folder, and the modeline for it.
  const folder = data.folder || '';
  const inFolder = (p) => (folder && p.startsWith(folder + '/') ? p.slice(folder.length + 1) : p);
  const modeline = (p) => {
    const depth = inFolder(p).split('/').length - 1;
    return `# yaml-language-server: $schema=${'../'.repeat(depth + 1)}schemas/schedule.schema.json`;
  };

  const brandOf = (product) => (data.products[product] || {}).brand || '';
  const suggestedPath = () => {
    const id = val('id') || 'new-schedule';
    const brand = brandOf(val('product'));
    const rel = brand ? `${brand}/${id}.yaml` : `${id}.yaml`;
    return folder ? `${folder}/${rel}` : rel;
  };
  let pathTouched = Boolean(data.file);
  // Seconds of an edited `once.at` (the time field shows minutes): kept.
  let onceSeconds = '';
  const path = () => val('path') || suggestedPath();

  function documentYaml() {
    const out = [modeline(path()), 'apiVersion: adsched/v1', 'kind: Schedule'];
    out.push(`id: ${q(val('id'))}`, `name: ${q(val('name'))}`, `product: ${q(val('product'))}`);
    if (val('tenant_id')) out.push(`tenant_id: ${q(val('tenant_id'))}`);
    if (field('paused').checked) out.push('paused: true');
    out.push('schedule:');
    const at = JSON.stringify(val('at'));
    switch (val('preset')) {
      case 'daily': out.push(`  daily: { at: ${at} }`); break;
      case 'weekly': out.push(`  weekly: { day: ${val('weekday')}, at: ${at} }`); break;
      case 'monthly': out.push(`  monthly: { day: ${num(val('monthday'))}, at: ${at} }`); break;
      case 'once': out.push(`  once: { at: ${JSON.stringify(`${val('once_date')}T${val('at')}${onceSeconds}`)} }`); break;
      default: out.push(`  cron: ${JSON.stringify(val('cron'))}`);
    }
    out.push(`  timezone: ${q(val('timezone'))}`);
    for (const k of ['max_runs', 'retries']) if (val(k)) out.push(`  ${k}: ${num(val(k))}`);
    for (const k of ['catchup_window', 'timeout']) if (val(k)) out.push(`  ${k}: ${q(val(k))}`);
    out.push('templates:');
    const mode = checked('mode')[0] || 'unused';
    out.push(`  mode: ${mode}`);
    if (mode === 'unused') out.push(`  count: ${num(val('count'))}`);
    if (mode === 'specific') out.push(`  ids: ${flow(checked('ids'))}`);
    if (mode === 'uploaded') out.push(`  files: ${flow(val('files').split('\n').map((x) => x.trim()).filter(Boolean))}`);
    out.push('parameters:', `  num_variations: ${num(val('num_variations'))}`);
    const defaults = { content_source: 'hooks', color_mode: 'original', image_selection_mode: 'auto' };
    for (const [k, d] of Object.entries(defaults)) if (val(k) !== d) out.push(`  ${k}: ${val(k)}`);
    const dest = val('destination');
    if (dest !== 'none') {
      out.push('export:', `  destination: ${dest}`);
      if (dest.includes('email')) out.push(`  email: { to: ${flow(list(val('email_to')))} }`);
      if (dest.includes('slack')) {
        out.push(val('slack_kind') === 'channel'
          ? `  slack: { channel: ${q(val('slack_channel'))} }`
          : `  slack: { webhook_env: ${q(val('slack_webhook_env'))} }`);
      }
      if (val('review') === 'required') {
        out.push('  review: required');
        if (val('review_window')) out.push(`  review_window: ${q(val('review_window'))}`);
      }
    }
    if (field('alerts').checked) {
      const lines = [];
      const on = checked('alerts_on');
      if (on.length !== 4) lines.push(`  on: ${flow(on)}`);
      if (val('alerts_slack_channel')) lines.push(`  slack: { channel: ${q(val('alerts_slack_channel'))} }`);
      if (val('alerts_email_to')) lines.push(`  email: { to: ${flow(list(val('alerts_email_to')))} }`);
      // Nothing chosen: the daemon's default destinations, for every event.
      out.push(...(lines.length ? ['alerts:', ...lines] : ['alerts: {}']));
    }
    return out.join('\n') + '\n';
  }

  // Editing a file of several documents: the file with this schedule's
  // document replaced, so the download is the whole file and line numbers
  // are the file's. The document is found by its id in the file as it is
  // now (the daemon may run an older version of it): if it is not there
  // exactly once, the form shows its own document alone and says so.
  let spliceNote = '';
  function fileYaml() {
    const doc = documentYaml();
    spliceNote = '';
    if (!data.file_text || path() !== data.file || !data.spec) return doc;
    const lines = data.file_text.replace(/\n$/, '').split('\n');
    const starts = [0];
    lines.forEach((l, i) => { if (i > 0 && /^---(\s|$)/.test(l)) starts.push(i); });
    if (starts.length === 1) return doc;
    const ends = starts.slice(1).concat([lines.length]);
    const id = String(data.spec.id).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const isIt = new RegExp(`^id:\\s*["']?${id}["']?\\s*(#.*)?$`, 'm');
    const found = starts.map((s, k) => k).filter((k) => {
      const text = lines.slice(starts[k], ends[k]).join('\n');
      return /^kind:\s*["']?Schedule["']?\s*(#.*)?$/m.test(text) && isIt.test(text);
    });
    if (found.length !== 1) {
      spliceNote = `The schedule's document was not found once in ${data.file}: this is its document alone; put it in place of the old one by hand.`;
      return doc;
    }
    const k = found[0];
    const head = k === 0 ? [] : ['---'];
    const out = lines.slice(0, starts[k]).concat(head, doc.replace(/\n$/, '').split('\n'), lines.slice(ends[k]));
    return out.join('\n') + '\n';
  }

  function fill(spec) {
    const set = (name, v) => { if (v !== undefined && v !== null && field(name)) field(name).value = String(v); };
    const tick = (name, values) => form.querySelectorAll(`input[name="${name}"]`).forEach((i) => { i.checked = values.includes(i.value); });
    set('id', spec.id); set('name', spec.name); set('product', spec.product); set('tenant_id', spec.tenant_id);
    field('paused').checked = spec.paused === true;
    const s = spec.schedule || {};
    for (const preset of ['daily', 'weekly', 'monthly', 'once', 'cron']) {
      if (s[preset] === undefined) continue;
      set('preset', preset);
      if (preset === 'cron') set('cron', s.cron);
      else if (preset === 'once') {
        const [d, t] = String(s.once.at).split('T');
        set('once_date', d);
        set('at', t.slice(0, 5));
        onceSeconds = t.slice(5);
      }
      else set('at', s[preset].at);
      if (preset === 'weekly') set('weekday', s.weekly.day);
      if (preset === 'monthly') set('monthday', s.monthly.day || 1);
    }
    set('timezone', s.timezone || 'America/Los_Angeles');
    for (const k of ['max_runs', 'catchup_window', 'retries', 'timeout']) set(k, s[k]);
    const t = spec.templates || {};
    tick('mode', [t.mode || 'unused']);
    set('count', t.count);
    tick('ids', t.ids || []);
    set('files', (t.files || []).join('\n'));
    const p = spec.parameters || {};
    for (const k of ['num_variations', 'content_source', 'color_mode', 'image_selection_mode']) set(k, p[k]);
    const e = spec.export || {};
    set('destination', e.destination || 'none');
    set('email_to', ((e.email || {}).to || []).join(', '));
    if (e.slack && e.slack.webhook_env) { set('slack_kind', 'webhook_env'); set('slack_webhook_env', e.slack.webhook_env); }
    else if (e.slack) { set('slack_kind', 'channel'); set('slack_channel', e.slack.channel); }
    set('review', e.review || 'none');
    set('review_window', e.review_window);
    if (spec.alerts) {
      field('alerts').checked = true;
      tick('alerts_on', spec.alerts.on || ['failed', 'missed', 'export_failed', 'interrupted']);
      set('alerts_slack_channel', (spec.alerts.slack || {}).channel);
      set('alerts_email_to', ((spec.alerts.email || {}).to || []).join(', '));
    }
  }

  // Sections that apply to one choice: data-show="name=v1,v2".
  function showHide() {
    form.querySelectorAll('[data-show]').forEach((el) => {
      const [name, values] = el.dataset.show.split('=');
      const f = field(name);
      let v = f && f.type === 'checkbox' ? (f.checked ? 'on' : 'off') : val(name);
      if (name === 'mode') v = checked('mode')[0];
      el.hidden = !values.split(',').includes(v);
    });
    const note = $('unused-note');
    const product = data.products[val('product')];
    note.textContent = product
      ? `${product.unused} of the pool's ${data.pool} templates are still unused for ${product.name}.`
        + (Number(val('count')) > product.unused ? ` A run asking for ${val('count')} makes ads from those ${product.unused}; later runs find none until templates are added.` : '')
      : `The pool holds ${data.pool} templates.`;
  }

  function showYaml(text, findings) {
    const pre = $('yaml');
    pre.textContent = '';
    const marks = new Map(findings.map((f) => [f.line, f.severity]));
    text.replace(/\n$/, '').split('\n').forEach((line, i) => {
      const span = document.createElement('span');
      span.id = `yaml-line-${i + 1}`;
      span.textContent = line;
      const mark = marks.get(i + 1);
      if (mark) span.className = mark === 'error' ? 'bad' : 'warn';
      pre.appendChild(span);
    });
  }

  function showFindings(report) {
    const box = $('findings');
    box.textContent = '';
    const all = report.errors.map((f) => ({ ...f, severity: 'error' }))
      .concat(report.warnings.map((f) => ({ ...f, severity: 'warning' })))
      .sort((a, b) => a.line - b.line || a.column - b.column);
    const p = document.createElement('p');
    p.className = report.valid ? 'notice ok' : 'notice error';
    p.textContent = report.valid
      ? `Valid${report.warnings.length ? `, with ${report.warnings.length} warning(s)` : ''}: adsched validate accepts it.`
      : `${report.errors.length} error(s): adsched validate would refuse it.`;
    box.appendChild(p);
    if (all.length) {
      const ul = document.createElement('ul');
      ul.className = 'findings';
      for (const f of all) {
        const li = document.createElement('li');
        li.className = f.severity;
        const a = document.createElement('a');
        a.href = `#yaml-line-${f.line}`;
        a.textContent = `line ${f.line}, column ${f.column}`;
        const code = document.createElement('code');
        code.textContent = f.code;
        li.append(`${f.severity === 'error' ? 'Error' : 'Warning'} at `, a, `: ${f.message} `, code);
        ul.appendChild(li);
      }
      box.appendChild(ul);
    }
    return all;
  }

  function showTimes(preview) {
    const desc = $('description');
    const ol = $('times');
    ol.textContent = '';
    if (!preview) { desc.textContent = '—'; return; }
    desc.textContent = preview.description;
    // As the dashboard writes times: "Mon 7 Dec 2026, 09:00 PST".
    const fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: preview.timezone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
    });
    const human = (d) => {
      const p = Object.fromEntries(fmt.formatToParts(d).map((x) => [x.type, x.value]));
      return `${p.weekday} ${p.day} ${p.month} ${p.year}, ${p.hour}:${p.minute} ${p.timeZoneName}`;
    };
    for (const t of preview.times) {
      const li = document.createElement('li');
      const time = document.createElement('time');
      time.dateTime = t;
      time.title = t;
      time.textContent = human(new Date(t));
      li.appendChild(time);
      ol.appendChild(li);
    }
    if (!preview.times.length) ol.textContent = 'No time ahead.';
  }

  function links(text) {
    const p = path();
    const name = p.split('/').pop() || 'schedule.yaml';
    const dl = $('download');
    dl.download = name;
    if (blobUrl) URL.revokeObjectURL(blobUrl);
    blobUrl = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }));
    dl.href = blobUrl;
    const propose = $('propose');
    if (propose && data.repo) {
      const base = `${data.repo.url}`;
      const branch = data.repo.branch.split('/').map(encodeURIComponent).join('/');
      if (data.file && p === data.file) {
        propose.href = `${base}/edit/${branch}/${p.split('/').map(encodeURIComponent).join('/')}`;
        $('propose-hint').textContent = 'GitHub opens the file to edit: paste the YAML (Copy YAML) over it, then propose the change.';
      } else {
        propose.href = `${base}/new/${branch}?filename=${encodeURIComponent(p)}&value=${encodeURIComponent(text)}`;
        $('propose-hint').textContent = 'GitHub opens a new file with this path and content; propose it as a pull request.';
      }
    }
  }

  // Each change takes a number; an answer about an older text is dropped.
  let seq = 0;
  let timer = null;
  let blobUrl = null;
  async function post(url, body) {
    const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const text = await r.text();
    let parsed = null;
    try { parsed = JSON.parse(text); } catch (e) { parsed = { error: text.slice(0, 300) }; }
    return { status: r.status, body: parsed };
  }
  async function check(text, mine) {
    try {
      const v = await post('/api/v1/validate', { yaml: text, path: path() });
      if (mine !== seq) return;
      if (v.status !== 200) {
        $('findings').textContent = (v.body && v.body.error) || `The daemon answered ${v.status}.`;
        showTimes(null);
        return;
      }
      showYaml(text, showFindings(v.body));
      let preview = null;
      if (v.body.valid) {
        const body = { yaml: text, path: path(), count: 5 };
        if (val('id')) body.id = val('id');
        const p = await post('/api/v1/preview', body);
        if (mine !== seq) return;
        if (p.status === 200) preview = p.body;
      }
      showTimes(preview);
      form.dataset.checked = String(mine);
      document.body.dataset.checked = text;
    } catch (e) {
      if (mine === seq) $('findings').textContent = `The daemon did not answer (${e.message}).`;
    }
  }

  function update() {
    if (!pathTouched) field('path').value = suggestedPath();
    showHide();
    const text = fileYaml();
    showYaml(text, []);
    links(text);
    if (spliceNote) $('propose-hint').textContent = spliceNote;
    seq += 1;
    const mine = seq;
    clearTimeout(timer);
    timer = setTimeout(() => check(text, mine), 250);
  }

  if (data.spec) fill(data.spec);
  if (data.file) field('path').value = data.file;
  field('path').addEventListener('input', () => { pathTouched = val('path') !== ''; });
  form.addEventListener('input', update);
  form.addEventListener('change', update);
  form.addEventListener('submit', (e) => e.preventDefault());
  $('copy').addEventListener('click', async () => {
    const text = fileYaml();
    try { await navigator.clipboard.writeText(text); $('copy').textContent = 'Copied'; } catch (e) { $('copy').textContent = 'Select the YAML and copy it'; }
  });
  update();
})();
