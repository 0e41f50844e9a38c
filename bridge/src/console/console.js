// Sluice's console: polls /pipes and /console/history, draws the pipes and their last 15
// minutes, and enables or disables pipes. No library, nothing loaded from elsewhere.
"use strict";

const TOKEN_KEY = "sluice-admin-token";
const state = { pipes: [], history: {}, metrics: "", updated: null };

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function call(path, method = "GET") {
  const headers = {};
  const t = token();
  if (t) headers["Authorization"] = "Bearer " + t;
  const r = await fetch(path, { method, headers, cache: "no-store" });
  if (r.status === 401) { askToken(t ? "The token was refused." : ""); throw new Error("unauthorized"); }
  if (!r.ok && r.status !== 202) throw new Error(path + ": " + r.status);
  return r;
}

function askToken(message) {
  const form = document.getElementById("login");
  form.hidden = false;
  document.getElementById("view").hidden = true;
  document.getElementById("login-error").textContent = message;
  document.getElementById("token").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    document.getElementById("login").hidden = true;
    document.getElementById("view").hidden = false;
    refresh(true);
  });
  window.addEventListener("hashchange", () => { render(); document.getElementById("main").focus(); });
  refresh(true);
  setInterval(() => refresh(false), 2000);
});

async function refresh(withHistory) {
  try {
    state.pipes = await (await call("/pipes")).json();
    const now = Date.now();
    if (withHistory || !state.historyAt || now - state.historyAt > 4000) {
      // Only the samples taken since the newest one held; the first call gets them all.
      const since = state.since || 0;
      for (const h of await (await call("/console/history?since=" + since)).json()) {
        const held = state.history[h.name];
        if (held && since) {
          held.samples = held.samples.concat(h.samples).filter((x) => x.t > Date.now() - 15 * 60 * 1000);
          held.errors = h.errors;
        } else {
          state.history[h.name] = h;
        }
        for (const x of h.samples) state.since = Math.max(state.since || 0, x.t);
      }
      state.historyAt = now;
    }
    const page = location.hash.match(/^#\/pipes\/(.+)$/);
    if (page) {
      state.metrics = await (await call("/metrics")).text();
      state.config = await (await call(`/pipes/${encodeURIComponent(decodeURIComponent(page[1]))}/config`)).json();
    }
    state.updated = new Date();
    document.getElementById("login").hidden = true;
    document.getElementById("login-error").textContent = "";
    document.getElementById("view").hidden = false;
    render();
  } catch (e) {
    if (e.message !== "unauthorized") document.getElementById("updated").textContent = "update failed: " + e.message;
  }
}

// Rates per second between consecutive samples of a counter; gauges as they are.
function series(name, key, rate) {
  const h = state.history[name];
  if (!h) return [];
  const s = h.samples;
  if (!rate) return s.map((x) => [x.t, x[key]]);
  const out = [];
  for (let i = 1; i < s.length; i++) {
    const dt = (s[i].t - s[i - 1].t) / 1000;
    out.push([s[i].t, dt > 0 ? Math.max(0, s[i][key] - s[i - 1][key]) / dt : 0]);
  }
  return out;
}

const CHARTS = [
  ["received", "Records in per second", true, "/s"],
  ["delivered", "Delivered per second", true, "/s"],
  ["failed", "Failures per second", true, "/s"],
  ["backlog", "Backlog (messages)", false, ""],
  ["oldest_age", "Oldest message age (seconds)", false, " s"],
];

function fmt(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en");
  return (Math.round(v * 10) / 10).toString();
}

function svgChart(points, label, unit, big) {
  const w = big ? 600 : 120, h = big ? 160 : 32, pad = big ? 4 : 1;
  const last = points.length ? points[points.length - 1][1] : undefined;
  const desc = `${label}, last 15 minutes, now ${fmt(last)}${unit}`;
  let path = "";
  if (points.length > 1) {
    const t0 = points[0][0], t1 = points[points.length - 1][0];
    const max = Math.max(1e-9, ...points.map((p) => p[1]));
    path = points.map((p, i) => {
      const x = pad + ((p[0] - t0) / Math.max(1, t1 - t0)) * (w - 2 * pad);
      const y = h - pad - (p[1] / max) * (h - 2 * pad);
      return (i ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
    }).join(" ");
  }
  return `<svg class="${big ? "chart" : "spark"}" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${esc(desc)}">` +
    `<title>${esc(desc)}</title><path d="${path}" fill="none" stroke="#0b5cad" stroke-width="${big ? 2 : 1.5}" vector-effect="non-scaling-stroke"/></svg>` +
    (big ? `<div class="num muted">now ${fmt(last)}${unit}</div>` : "");
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function stateBadge(p) {
  const down = p.enabled && p.state === "Enabled" && !p.connected;
  return `<span class="state ${esc(p.state)}${down ? " down" : ""}" data-state="${esc(p.state)}">${esc(down ? "Enabled (not connected)" : p.state)}</span>`;
}

function toggleButton(p) {
  const on = p.enabled;
  const busy = p.state === "Disabling" || p.state === "Enabling";
  return `<button type="button" class="${on ? "secondary" : ""}" data-toggle="${esc(p.name)}" data-enable="${on ? "false" : "true"}"` +
    `${busy ? " disabled" : ""} aria-label="${on ? "Disable" : "Enable"} pipe ${esc(p.name)}">${on ? "Disable" : "Enable"}</button>`;
}

function render() {
  const view = document.getElementById("view");
  if (state.updated) document.getElementById("updated").textContent = "updated " + state.updated.toLocaleTimeString();
  const m = location.hash.match(/^#\/pipes\/(.+)$/);
  view.innerHTML = m ? pipePage(decodeURIComponent(m[1])) : listPage();
  for (const b of view.querySelectorAll("button[data-toggle]")) {
    b.addEventListener("click", async () => {
      b.disabled = true;
      const action = b.dataset.enable === "true" ? "enable" : "disable";
      try { await call(`/pipes/${encodeURIComponent(b.dataset.toggle)}/${action}`, "POST"); } catch (e) { /* shown on refresh */ }
      refresh(false);
    });
  }
}

function listPage() {
  if (!state.pipes.length) return "<h1>Pipes</h1><p>No pipes are loaded.</p>";
  const rows = state.pipes.map((p) => `<tr data-pipe="${esc(p.name)}">
    <td data-label="Pipe"><a href="#/pipes/${encodeURIComponent(p.name)}">${esc(p.name)}</a></td>
    <td data-label="State"><div>${stateBadge(p)}<div class="muted reason">${esc(p.state_transition_reason)}</div></div></td>
    <td data-label="Source"><div class="addr">${esc(p.source.address)}</div></td>
    <td data-label="Target"><div class="addr">${esc(p.target.address)}</div></td>
    ${CHARTS.map(([key, label, rate, unit]) => `<td data-label="${esc(label)}">${svgChart(series(p.name, key, rate), label, unit, false)}</td>`).join("")}
    <td data-label="Delivered" class="num delivered">${fmt(p.counters.delivered)}</td>
    <td data-label="Control">${toggleButton(p)}</td></tr>`).join("");
  return `<h1>Pipes</h1><table class="pipes"><caption>${state.pipes.length} pipe(s); charts show the last 15 minutes</caption>
    <thead><tr><th scope="col">Pipe</th><th scope="col">State</th><th scope="col">Source</th><th scope="col">Target</th>
    ${CHARTS.map(([, label]) => `<th scope="col">${esc(label)}</th>`).join("")}<th scope="col">Delivered</th><th scope="col"><span class="muted">Control</span></th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}

// `name{pipe="P"...} value` lines of /metrics for one pipe.
function metric(name, pipe, extra) {
  let total = 0, found = false;
  const prefix = name + "{";
  for (const line of state.metrics.split("\n")) {
    if (!line.startsWith(prefix) || !line.includes(`pipe="${pipe}"`) || (extra && !line.includes(extra))) continue;
    total += parseFloat(line.slice(line.lastIndexOf(" ") + 1)) || 0;
    found = true;
  }
  return found ? total : undefined;
}

function pipePage(name) {
  const p = state.pipes.find((x) => x.name === name);
  if (!p) return `<h1>No pipe named ${esc(name)}</h1><p><a href="#/">All pipes</a></p>`;
  const c = p.counters;
  const mean = (sum, count) => (count ? sum / count : undefined);
  const latency = mean(metric("sluice_target_request_duration_seconds_sum", name), metric("sluice_target_request_duration_seconds_count", name));
  const batch = mean(metric("sluice_batch_messages_sum", name), metric("sluice_batch_messages_count", name));
  const counters = [["Received", c.received], ["Filtered", c.filtered], ["Delivered", c.delivered], ["Failed", c.failed],
    ["Acknowledged", c.acked], ["Retried", c.retried], ["Dead-lettered", c.dead_lettered], ["Dropped", c.dropped],
    ["Mean batch size", batch], ["Mean target latency (ms)", latency === undefined ? undefined : latency * 1000]];
  const errors = (state.history[name]?.errors || []).slice().reverse();
  return `<p><a href="#/">All pipes</a></p>
    <h1>${esc(p.name)} ${stateBadge(p)}</h1>
    <p>${toggleButton(p)} <span class="muted">${esc(p.state_transition_reason)} · last result: ${esc(p.last_processing_result)}</span></p>
    <div class="charts">${CHARTS.map(([key, label, rate, unit]) => `<figure><figcaption>${esc(label)}</figcaption>${svgChart(series(name, key, rate), label, unit, true)}</figure>`).join("")}</div>
    <h2>Counters</h2><dl class="counters">${counters.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd class="num">${fmt(v)}</dd></div>`).join("")}</dl>
    <h2>Recent problems</h2>${errors.length ? `<ul class="errors">${errors.map(([t, text]) => `<li><time datetime="${new Date(t).toISOString()}">${new Date(t).toLocaleString()}</time>: ${esc(text)}</li>`).join("")}</ul>` : "<p>None in memory.</p>"}
    <h2>Configuration</h2><p class="muted">Revision ${esc(p.config_revision)}; secrets shown as written, passwords as ***.</p>
    <pre class="config">${esc(JSON.stringify(state.config || {}, null, 2))}</pre>`;
}
