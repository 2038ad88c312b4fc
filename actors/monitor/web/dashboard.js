// zorch dashboard: polls /api/stats and /api/history once a second and
// draws them. Every name shown comes from the network: text only, never HTML.
"use strict";

const HISTORY_S = 600;
const PALETTE = ["#58a6ff", "#3fb950", "#f85149", "#d29922", "#bc8cff", "#39c5cf", "#ff7b72",
                 "#7ee787", "#ffa657", "#a5d6ff", "#d2a8ff", "#56d364", "#e3b341", "#79c0ff",
                 "#ff9bce", "#8b949e"];

const $ = (id) => document.getElementById(id);

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (digits === undefined) digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}
function fmtInt(v) { return v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en-US"); }
function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (ms < 1) return fmt(ms * 1000, 0) + "µs";
  if (ms < 1000) return fmt(ms, ms < 10 ? 2 : 1) + "ms";
  return fmt(ms / 1000, 2) + "s";
}
function fmtBytes(b) {
  if (!b) return "–";
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return fmt(b, 1) + " " + u[i];
}
function setText(id, text) { const el = $(id); if (el && el.textContent !== text) el.textContent = text; }
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// ---------------------------------------------------------------------
// Charts

const charts = {};

function chartWidth(id) {
  const box = $(id);
  return Math.max(200, (box.parentElement.clientWidth || 400) - 20);
}

function makeChart(id, labels, colors) {
  const opts = {
    width: chartWidth(id), height: 170,
    cursor: { drag: { x: false, y: false } },
    legend: { live: false },
    scales: { x: { time: true } },
    axes: [
      { stroke: "#8a96a3", grid: { stroke: "#26313b" }, ticks: { stroke: "#26313b" } },
      { stroke: "#8a96a3", grid: { stroke: "#26313b" }, ticks: { stroke: "#26313b" }, size: 55 },
    ],
    series: [{}].concat(labels.map((label, i) => ({
      label, stroke: (colors || PALETTE)[i % PALETTE.length], width: 1.5, spanGaps: false,
    }))),
  };
  const data = [[]].concat(labels.map(() => []));
  const box = $(id);
  box.textContent = "";
  return new uPlot(opts, data, box);
}

function setChart(key, id, labels, data) {
  let c = charts[key];
  const sig = labels.join("\u0000");
  if (!c || c.sig !== sig) {
    if (c) c.plot.destroy();
    c = charts[key] = { sig, plot: makeChart(id, labels) };
  }
  c.plot.setData(data);
}

function drawHistory(h) {
  const t = h.t || [];
  setChart("rate", "chart-rate", ["accepted/s", "completed/s", "failed/s", "dead/s"],
           [t, h.accepted, h.throughput, h.errors, h.dead]);
  setChart("latency", "chart-latency", ["p50", "p95", "p99"], [t, h.p50_ms, h.p95_ms, h.p99_ms]);
  setChart("queue", "chart-queue", ["high", "normal", "low", "in flight"],
           [t, h.queue_high, h.queue_normal, h.queue_low, h.inflight]);
  setChart("load", "chart-load", ["score", "queue", "utilization", "latency", "cpu"],
           [t, h.load, h.load_queue, h.load_utilization, h.load_latency, h.load_cpu]);
  const keys = Object.keys(h.actors || {}).sort();
  const rss = [t], cpu = [t];
  for (const k of keys) { rss.push(h.actors[k].rss_mb); cpu.push(h.actors[k].cpu_pct); }
  setChart("rss", "chart-rss", keys, rss);
  setChart("cpu", "chart-cpu", keys, cpu);
}

// ---------------------------------------------------------------------
// Numbers and tables

// Fills container id with one row per item: its time (item[tsKey], ms)
// and its text; the empty text when there is none.
function timedList(id, items, tsKey, empty, cls) {
  const box = $(id);
  box.textContent = "";
  if (!items.length) box.appendChild(el("p", empty, "empty"));
  for (const item of items) {
    const row = el("div", undefined, cls);
    row.appendChild(el("span", new Date(item[tsKey]).toLocaleTimeString(), "when"));
    row.appendChild(document.createTextNode(item.text));
    box.appendChild(row);
  }
}

function drawStats(s) {
  const c = s.cluster || {};
  const badge = $("health");
  badge.textContent = (s.status || "?").toUpperCase();
  badge.className = "badge " + (s.status || "");
  setText("reason", s.reason || "");
  setText("throughput", fmt(c.throughput));
  setText("accepted", fmt(c.accepted));
  const tot = c.totals || {};
  setText("accepted-total", fmtInt(tot.accepted_total));
  setText("completed-total", fmtInt(tot.completed_total));
  setText("dead-total", fmtInt(tot.dead_total));
  setText("error-rate", c.error_rate === null ? "–" : fmt(c.error_rate * 100, 2));
  setText("errors", fmt(c.errors));
  setText("dead", fmt(c.dead));
  setText("p50", fmtMs(c.p50_ms));
  setText("p95", fmtMs(c.p95_ms));
  setText("p99", fmtMs(c.p99_ms));
  const all = c.latency_all;
  setText("p99-all", all ? fmtMs(all.p99 / 1e6) : "–");
  setText("count-all", all ? fmtInt(all.count) : "–");
  const q = c.queue || {};
  setText("queue-total", fmtInt(q.total));
  setText("queue-high", fmtInt(q.high));
  setText("queue-normal", fmtInt(q.normal));
  setText("queue-low", fmtInt(q.low));
  setText("inflight", fmtInt(c.workers_up ? c.worker_inflight : c.inflight));
  setText("capacity", fmtInt(c.capacity));
  setText("workers-up", fmtInt(c.workers_up));
  setText("actors-up", fmtInt(c.actors_up));
  setText("actors-down", fmtInt(c.actors_down));
  const load = s.load || {};
  const p = load.parts || {};
  setText("load", fmt(load.score, 2));
  setText("load-parts", "(queue " + fmt(p.queue, 2) + " · util " + fmt(p.utilization, 2) +
          " · latency " + fmt(p.latency, 2) + " · cpu " + fmt(p.cpu, 2) + ")");
  setText("updated", new Date(s.ts_ms).toLocaleTimeString());

  // actors
  const tbody = document.querySelector("#actors tbody");
  tbody.textContent = "";
  for (const a of s.actors || []) {
    const tr = el("tr");
    tr.appendChild(el("td", a.actor));
    tr.appendChild(el("td", a.name));
    tr.appendChild(el("td", String(a.pid)));
    tr.appendChild(el("td", a.state, a.up ? "up" : "down"));
    tr.appendChild(el("td", fmt(a.last_report_ms / 1000, 1) + "s ago"));
    tr.appendChild(el("td", fmtBytes(a.rss_bytes)));
    tr.appendChild(el("td", fmt(a.cpu_pct, 1) + "%"));
    tr.appendChild(el("td", String(a.restarts)));
    tbody.appendChild(tr);
  }

  // workers
  const wbody = document.querySelector("#workers tbody");
  wbody.textContent = "";
  const workers = s.workers || [];
  $("workers-empty").style.display = workers.length ? "none" : "";
  for (const w of workers) {
    const tr = el("tr");
    tr.appendChild(el("td", w.name + (w.up ? "" : " (down)"), w.up ? "" : "down"));
    const td = el("td");
    const bar = el("span", undefined, "bar");
    const fill = el("i");
    fill.style.width = Math.min(100, Math.round((w.load || 0) * 100)) + "%";
    bar.appendChild(fill);
    td.appendChild(bar);
    td.appendChild(document.createTextNode(fmtInt(w.inflight) + " / " + fmtInt(w.capacity)));
    tr.appendChild(td);
    tr.appendChild(el("td", fmt(w.events_per_s)));
    tr.appendChild(el("td", fmt(w.cpu_pct, 1) + "%"));
    wbody.appendChild(tr);
  }

  // cache and pools
  const cache = $("cache");
  cache.textContent = "";
  if (!s.cache) cache.appendChild(el("p", "no cache actor", "empty"));
  else for (const a of s.cache) {
    cache.appendChild(el("h3", a.name + (a.up ? "" : " (down)")));
    for (const [lvl, ok] of Object.entries(a.below || {}))
      cache.appendChild(el("div", lvl + ": " + (ok ? "up" : "DOWN"), ok ? "" : "down"));
    const levels = Object.keys(a.levels || {});
    if (!levels.length) cache.appendChild(el("p", "no hit counters reported", "empty"));
    for (const l of levels) {
      const v = a.levels[l];
      cache.appendChild(el("div", l + ": " + (v.hit_rate === null ? "–" : fmt(v.hit_rate * 100, 1) + "%") +
                               " (" + fmtInt(v.hits) + " hits, " + fmtInt(v.misses) + " misses)"));
    }
  }
  const pools = $("pools");
  pools.textContent = "";
  if (!s.pools) pools.appendChild(el("p", "no pool actor", "empty"));
  else for (const a of s.pools) {
    pools.appendChild(el("h3", a.name + (a.up ? "" : " (down)")));
    const svcs = Object.keys(a.services || {});
    if (!svcs.length) pools.appendChild(el("p", "no services reported", "empty"));
    for (const svc of svcs) {
      const v = a.services[svc];
      const busy = v.inflight === null ? "" : " (" + fmtInt(v.inflight) + " in flight, " + fmtInt(v.queued) + " queued)";
      pools.appendChild(el("div", svc + ": " + (v.state === "healthy" ? "healthy" : v.state.toUpperCase()) + busy,
                           v.state === "healthy" ? "" : v.state === "degraded" ? "warn" : "down"));
    }
  }

  // what to change (since when), and the autoscaler's decisions, newest first
  timedList("advice", s.advice || [], "since_ms", "nothing to change", "advice");
  const scaler = (s.actors || []).some((a) => a.actor === "autoscaler");
  timedList("decisions", s.decisions || [], "ts_ms", scaler ? "no decision yet" : "no autoscaler",
            "decision");

  // alerts
  const al = s.alerts || {};
  setText("alerts-firing", String(al.firing || 0));
  setText("alert-rules", String((al.rules || []).length));
  $("alerts-tile").className = "tile" + (al.firing ? " firing" : "");
  const active = $("alerts-active");
  active.textContent = "";
  if (!(al.active || []).length) active.appendChild(el("p", "no alert is firing", "empty"));
  for (const a of al.active || [])
    active.appendChild(el("div", a.name + ": " + a.rule + " (now " + fmt(a.value, 3) + ")", "alert"));
  const recent = $("alerts-recent");
  recent.textContent = "";
  for (const e of (al.recent || []).slice(0, 8))
    recent.appendChild(el("li", new Date(e.ts_ms).toLocaleTimeString() + " " + e.name + " " + e.state +
                                  " (" + fmt(e.value, 3) + ")", e.state));
}

// ---------------------------------------------------------------------

async function poll() {
  try {
    const [s, h] = await Promise.all([
      fetch("/api/stats", { cache: "no-store" }).then((r) => r.json()),
      fetch("/api/history?seconds=" + HISTORY_S, { cache: "no-store" }).then((r) => r.json()),
    ]);
    drawStats(s);
    drawHistory(h);
  } catch (err) {
    const badge = $("health");
    badge.textContent = "UNREACHABLE";
    badge.className = "badge unreachable";
    setText("reason", String(err));
  }
  setTimeout(poll, 1000);
}

window.addEventListener("resize", () => {
  for (const key of Object.keys(charts)) {
    const c = charts[key];
    c.plot.setSize({ width: chartWidth(c.plot.root.parentElement.id), height: 170 });
  }
});

poll();
