// MintCache live demo: fires storms at /slow from the browser, tallies each response by its Cache-Status header,
// and charts MintCache's server-side metrics polled from /stats/cache. No dependencies.
"use strict";

const $ = id => document.getElementById(id);
const samples = [];          // one entry per poll: deltas of the server's counters
const HISTORY = 60;          // 30 s at 500 ms
let previous = null;

async function stats() {
  const response = await fetch("/stats/cache", { cache: "no-store" });
  return response.json();
}

const metric = (s, name) => s.metrics[name] ?? 0;
const executions = s => s.executions["/slow"] ?? 0;

// Cache-Status: "MintCache; hit; ttl=3" fresh, "MintCache; hit; ttl=-2" stale, "MintCache; fwd=..." regenerated.
function classify(cacheStatus) {
  if (!cacheStatus) return "unknown";
  if (/;\s*fwd=/.test(cacheStatus)) return "regenerated";
  const ttl = /;\s*ttl=(-?\d+)/.exec(cacheStatus);
  return ttl && Number(ttl[1]) > 0 ? "fresh" : "stale";
}

async function fire() {
  const n = Math.max(1, Math.min(1000, Number($("count").value) || 100));
  $("fire").disabled = true;
  $("status").textContent = `Firing ${n} concurrent requests…`;
  const before = await stats();
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: n }, async () => {
    const response = await fetch("/slow", { cache: "no-store" });
    await response.text();
    return { kind: classify(response.headers.get("Cache-Status")), ms: performance.now() - started };
  }));
  const after = await stats();

  const count = kind => results.filter(r => r.kind === kind).length;
  $("count-fresh").textContent = count("fresh");
  $("count-stale").textContent = count("stale");
  $("count-regenerated").textContent = count("regenerated");
  $("storm-executions").textContent = executions(after) - executions(before);
  $("storm-slowest").textContent = Math.round(Math.max(...results.map(r => r.ms)));
  $("status").textContent = `Done: ${n} responses in ${Math.round(performance.now() - started)} ms.`;
  $("status").dataset.done = String(Number($("status").dataset.done ?? 0) + 1);
  $("fire").disabled = false;
  await poll();
}

async function poll() {
  let current;
  try { current = await stats(); } catch { return; }
  const totals = {
    fresh: metric(current, "mintcache.lookups/hit/fresh"),
    stale: metric(current, "mintcache.lookups/hit/stale"),
    refresh: metric(current, "mintcache.lookups/miss/stale"),
    absent: metric(current, "mintcache.lookups/miss/absent"),
    executions: executions(current),
  };
  $("server-hit-fresh").textContent = totals.fresh;
  $("server-hit-stale").textContent = totals.stale;
  $("server-miss-stale").textContent = totals.refresh;
  $("server-miss-absent").textContent = totals.absent;
  $("server-claims").textContent = metric(current, "mintcache.claims/won");
  $("server-regenerations").textContent = metric(current, "mintcache.regenerations.ended/stored");
  $("server-executions").textContent = totals.executions;

  if (previous) {
    // After a reset the totals drop: count from zero rather than charting a negative bar.
    const delta = key => Math.max(0, totals[key] - (totals[key] < previous[key] ? 0 : previous[key]));
    samples.push({ fresh: delta("fresh"), stale: delta("stale"), miss: delta("refresh") + delta("absent"), executions: delta("executions") });
    if (samples.length > HISTORY) samples.shift();
    draw();
  }
  previous = totals;
}

// A stacked bar per interval (fresh, stale, misses) and a line of endpoint executions, in hand-written SVG.
function draw() {
  const svg = $("chart");
  const width = 800, height = 240, left = 40, bottom = 20, top = 10;
  const plotHeight = height - bottom - top;
  const slot = (width - left) / HISTORY;
  const max = Math.max(5, ...samples.map(h => h.fresh + h.stale + h.miss), ...samples.map(h => h.executions));
  const y = v => top + plotHeight - (v / max) * plotHeight;
  const parts = [];
  for (const tick of [0, Math.round(max / 2), max]) {
    parts.push(`<line x1="${left}" x2="${width}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${left - 6}" y="${y(tick) + 4}" text-anchor="end" font-size="11" fill="#6b7280">${tick}</text>`);
  }
  samples.forEach((h, i) => {
    const x = left + i * slot + 1;
    let base = 0;
    for (const [key, color] of [["fresh", "var(--fresh)"], ["stale", "var(--stale)"], ["miss", "var(--regenerated)"]]) {
      if (h[key] > 0) {
        parts.push(`<rect x="${x}" width="${slot - 2}" y="${y(base + h[key])}" height="${y(base) - y(base + h[key])}" fill="${color}"><title>${h[key]} ${key}</title></rect>`);
      }
      base += h[key];
    }
  });
  const points = samples.map((h, i) => `${left + i * slot + slot / 2},${y(h.executions)}`).join(" ");
  parts.push(`<polyline points="${points}" fill="none" stroke="var(--executions)" stroke-width="2"/>`);
  samples.forEach((h, i) => {
    if (h.executions > 0) parts.push(`<circle cx="${left + i * slot + slot / 2}" cy="${y(h.executions)}" r="3.5" fill="var(--executions)"><title>${h.executions} executions</title></circle>`);
  });
  parts.push(`<text x="${width - 4}" y="${height - 5}" text-anchor="end" font-size="11" fill="#6b7280">last 30 s, 500 ms per bar</text>`);
  svg.innerHTML = parts.join("");
}

$("count").addEventListener("input", () => { $("fire").textContent = `Fire ${$("count").value} concurrent requests at /slow`; });
$("fire").addEventListener("click", fire);
$("reset").addEventListener("click", async () => {
  await fetch("/stats/reset", { method: "POST" });
  for (const id of ["count-fresh", "count-stale", "count-regenerated", "storm-executions", "storm-slowest"]) $(id).textContent = "0";
  await poll();
});
poll();
setInterval(poll, 500);
