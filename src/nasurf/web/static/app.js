// nasurf workbench page script: uploads, forms, background jobs and plotly figures.
// All user text reaches the page through textContent or plotly (never innerHTML).
"use strict";

function csrf() {
  const m = document.cookie.match(/(?:^|; )nasurf_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : document.querySelector('meta[name="csrf-token"]').content;
}

function showError(msg) {
  const el = document.getElementById("error");
  el.textContent = msg; el.hidden = false; window.scrollTo(0, 0);
}
function showNotice(msg) {
  const el = document.getElementById("notice");
  el.textContent = msg; el.hidden = false;
}

async function api(method, url, body, raw) {
  const opts = {method, headers: {"X-CSRF-Token": csrf()}, credentials: "same-origin"};
  if (raw !== undefined) { opts.body = raw; }
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  let resp;
  try { resp = await fetch(url, opts); } catch (e) { throw new Error("the server cannot be reached"); }
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) throw new Error((data && data.error) || ("request failed (" + resp.status + ")"));
  return data;
}

function fieldValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.name === "file") continue;
    if (el.type === "checkbox") {
      if (el.name === "strategies") { if (el.checked) (out[el.name] = out[el.name] || []).push(el.value); }
      else out[el.name] = el.checked;
    } else if (el.value !== "") out[el.name] = el.value;
  }
  return out;
}

// ---------------------------------------------------------------- jobs
const JOB_KEY = "nasurf-running-job";
async function followJob(id) {
  localStorage.setItem(JOB_KEY, String(id));
  const box = document.getElementById("job");
  const text = document.getElementById("job-text");
  const bar = document.getElementById("job-progress");
  document.getElementById("job-cancel").onclick = () => api("POST", `/api/jobs/${id}/cancel`).catch(e => showError(e.message));
  box.hidden = false;
  for (;;) {
    let j;
    try { j = await api("GET", `/api/jobs/${id}`); } catch (e) { showError(e.message); break; }
    text.textContent = `job #${id} ${j.kind}: ${j.status}${j.message ? " – " + j.message : ""}`;
    bar.value = j.progress;
    if (j.status === "done") { localStorage.removeItem(JOB_KEY); location.href = `/results/${j.result_id}`; return; }
    if (["failed", "cancelled", "interrupted"].includes(j.status)) {
      localStorage.removeItem(JOB_KEY); box.hidden = true;
      if (j.status === "failed") showError(j.message); else showNotice(`job #${id} ${j.status}`);
      return;
    }
    await new Promise(r => setTimeout(r, 300));
  }
}

async function runAnalysis(kind, body) {
  document.getElementById("error").hidden = true;
  const r = await api("POST", `/api/analyses/${kind}?wait=2`, body);
  if (r.status === "done" && r.result_id) { location.href = `/results/${r.result_id}`; return; }
  if (r.status === "failed") { showError(r.message); return; }
  await followJob(r.job);
}

function wireForms() {
  for (const form of document.querySelectorAll("form.analysis")) {
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      const files = form.dataset.files;
      let ids = [];
      if (files === "checked") ids = [...form.querySelectorAll('input[name="file"]:checked')].map(e => Number(e.value));
      else if (files !== "none") ids = [Number(files)];
      const body = {options: fieldValues(form)};
      if (files !== "none") body.file_ids = ids;
      runAnalysis(form.dataset.kind, body).catch(e => showError(e.message));
    });
  }
  for (const form of document.querySelectorAll("form[data-api]")) {
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      const vals = fieldValues(form);
      const body = form.dataset.wrap ? {[form.dataset.wrap]: vals} : vals;
      api("POST", form.dataset.api, body).then(() => location.reload()).catch(e => showError(e.message));
    });
  }
  for (const form of document.querySelectorAll("form[data-assign]")) {
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      api("POST", `/api/files/${form.dataset.assign}/sample`, {sample_id: form.elements.sample_id.value || null})
        .then(() => location.reload()).catch(e => showError(e.message));
    });
  }
  for (const b of document.querySelectorAll("[data-delete]")) {
    b.addEventListener("click", () => {
      if (!confirm(`Delete ${b.dataset.what}? You can undo this for 24 hours.`)) return;
      api("DELETE", b.dataset.delete).then(() => { location.href = b.dataset.then || location.href; })
        .catch(e => showError(e.message));
    });
  }
  for (const b of document.querySelectorAll("[data-post]")) {
    b.addEventListener("click", () => api("POST", b.dataset.post).then(() => location.reload()).catch(e => showError(e.message)));
  }
  for (const b of document.querySelectorAll("[data-svg]")) {
    b.addEventListener("click", () => {
      for (const p of document.querySelectorAll(".js-plotly-plot")) Plotly.downloadImage(p, {format: "svg", filename: p.id || "figure"});
    });
  }
}

// ---------------------------------------------------------------- uploads
async function uploadFiles(fileList) {
  const log = document.getElementById("upload-log");
  let ok = 0;
  for (const f of fileList) {
    const li = document.createElement("li");
    li.textContent = `${f.name}: uploading…`;
    log.appendChild(li);
    try {
      const r = await api("POST", `/api/files?name=${encodeURIComponent(f.name)}`, undefined, f);
      li.textContent = `${f.name}: ${r.created ? "stored" : "already stored"} (${r.file.format || "format not recognised"})`;
      ok++;
    } catch (e) { li.textContent = `${f.name}: ${e.message}`; li.className = "error-line"; }
  }
  if (ok === fileList.length) location.reload();
}

function wireUploads() {
  const drop = document.getElementById("drop");
  if (!drop) return;
  const input = document.getElementById("file-input");
  input.addEventListener("change", () => uploadFiles([...input.files]));
  drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); uploadFiles([...e.dataTransfer.files]); });
}

// ---------------------------------------------------------------- figures
// Okabe-Ito: distinguishable with the common colour-vision deficiencies
const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"];
// the legend goes below the x-axis title (not over it); the right margin holds a second
// y axis's tick labels
const LAYOUT = {colorway: PALETTE, margin: {l: 60, r: 60, t: 30, b: 50}, hovermode: "closest", legend: {orientation: "h", y: -0.25, yanchor: "top"}};
// plotly.js 3 takes titles only as {text: ...}
function titled(layout) {
  const out = Object.assign({}, layout);
  if (typeof out.title === "string") out.title = {text: out.title, font: {size: 14}};
  for (const k of Object.keys(out)) {
    if (/^[xy]axis\d*$/.test(k) && out[k] && typeof out[k].title === "string") out[k] = Object.assign({}, out[k], {title: {text: out[k].title}});
  }
  return out;
}
function plot(id, traces, layout) {
  const el = document.getElementById(id);
  if (!el) return;
  Plotly.newPlot(el, traces, titled(Object.assign({}, LAYOUT, layout)), {displaylogo: false, responsive: true,
    toImageButtonOptions: {format: "png", filename: id}});
}
function pageData() {
  const el = document.getElementById("page-data");
  return el ? JSON.parse(el.textContent) : null;
}

const RENDER = {
  file(d) {
    const p = d.plot; if (!p) return;
    if (p.kind === "nyquist") {
      plot("quicklook", [{x: p.x, y: p.y, mode: "markers", name: "measured"}],
        {title: "Nyquist", xaxis: {title: p.xlabel}, yaxis: {title: p.ylabel, scaleanchor: "x"}});
    } else {
      plot("quicklook", [{x: p.x, y: p.y, name: "E", mode: "lines"}, {x: p.x, y: p.y2, name: "I", mode: "lines", yaxis: "y2"}],
        {title: "Quick look", xaxis: {title: p.xlabel}, yaxis: {title: p.ylabel}, yaxis2: {title: p.y2label, overlaying: "y", side: "right"}});
    }
  },
  cycling(d) {
    const spec = d.capacity_unit === "mAh/g";
    const u = spec ? "mAh g⁻¹" : "mAh";
    const c = d.cycles;
    const key = p => spec ? `${p}_mAh_g` : `${p}_mAh`;
    plot("capacity-plot", [
      {x: c.map(r => r.cycle), y: c.map(r => r[key("sodiation")]), name: "sodiation", mode: "lines+markers"},
      {x: c.map(r => r.cycle), y: c.map(r => r[key("desodiation")]), name: "desodiation", mode: "lines+markers"},
      {x: c.map(r => r.cycle), y: c.map(r => r.coulombic_efficiency === null ? null : 100 * r.coulombic_efficiency), name: "CE (%)", yaxis: "y2", mode: "markers"}],
      {title: "Capacity and CE", xaxis: {title: "cycle", dtick: 1}, yaxis: {title: `capacity (${u})`, rangemode: "tozero"},
       yaxis2: {title: "CE (%)", overlaying: "y", side: "right"}});
    const prof = (d.series || {}).profiles || [];
    plot("profile-plot", prof.map(p => ({x: p.capacity, y: p.voltage_V, mode: "lines", name: `cycle ${p.cycle} ${p.process}`})),
      {title: "Voltage profiles", xaxis: {title: `capacity (${u})`}, yaxis: {title: "E (V vs Na⁺/Na)"}});
    const dq = (d.series || {}).dqdv;
    if (dq && dq.cycle && dq.cycle.length) {
      const groups = {};
      dq.cycle.forEach((c, i) => { const k = `cycle ${c} ${dq.branch[i]}`; (groups[k] = groups[k] || {x: [], y: []}); groups[k].x.push(dq.voltage_V[i]); groups[k].y.push(dq.dqdv[i]); });
      plot("dqdv-plot", Object.entries(groups).map(([k, g]) => ({x: g.x, y: g.y, name: k, mode: "lines"})),
        {title: "dQ/dV", xaxis: {title: "E (V vs Na⁺/Na)"}, yaxis: {title: `dQ/dV (${u} V⁻¹)`}});
    }
  },
  cv(d) {
    const b = d.b_map || {};
    plot("bmap-plot", ["anodic", "cathodic"].filter(k => b[k]).map(k => ({x: b[k].potential_V, y: b[k].b, name: `b(E) ${k}`, mode: "lines"})),
      {title: "b(E)", xaxis: {title: "E (V)"}, yaxis: {title: "b", range: [0, 1.2]}});
    const dunn = d.dunn || [];
    if (dunn.length) {
      const k = Object.keys(dunn[0]).find(c => /capacitive.*fraction|fraction.*capacitive/.test(c));
      const rate = Object.keys(dunn[0]).find(c => /scan_rate/.test(c));
      if (k && rate) plot("dunn-plot", [{x: dunn.map(r => Number(r[rate].toPrecision(3)) + " mV/s"), y: dunn.map(r => 100 * r[k]), type: "bar", name: "capacitive"}],
        {title: "Dunn capacitive fraction", xaxis: {title: "scan rate", type: "category"}, yaxis: {title: "capacitive (%)", range: [0, 100]}});
    }
  },
  gitt(d) {
    const p = d.pulses || [];
    const dk = p.length ? Object.keys(p[0]).find(c => /^D_/.test(c)) : null;
    const x = p.length ? Object.keys(p[0]).find(c => /soc|state|x_/.test(c)) : null;
    if (dk) plot("gitt-plot", [{x: p.map(r => x ? r[x] : r.pulse), y: p.map(r => r[dk]), mode: "lines+markers", name: dk}],
      {title: "D vs state of charge", xaxis: {title: x || "pulse"}, yaxis: {title: dk, type: "log"}});
  },
  eis(d) {
    const m = d.measured;
    const traces = [{x: m.re, y: m.im.map(v => -v), mode: "markers", name: "measured"}];
    for (const f of d.fit_curves || []) traces.push({x: f.re, y: f.im.map(v => -v), mode: "lines", name: `fit ${f.spectrum}`});
    plot("nyquist-plot", traces, {title: "Nyquist", xaxis: {title: "Z' (Ω)"}, yaxis: {title: "−Z'' (Ω)", scaleanchor: "x"}});
    const mod = m.re.map((r, i) => Math.hypot(r, m.im[i]));
    const bt = [{x: m.f, y: mod, mode: "markers", name: "|Z| measured"}];
    for (const f of d.fit_curves || []) bt.push({x: f.f, y: f.re.map((r, i) => Math.hypot(r, f.im[i])), mode: "lines", name: `|Z| fit ${f.spectrum}`});
    plot("bode-plot", bt, {title: "Bode", xaxis: {title: "f (Hz)", type: "log"}, yaxis: {title: "|Z| (Ω)", type: "log"}});
  },
  study(d) {
    const per = d.groups.filter(g => g.metric === "desodiation_capacity" && g.key !== null);
    const traces = [];
    const byGroup = {};
    for (const g of per) (byGroup[g.group] = byGroup[g.group] || []).push(g);
    Object.entries(byGroup).forEach(([name, rows], gi) => {
      rows.sort((a, b) => a.key - b.key);
      const color = PALETTE[gi % PALETTE.length];
      const x = rows.map(r => r.key), m = rows.map(r => r.mean), s = rows.map(r => r.sd || 0);
      traces.push({x, y: m.map((v, i) => v + s[i]), mode: "lines", line: {width: 0, color}, showlegend: false, hoverinfo: "skip", legendgroup: name});
      traces.push({x, y: m.map((v, i) => v - s[i]), mode: "lines", line: {width: 0, color}, fill: "tonexty", fillcolor: color + "40", showlegend: false, hoverinfo: "skip", legendgroup: name});
      traces.push({x, y: m, mode: "lines+markers", line: {color}, marker: {color}, name: `${name} (n=${rows[0].n})`, legendgroup: name,
        customdata: s, hovertemplate: "cycle %{x}: %{y:.1f} ± %{customdata:.1f}<extra>" + name.replace(/</g, "&lt;") + "</extra>"});
    });
    const unit = per.length ? per[0].unit : "";
    plot("study-plot", traces, {title: "Desodiation capacity per cycle (mean ± SD)", xaxis: {title: "cycle", dtick: 1}, yaxis: {title: `desodiation (${unit})`}});
    literature(d, byGroup, unit);
    const ice = d.groups.filter(g => g.metric === "initial_coulombic_efficiency");
    plot("study-ice", [{x: ice.map(g => g.group), y: ice.map(g => 100 * g.mean), type: "bar", name: "ICE",
      error_y: {type: "data", array: ice.map(g => 100 * (g.sd || 0))}}], {title: "Initial Coulombic efficiency (mean ± SD)", yaxis: {title: "ICE (%)"}});
  },
  sim_compare(d) {
    let traces, layout;
    if (d.protocol === "rate") {
      // the protocol returns to the first current at the end: draw that recovery step as its
      // own marker, not as a line jumping back across the log axis
      traces = [];
      d.runs.forEach((r, i) => {
        const color = PALETTE[i % PALETTE.length];
        const t = r.table;
        const rec = t.length > 1 && t[t.length - 1].current_mA_g === t[0].current_mA_g;
        const main = rec ? t.slice(0, -1) : t;
        traces.push({x: main.map(q => q.current_mA_g), y: main.map(q => q.desodiation_mAh_g), name: r.strategy, mode: "lines+markers", line: {color}, marker: {color}, legendgroup: r.strategy});
        if (rec) traces.push({x: [t[t.length - 1].current_mA_g], y: [t[t.length - 1].desodiation_mAh_g], name: `${r.strategy} (back at ${t[0].current_mA_g})`, mode: "markers", marker: {color, symbol: "diamond-open", size: 11}, legendgroup: r.strategy, showlegend: false});
      });
      layout = {xaxis: {title: "current (mA g⁻¹)", type: "log"}, yaxis: {title: "desodiation (mAh g⁻¹)"}};
    } else if (d.protocol === "cycling") {
      traces = d.runs.map(r => ({x: r.table.map(t => t.cycle), y: r.table.map(t => t.desodiation_mAh_g), name: r.strategy, mode: "lines+markers"}));
      layout = {xaxis: {title: "cycle"}, yaxis: {title: "desodiation (mAh g⁻¹)", rangemode: "tozero"}};
    } else if (d.protocol === "gitt") {
      traces = d.runs.map(r => ({x: r.series.time_h, y: r.series.voltage_V, name: r.strategy, mode: "lines"}));
      layout = {xaxis: {title: "time (h)"}, yaxis: {title: "E (V vs Na⁺/Na)"}};
    } else {
      traces = d.runs.map(r => ({x: r.series.voltage_V, y: r.series.current_A_g, name: r.strategy, mode: "lines"}));
      layout = {xaxis: {title: "E (V vs Na⁺/Na)"}, yaxis: {title: "i (A g⁻¹), anodic +"}};
    }
    const m = d.measured;
    if (m) {
      // the measured file on the same axes, in black (the strategies take the palette)
      const what = m.process && m.process !== "desodiation" ? ` (${m.process})` : "";
      const style = {name: `measured${what}: ${m.file ? m.file.name : m.name}`, marker: {color: "#000000", size: 7, symbol: "circle-open"}, line: {color: "#000000", width: 1.5}};
      if (d.protocol === "rate") traces.push(Object.assign({x: m.current_mA_g, y: m.capacity_mAh_g, mode: "markers"}, style));
      else if (d.protocol === "cycling") traces.push(Object.assign({x: m.cycle, y: m.capacity_mAh_g, mode: "markers"}, style));
      else if (d.protocol === "gitt") traces.push(Object.assign({x: m.time_h, y: m.voltage_V, mode: "lines"}, style));
      else traces.push(Object.assign({x: m.voltage_V, y: m.current_A_g, mode: "lines"}, style));
    }
    plot("compare-plot", traces, Object.assign({title: `${d.material}: ${d.protocol}`}, layout));
  },
  sim_fit(d) {
    const o = d.overlay; if (!o) return;
    plot("fit-plot", [
      {x: o.capacity_mAh_g, y: o.measured_V, mode: "markers", name: "measured", marker: {size: 5, color: "#000000"}},
      {x: o.capacity_mAh_g, y: o.simulated_V, mode: "lines", name: "best fit", line: {color: PALETTE[1], width: 2.5}}],
      {title: `measured vs best fit at ${o.current_mA_g.toPrecision(3)} mA g⁻¹ (RMS ${(1e3 * d.residual_rms).toPrecision(3)} mV)`,
       xaxis: {title: "capacity (mAh g⁻¹)"}, yaxis: {title: "E (V vs Na⁺/Na)"}});
  },
  sim_sweep(d) {
    const sel = document.getElementById("sweep-metric");
    const p0 = d.parameters[0], p1 = d.parameters[1];
    const draw = () => {
      const m = sel.value, groups = {};
      for (const r of d.rows) { const k = p1 ? `${p1} = ${Number(r[p1]).toPrecision(3)}` : m; (groups[k] = groups[k] || []).push(r); }
      const traces = Object.entries(groups).map(([k, rows]) => ({x: rows.map(r => r[p0]), y: rows.map(r => r[m]), name: k, mode: "lines+markers"}));
      const vals = d.rows.map(r => r[p0]).filter(v => v > 0);
      const log = vals.length && Math.max(...vals) / Math.min(...vals) > 50;
      plot("sweep-plot", traces, {title: `${m} vs ${p0}`, xaxis: {title: p0, type: log ? "log" : "linear"}, yaxis: {title: m}});
    };
    // the figure files follow the chosen metric
    const links = () => { for (const a of document.querySelectorAll("a[data-fig]")) a.href = a.href.split("?")[0] + "?metric=" + encodeURIComponent(sel.value); };
    sel.addEventListener("change", () => { draw(); links(); }); draw(); links();
  },
  sim_validate(d) {
    const rows = d.rows.filter(r => r.simulated_mAh_g !== null && r.reported_mAh_g !== null);
    const esc = s => String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
    const hosts = [...new Set(rows.map(r => r.host))];
    const traces = hosts.map((h, i) => {
      const rs = rows.filter(r => r.host === h);
      return {x: rs.map(r => r.reported_mAh_g), y: rs.map(r => r.simulated_mAh_g), mode: "markers", name: h, marker: {color: PALETTE[i % PALETTE.length]},
        text: rs.map(r => esc(`${r.strategy} · ${r.quantity} at ${r.current_mA_g} mA/g`) + "<br>" + esc(r.citation || "")), hovertemplate: "%{text}<br>reported %{x:.0f}, simulated %{y:.0f} mAh/g<extra></extra>"};
    });
    const top = Math.max(10, ...rows.map(r => Math.max(r.reported_mAh_g, r.simulated_mAh_g)));
    traces.push({x: [0, top], y: [0, top], mode: "lines", name: "simulated = reported", line: {dash: "dot", color: "#888"}});
    plot("validate-plot", traces, {title: "Simulated vs reported capacity", xaxis: {title: "reported (mAh g⁻¹)"}, yaxis: {title: "simulated (mAh g⁻¹)"}});
  },
};

// a study's groups among the literature: the knowledge base's cycling capacities (grey,
// citation on hover) with each group's mean desodiation capacity at its last cycle
async function literature(d, byGroup, unit) {
  if (!document.getElementById("study-literature") || unit !== "mAh/g") return;
  let kb;
  try { kb = await api("GET", "/api/kb?quantity=cycling_capacity&sample_role=treated"); } catch (e) { showError(e.message); return; }
  const esc = s => String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const recs = kb.records.filter(r => r.cycles);
  const traces = [{x: recs.map(r => r.cycles), y: recs.map(r => r.value), mode: "markers", name: `literature (n = ${recs.length})`,
    marker: {color: "#9aa3ad"}, text: recs.map(r => esc(`${r.material} · ${r.strategy}`) + "<br>" + esc(`ref ${r.ref ?? "–"}: ${r.citation || r.location || ""}`)),
    hovertemplate: "%{text}<br>%{y} mAh/g after %{x} cycles<extra></extra>"}];
  Object.entries(byGroup).forEach(([name, rows], gi) => {
    const last = rows.reduce((a, b) => (b.key > a.key ? b : a));
    traces.push({x: [last.key], y: [last.mean], error_y: {type: "data", array: [last.sd || 0]}, mode: "markers", name,
      marker: {size: 14, symbol: "star", color: PALETTE[gi % PALETTE.length]},
      hovertemplate: esc(name) + ": %{y:.1f} mAh/g at cycle %{x}<extra></extra>"});
  });
  plot("study-literature", traces, {title: "Groups among the literature (cycling capacity)", xaxis: {title: "cycles", type: "log"}, yaxis: {title: "capacity (mAh g⁻¹)"}});
}

// ---------------------------------------------------------------- knowledge base
function kbCell(tr, v) { const td = document.createElement("td"); td.textContent = v === null || v === undefined ? "" : v; tr.appendChild(td); }
async function kbLoad() {
  const form = document.getElementById("kb-filters");
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(fieldValues(form))) q.set(k, v);
  let d;
  try { d = await api("GET", `/api/kb?${q}`); } catch (e) { showError(e.message); return; }
  document.getElementById("kb-count").textContent = `${d.count} records`;
  for (const a of document.querySelectorAll("[data-kbfig]")) a.href = `/api/kb/figure/${a.dataset.kbfig}?${q}`;
  const body = document.querySelector("#kb-table tbody");
  body.replaceChildren();
  for (const r of d.records) {
    const tr = document.createElement("tr");
    for (const v of [r.id, r.material, r.strategy, r.sample_role, r.quantity, r.value, r.unit, r.current_mA_g, r.cycles, r.ref, r.citation || r.location]) kbCell(tr, v);
    body.appendChild(tr);
  }
  const esc = s => String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  // each field escaped, the line breaks kept as markup (plotly hover text is HTML)
  const cite = r => [r.material, `${r.strategy} · ${r.quantity} = ${r.value} ${r.unit}`,
    `ref ${r.ref ?? "–"}: ${(r.citation || r.location || "").slice(0, 80)}`].map(esc).join("<br>");
  const byStrategy = (rows, x) => {
    const g = {};
    for (const r of rows) (g[r.strategy] = g[r.strategy] || []).push(r);
    return Object.entries(g).map(([s, rs]) => ({x: rs.map(r => r[x]), y: rs.map(r => r.value), name: s, mode: "markers",
      text: rs.map(r => cite(r)), hovertemplate: "%{text}<br>x=%{x}, y=%{y}<extra></extra>"}));
  };
  const rate = d.records.filter(r => r.current_mA_g && ["rate_capacity"].includes(r.quantity));
  plot("rate-map", byStrategy(rate, "current_mA_g"), {title: `Rate map (n = ${rate.length})`, xaxis: {title: "current (mA g⁻¹)", type: "log"}, yaxis: {title: "capacity (mAh g⁻¹)"}});
  const cyc = d.records.filter(r => r.cycles && r.quantity === "cycling_capacity");
  plot("cycling-map", byStrategy(cyc, "cycles"), {title: `Cycling map (n = ${cyc.length})`, xaxis: {title: "cycles", type: "log"}, yaxis: {title: "capacity (mAh g⁻¹)"}});
}
function wireKb() {
  const form = document.getElementById("kb-filters");
  form.addEventListener("submit", e => { e.preventDefault(); kbLoad(); });
  kbLoad();
  document.getElementById("kb-check").addEventListener("click", async () => {
    const ul = document.getElementById("kb-findings");
    try {
      const d = await api("GET", "/api/kb/check");
      ul.replaceChildren(...d.findings.map(f => { const li = document.createElement("li"); li.textContent = f.message; return li; }));
    } catch (e) { showError(e.message); }
  });
  const csvIn = document.getElementById("kb-csv");
  csvIn.addEventListener("change", async () => {
    const f = csvIn.files[0]; if (!f) return;
    try { const r = await api("POST", "/api/kb/records", {csv: await f.text(), name: f.name}); showNotice(`added ${r.added.length} record(s)`); kbLoad(); }
    catch (e) { showError(e.message); }
  });
}

// ---------------------------------------------------------------- samples
function wireSamples() {
  const sheet = document.getElementById("sheet-input");
  sheet.addEventListener("change", async () => {
    const f = sheet.files[0]; if (!f) return;
    try { await api("POST", `/api/samples/sheet?name=${encodeURIComponent(f.name)}`, undefined, f); location.reload(); }
    catch (e) { showError(e.message); }
  });
}

// ---------------------------------------------------------------- tokens
function wireTokens() {
  const form = document.getElementById("token-form");
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    api("POST", "/api/tokens", {name: form.elements.name.value}).then(r => {
      document.getElementById("new-token-name").textContent = r.name;
      document.getElementById("new-token").textContent = r.token;   // shown once, never stored here
      document.getElementById("new-token-box").hidden = false;
      form.reset();
      // list it at once (the revoke button comes with the next page load)
      const table = document.getElementById("tokens-table");
      const empty = table.querySelector("td[colspan]");
      if (empty) empty.parentElement.remove();
      const tr = table.insertRow(-1);
      for (const text of [r.name, "just now", "active", ""]) tr.insertCell(-1).textContent = text;
    }).catch(e => showError(e.message));
  });
  for (const b of document.querySelectorAll("[data-revoke]")) {
    b.addEventListener("click", () => {
      if (!confirm(`Revoke token ${b.dataset.revoke}? Its holder loses access at once.`)) return;
      api("DELETE", `/api/tokens/${encodeURIComponent(b.dataset.revoke)}`).then(() => location.reload()).catch(e => showError(e.message));
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  wireForms();
  wireUploads();
  const page = document.body.dataset.page;
  const d = pageData();
  try {
    if (RENDER[page] && d) RENDER[page](d);
    if (page === "kb") wireKb();
    if (page === "samples") wireSamples();
    if (page === "tokens") wireTokens();
  } catch (e) { showError(`figure could not be drawn (${e.message})`); }
  const running = localStorage.getItem(JOB_KEY);
  if (running) followJob(Number(running));
});
