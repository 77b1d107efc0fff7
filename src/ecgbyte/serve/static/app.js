// ecgbyte serve: the page. Plain JavaScript, no libraries, nothing fetched from the internet.
"use strict";
const $ = (id) => document.getElementById(id);
const COLORS = ["#1f5fbf", "#16a085"]; // alternate per token, so every token's stretch shows
let record = null; // the last /api/record response
let shown = null; // the attention drawn now (kept across a window resize)

function showError(err) {
  $("error").textContent = String(err.message || err);
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

async function post(url, form) {
  const r = await fetch(url, { method: "POST", body: form });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const e = body && body.error;
    throw new Error(e ? `${e.message} (${r.status} ${e.code})` : `HTTP ${r.status}`);
  }
  return body;
}

function recordForm() {
  const form = new FormData();
  for (const f of $("file").files) form.append("file", f, f.name);
  const fs = $("fs").value.trim();
  if (fs) form.append("fs", fs);
  return form;
}

function drawLead(canvas, lead, duration, attention) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const x = (t) => (t / duration) * (w - 8) + 4;
  g.strokeStyle = "#eef1f5";
  g.lineWidth = 1;
  for (let s = 1; s < duration; s += 1) { g.beginPath(); g.moveTo(x(s), 0); g.lineTo(x(s), h); g.stroke(); }
  const sig = lead.tokenized && lead.signal ? lead.signal : lead.raw;
  const fs = lead.tokenized && lead.signal ? lead.fs : lead.raw_fs;
  let lo = Infinity, hi = -Infinity;
  for (const v of sig) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const pad = 0.1 * ((hi - lo) || 1);
  const bottom = attention && lead.start_s ? 14 : 0;
  const y = (v) => h - 3 - bottom - ((v - (lo - pad)) / ((hi - lo) + 2 * pad)) * (h - 6 - bottom);
  const strip = attention && lead.start_s ? 12 : 0; // attention: a heat strip under the trace
  if (strip) {
    const wts = attention.filter((v) => v !== null);
    const lo = Math.min(...wts), hi = Math.max(...wts);
    attention.forEach((v, k) => {
      if (v === null) return;
      const a = hi > lo ? (v - lo) / (hi - lo) : 1;
      g.fillStyle = `rgba(230, 110, 0, ${0.1 + 0.9 * a})`;
      g.fillRect(x(lead.start_s[k]), h - strip, Math.max(1, x(lead.end_s[k]) - x(lead.start_s[k])), strip);
    });
  }
  if (!(lead.tokenized && lead.start_s)) {
    g.strokeStyle = lead.tokenized ? COLORS[0] : "#a7afbd";
    g.lineWidth = 1;
    g.beginPath();
    sig.forEach((v, i) => (i ? g.lineTo(x(i / fs), y(v)) : g.moveTo(x(0), y(v))));
    g.stroke();
    return;
  }
  lead.start_s.forEach((s, k) => {
    g.strokeStyle = "#dfe3ea";
    g.lineWidth = 1;
    g.beginPath(); g.moveTo(x(s), 0); g.lineTo(x(s), h - bottom); g.stroke();
    const i0 = Math.round(s * fs), i1 = Math.min(sig.length - 1, Math.round(lead.end_s[k] * fs));
    g.strokeStyle = COLORS[k % 2];
    g.lineWidth = 1.4;
    g.beginPath();
    for (let i = i0; i <= i1; i++) (i === i0 ? g.moveTo(x(i / fs), y(sig[i])) : g.lineTo(x(i / fs), y(sig[i])));
    g.stroke();
  });
}

function draw(attention) {
  shown = attention;
  const plot = $("plot");
  plot.textContent = "";
  if (!record) return;
  const duration = record.record.duration_s;
  for (const lead of record.leads) {
    const row = document.createElement("div");
    row.className = "lead " + (lead.tokenized ? "on" : "off");
    const name = document.createElement("div");
    name.className = "name";
    const n = record.tokens_per_lead[lead.name];
    name.append(lead.name);
    const small = document.createElement("small");
    small.textContent = lead.tokenized ? `${n} tokens` : "not read";
    name.append(small);
    const canvas = document.createElement("canvas");
    row.append(name, canvas);
    plot.append(row);
    drawLead(canvas, lead, duration, attention ? attention.leads[lead.name] : null);
  }
}

async function pickFile() {
  clearError();
  record = null;
  $("ask").disabled = true;
  $("result").hidden = true;
  $("record-info").textContent = "";
  draw(null);
  if (!$("file").files.length) return;
  $("status").textContent = "reading the record…";
  try {
    record = await post("api/record", recordForm());
    const r = record.record;
    const toks = Object.entries(record.tokens_per_lead).map(([k, v]) => `${k} ${v}`).join(", ");
    $("record-info").textContent =
      `${r.name}: ${r.leads.length} leads, ${r.fs} Hz, ${r.duration_s} s. ` +
      `The model reads ${record.preprocessing.leads.join(", ") || "all leads"} at ${record.preprocessing.fs || r.fs} Hz: ${toks} tokens.`;
    draw(null);
    $("ask").disabled = false;
    $("status").textContent = "";
  } catch (err) {
    $("status").textContent = "";
    showError(err);
  }
}

async function ask(ev) {
  ev.preventDefault();
  clearError();
  const q = $("question").value.trim();
  if (!q) { showError("Type a question first."); return; }
  const form = recordForm();
  form.append("question", q);
  if ($("attention").checked && !$("attention").disabled) form.append("attention", "1");
  $("ask").disabled = true;
  $("status").textContent = "asking…";
  try {
    const res = await post("api/ask", form);
    const a = res.answers[0];
    $("answer").textContent = a.answer || "(empty answer)";
    const t = res.timings_ms;
    $("answer-meta").textContent =
      `${a.n_prompt_tokens} prompt tokens (${a.n_cut} ECG tokens cut by the run's policy), batch of ${a.batch_size}; ` +
      `read ${t.read} ms, encode ${t.encode} ms, queue ${t.queue} ms, generate ${t.generate} ms, total ${t.total} ms` +
      (a.attention ? `; ${Math.round(100 * a.attention.ecg_share)}% of the attention on ECG tokens` : "");
    $("result").hidden = false;
    draw(a.attention || null);
    $("status").textContent = "";
  } catch (err) {
    $("status").textContent = "";
    showError(err);
  } finally {
    $("ask").disabled = !record;
  }
}

async function init() {
  try {
    const info = await (await fetch("api/info")).json();
    $("run-name").textContent = `${info.run} · ${info.checkpoint}`;
    $("warning").textContent = info.warning;
    if (!info.attention) { $("attention").checked = false; $("attention").disabled = true; }
  } catch (err) {
    showError(err);
  }
  $("file").addEventListener("change", pickFile);
  $("ask-form").addEventListener("submit", ask);
  window.addEventListener("resize", () => draw(shown));
}

init();
