// simledger dashboard. Plain DOM, no framework, no external assets: every page is built from
// the JSON endpoints under /dashboard/api, text is always set as text (never as HTML), and
// charts are SVG drawn here.
"use strict";

const view = document.getElementById("view");
const picker = document.getElementById("account-picker");
let session = null;
let cleanup = [];

// ---- helpers -------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function account() {
  if (!session || session.role !== "operator") return null;
  return sessionStorage.getItem("account") || null;
}

function query(params) {
  const q = new URLSearchParams();
  const acct = account();
  if (acct) q.set("account", acct);
  for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

class NotFound extends Error {}

async function api(path, params) {
  const res = await fetch("/dashboard/api" + path + query(params), { credentials: "same-origin" });
  if (res.status === 401) { location.href = "/dashboard/login"; throw new Error("signed out"); }
  const body = await res.json();
  if (res.status === 404) throw new NotFound(body.message);
  if (!res.ok) throw new Error(body.message || res.statusText);
  return body;
}

async function post(path, body) {
  const res = await fetch("/dashboard/api" + path, {
    method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  if (res.status === 401) { location.href = "/dashboard/login"; throw new Error("signed out"); }
  const out = await res.json();
  if (!res.ok) throw new Error(out.message || res.statusText);
  return out;
}

const fmt = new Intl.NumberFormat("en");
function num(n) { return fmt.format(n || 0); }
function bytes(n) {
  n = n || 0;
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}
function time(t) { return t ? new Date(t).toLocaleTimeString() : "—"; }
function when(t) { return t ? new Date(t).toLocaleString() : "—"; }
function shortType(t) { return t.replace("com.twilio.iot.supersim.connection.", ""); }
function badge(text) { return h("span", { class: "badge " + text }, text); }
function card(label, value, testid) {
  return h("div", { class: "card" }, h("div", { class: "label" }, label),
    h("div", { class: "value", "data-testid": testid }, value));
}
function table(headers, rows, attrs) {
  return h("table", attrs || {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { class: x.num ? "num" : null }, x.label || x)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "None yet"))));
}
function row(cells) {
  return h("tr", {}, cells.map((c) => (c && c.num !== undefined
    ? h("td", { class: "num" }, c.num) : h("td", {}, c))));
}
function simLink(sid) { return sid ? h("a", { href: "#/sims/" + sid, class: "mono" }, sid) : "—"; }
function every(ms, fn) { const id = setInterval(fn, ms); cleanup.push(() => clearInterval(id)); }

const COLORS = ["#2f6fed", "#d64545", "#1f9d55", "#c98a00", "#8e44ad", "#16a2b8", "#e67e22", "#7f8c8d"];

// A line chart of several series over the same x values (Date or label).
function lineChart(xs, series, testid) {
  const W = 800, H = 220, L = 46, B = 22, T = 8;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const x = (i) => L + (xs.length <= 1 ? 0 : (i * (W - L - 8)) / (xs.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, "data-testid": testid, "data-points": xs.length });
  for (const f of [0, 0.5, 1]) {
    chart.append(svg("line", { x1: L, x2: W, y1: y(max * f), y2: y(max * f), stroke: "#e1e4ea" }));
    chart.append(svg("text", { x: 2, y: y(max * f) + 3 }, num(Math.round(max * f))));
  }
  const step = Math.max(1, Math.ceil(xs.length / 8));
  xs.forEach((label, i) => { if (i % step === 0) chart.append(svg("text", { x: x(i) - 12, y: H - 6 }, label)); });
  series.forEach((s, k) => {
    if (!s.values.length) return;
    const d = s.values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    chart.append(svg("path", { d, fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 2 }));
    // A dot per minute, so a single minute (or a lone spike) shows too.
    s.values.forEach((v, i) => chart.append(svg("circle", { cx: x(i), cy: y(v), r: 2.5, fill: COLORS[k % COLORS.length] },
      svg("title", {}, `${xs[i]} ${s.name}: ${num(v)}`))));
  });
  return h("div", {}, chart, legend(series.map((s) => s.name)));
}

// Stacked bars: one bar per period, one segment per group.
function barChart(periods, groups, value, testid, label) {
  const W = 800, H = 220, L = 56, B = 22, T = 8;
  const totals = periods.map((p) => groups.reduce((a, g) => a + (value(p, g) || 0), 0));
  const max = Math.max(1, ...totals);
  const bw = Math.min(48, Math.max(2, (W - L - 8) / Math.max(1, periods.length) - 2));
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, "data-testid": testid, "data-points": periods.length });
  for (const f of [0, 0.5, 1]) {
    const yy = T + (H - T - B) * (1 - f);
    chart.append(svg("line", { x1: L, x2: W, y1: yy, y2: yy, stroke: "#e1e4ea" }));
    chart.append(svg("text", { x: 2, y: yy + 3 }, bytes(max * f)));
  }
  const step = Math.max(1, Math.ceil(periods.length / 8));
  periods.forEach((p, i) => {
    let base = H - B;
    const x = L + i * (bw + 2);
    groups.forEach((g, k) => {
      const v = value(p, g) || 0;
      if (!v) return;
      const hgt = ((H - T - B) * v) / max;
      base -= hgt;
      chart.append(svg("rect", { x, y: base, width: bw, height: Math.max(1, hgt), fill: COLORS[k % COLORS.length], "data-value": v },
        svg("title", {}, `${g || "no fleet"}: ${bytes(v)}`)));
    });
    if (i % step === 0) chart.append(svg("text", { x, y: H - 6 }, label(p)));
  });
  return h("div", {}, chart, legend(groups.map((g) => g || "no fleet")));
}

function legend(names) {
  return h("div", { class: "legend" }, names.map((n, k) => h("span", {}, h("i", { class: "swatch-" + k }), n)));
}

// ---- pages ---------------------------------------------------------------------------------

async function overview() {
  const o = await api("/overview");
  const minutes = o.minutes;
  const labels = minutes.map((m) => new Date(m.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  const byStatus = o.sims_by_status.map((s) => row([badge(s.status), { num: num(s.sims) }]));
  const byFleet = o.sims_by_fleet.map((f) => row([f.unique_name || f.fleet_sid || "no fleet", { num: num(f.sims) }, { num: num(f.active) }]));
  const lags = o.projections.map((p) => row([p.name, { num: num(p.position) }, { num: num(p.lag) }, time(p.updated_at)]));
  if (!lags.length && session.role !== "operator") {
    lags.push(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "How far each projection is behind the log is shown to operators.")));
  }
  const exporters = o.exporters.map((e) => row([e.tenant, e.exporter_id, e.kind, { num: num(e.last_exported_order_id) },
    { num: e.latest_order_id === null ? "—" : num(e.latest_order_id) }, { num: num(e.cdrs_behind) }]));
  const sinks = o.sinks.map((s) => row([s.sink_sid, s.description, s.sink_type,
    badge(s.failed ? "failed" : s.status), { num: s.lag === null ? "—" : num(s.lag) }, s.last_error || ""]));
  return [
    h("h1", {}, "Overview"),
    h("div", { class: "cards" },
      card("SIMs", num(o.sims_total), "sims-total"),
      card("Active SIMs", num(o.sims_active), "sims-active"),
      card("Open data sessions", num(o.open_sessions), "open-sessions"),
      card("Events / s (last minute)", o.events_per_second.toFixed(1), "events-per-second"),
      card("Data used today", bytes(o.bytes_today), "bytes-today"),
      card("Blocked at data limit", num(o.blocked_sims), "sims-blocked"),
      card("Log head", num(o.log_head), "log-head")),
    h("h2", {}, "Last hour, per minute"),
    h("div", { class: "panel" }, lineChart(labels, [
      { name: "attaches accepted", values: minutes.map((m) => m.attaches_accepted) },
      { name: "attaches rejected", values: minutes.map((m) => m.attaches_rejected) },
      { name: "data sessions started", values: minutes.map((m) => m.data_sessions_started) },
    ], "activity-chart")),
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, "SIMs by status"), h("div", { class: "panel" },
        table(["Status", { label: "SIMs", num: true }], byStatus, { "data-testid": "sims-by-status" }))),
      h("div", {}, h("h2", {}, "SIMs by fleet"), h("div", { class: "panel" },
        table(["Fleet", { label: "SIMs", num: true }, { label: "Active", num: true }], byFleet, { "data-testid": "sims-by-fleet" })))),
    h("h2", {}, "Projection lag"),
    h("div", { class: "panel" }, table(["Projection", { label: "Position", num: true }, { label: "Behind", num: true }, "Updated"],
      lags, { "data-testid": "projection-lag" })),
    h("h2", {}, "CDR exporters"),
    h("div", { class: "panel" }, table(["Tenant", "Exporter", "Kind", { label: "Cursor", num: true },
      { label: "Newest CDR", num: true }, { label: "CDRs behind", num: true }], exporters, { "data-testid": "exporter-lag" })),
    h("h2", {}, "Event stream sinks"),
    h("div", { class: "panel" }, table(["Sink", "Description", "Type", "Status", { label: "Behind", num: true }, "Last error"],
      sinks, { "data-testid": "sink-lag" })),
  ];
}

// The live feed. Pausing closes the stream; resuming opens it again after the last position
// seen, so the server sends what was committed meanwhile: nothing is missed or repeated.
function live() {
  const list = h("ul", { class: "feed", "data-testid": "events-feed" });
  const status = h("span", { class: "muted", "data-testid": "feed-status" }, "connecting…");
  const inputs = {
    sim: h("input", { placeholder: "SIM SID", name: "sim", size: 36 }),
    fleet: h("input", { placeholder: "Fleet SID", name: "fleet", size: 36 }),
    type: h("input", { placeholder: "type, e.g. attachment.accepted", name: "type", size: 30 }),
  };
  let source = null;
  let last = null;
  let paused = false;
  const pause = h("button", { class: "secondary", "data-testid": "feed-pause" }, "Pause");

  function add(item, fresh) {
    if (last !== null && item.position <= last) return;
    last = item.position;
    list.prepend(h("li", {
      class: fresh ? "new" : null, "data-event-type": item.type, "data-sim-sid": item.sim_sid || "",
      "data-position": item.position, "data-recorded-at": item.recorded_at, "data-received-at": Date.now(),
    }, h("span", { class: "mono" }, "#" + item.position), h("span", {}, time(item.recorded_at)),
    h("span", {}, shortType(item.type)), h("span", {}, item.sim_sid ? simLink(item.sim_sid) : "", " ", item.summary)));
    while (list.children.length > 500) list.lastChild.remove();
  }

  function filters() {
    return { sim: inputs.sim.value.trim(), fleet: inputs.fleet.value.trim(), type: inputs.type.value.trim() };
  }

  function open() {
    const url = "/dashboard/api/events/stream" + query({ ...filters(), after: last });
    source = new EventSource(url);
    source.addEventListener("open", () => { status.textContent = "live"; });
    source.addEventListener("event", (e) => add(JSON.parse(e.data), true));
    source.addEventListener("position", (e) => { const p = Number(e.data); if (last === null || p > last) last = p; });
    source.addEventListener("gap", (e) => {
      const g = JSON.parse(e.data);
      list.prepend(h("li", { class: "muted" }, `… events ${g.from + 1}–${g.to} were not replayed (too far back)`));
      last = g.to;
    });
    source.addEventListener("error", () => { status.textContent = "reconnecting…"; });
  }

  function close() { if (source) { source.close(); source = null; } }

  async function start() {
    close();
    list.replaceChildren();
    last = null;
    const page = await api("/events", filters());
    page.events.slice(-100).forEach((i) => add(i, false));
    last = page.upto;
    if (!paused) open();
  }

  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    if (paused) { close(); status.textContent = "paused"; } else open();
  });
  for (const i of Object.values(inputs)) i.addEventListener("change", start);
  cleanup.push(close);
  window.simledgerFeed = { last: () => last, paused: () => paused };
  start().catch(showError);
  return [h("h1", {}, "Live events"),
    h("div", { class: "toolbar" }, inputs.sim, inputs.fleet, inputs.type, pause, status),
    h("div", { class: "panel" }, list)];
}

async function sims(params) {
  const status = h("select", { name: "status" }, ["", "new", "ready", "active", "inactive", "scheduled"]
    .map((s) => h("option", { value: s, selected: s === (params.status || "") }, s || "any status")));
  const page = await api("/sims", { status: params.status, after: params.after });
  status.addEventListener("change", () => { location.hash = "#/sims" + (status.value ? "?status=" + status.value : ""); });
  const rows = page.sims.map((s) => row([simLink(s.sid), s.unique_name || "", h("span", { class: "mono" }, s.iccid),
    badge(s.status), s.fleet_sid || "—", when(s.date_created)]));
  return [h("h1", {}, "SIMs"), h("div", { class: "toolbar" }, status),
    h("div", { class: "panel" }, table(["SID", "Name", "ICCID", "Status", "Fleet", "Created"], rows, { "data-testid": "sims-list" })),
    page.next ? h("p", {}, h("a", { href: `#/sims?${new URLSearchParams({ status: params.status || "", after: page.next })}` }, "Next page →")) : null];
}

async function sim(sid) {
  let s;
  try {
    s = await api("/sims/" + encodeURIComponent(sid));
  } catch (e) {
    if (e instanceof NotFound) return [h("h1", {}, "SIM"), h("p", { "data-testid": "not-found", class: "error" }, "Not found: no such SIM in this account.")];
    throw e;
  }
  const live = s.live || {};
  const period = s.billing_period;
  const usageBox = h("div", { class: "panel" });
  const message = h("span", { class: "error", "data-testid": "action-result" });
  async function drawUsage(granularity) {
    const u = await api("/sims/" + sid + "/usage", { granularity });
    const label = (p) => granularity === "day" ? new Date(p.period).toLocaleDateString() : new Date(p.period).toLocaleTimeString([], { hour: "2-digit" });
    usageBox.replaceChildren(barChart(u.points, ["data"], (p) => p.bytes, "usage-chart", label));
  }
  async function act(body, path) {
    message.textContent = "";
    try { await post(path || "/sims/" + sid, body); route(); } catch (e) { message.textContent = e.message; }
  }
  const fleets = await api("/fleets", { account: s.account_sid }).catch(() => ({ fleets: [] }));
  const fleetPick = h("select", { name: "fleet" }, h("option", { value: "" }, "move to fleet…"),
    fleets.fleets.filter((f) => f.fleet_sid).map((f) => h("option", { value: f.fleet_sid }, f.unique_name || f.fleet_sid)));
  fleetPick.addEventListener("change", () => fleetPick.value && act({ fleet: fleetPick.value }));
  const sms = h("input", { name: "payload", placeholder: "SMS command text", maxlength: 160, size: 40 });
  const smsButton = h("button", { class: "secondary", onclick: () => sms.value && act({ payload: sms.value }, "/sims/" + sid + "/sms") }, "Send SMS");
  const events = s.events.map((e) => row([h("span", { class: "mono" }, "#" + e.position), when(e.recorded_at), shortType(e.type), e.summary]));
  const cdrs = s.cdrs.map((c) => row([{ num: c.order_id }, c.tor, c.destination, when(c.setup_time), { num: num(c.usage) }, { num: c.cost }]));
  const balances = s.balances.flatMap((a) => Object.entries(a.BalanceMap || {}).flatMap(([kind, list]) =>
    list.map((b) => row([a.ID, kind, b.ID, { num: b.Value }]))));
  const body = [
    h("h1", {}, "SIM ", h("span", { class: "mono", "data-testid": "sim-sid" }, s.sid)),
    h("div", { class: "toolbar" },
      h("button", { onclick: () => act({ status: "active" }), "data-testid": "activate" }, "Activate"),
      h("button", { class: "secondary", onclick: () => act({ status: "inactive" }), "data-testid": "deactivate" }, "Deactivate"),
      fleetPick, sms, smsButton, message),
    h("div", { class: "grid2" },
      h("div", { class: "panel" }, h("dl", { class: "kv" },
        h("dt", {}, "Status"), h("dd", { "data-testid": "sim-status" }, badge(s.status)),
        h("dt", {}, "Name"), h("dd", {}, s.unique_name || "—"),
        h("dt", {}, "ICCID"), h("dd", { class: "mono" }, s.iccid),
        h("dt", {}, "Account"), h("dd", { class: "mono" }, s.account_sid),
        h("dt", {}, "Fleet"), h("dd", {}, s.fleet ? (s.fleet.unique_name || s.fleet.sid) : "—"),
        h("dt", {}, "IMSIs"), h("dd", { class: "mono" }, s.imsis.map((i) => i.imsi + (i.allowed ? "" : " (barred)")).join(", ") || "—"))),
      h("div", { class: "panel" }, h("dl", { class: "kv" },
        h("dt", {}, "Last network"), h("dd", { "data-testid": "sim-network" }, live.network_name ? `${live.network_name} (${live.mcc}-${live.mnc}, ${live.iso_country})` : "—"),
        h("dt", {}, "Cell"), h("dd", {}, live.cell_id ? `${live.cell_id} / LAC ${live.lac} · ${live.rat_type}` : "—"),
        h("dt", {}, "Last seen"), h("dd", {}, when(live.last_seen_at), live.last_event ? " · " + shortType(live.last_event) : ""),
        h("dt", {}, "Open data sessions"), h("dd", {}, num(live.open_sessions)),
        h("dt", {}, "Billing period"), h("dd", {}, period ? `${when(period.period_start)} – ${when(period.period_end)} (${period.period_type})` : "—"),
        h("dt", {}, "Used this period"), h("dd", {}, period ? bytes(period.used_bytes) : "—",
          s.fleet ? ` of ${num(s.fleet.data_limit_mb)} MB` : "", period && period.blocked ? " · blocked" : "")))),
    h("h2", {}, "Usage"),
    h("div", { class: "toolbar" },
      h("button", { class: "secondary", onclick: () => drawUsage("hour") }, "Hourly"),
      h("button", { class: "secondary", onclick: () => drawUsage("day") }, "Daily")),
    usageBox,
    h("h2", {}, "Balances"),
    h("div", { class: "panel" }, table(["Billing account", "Type", "Balance", { label: "Value", num: true }], balances)),
    h("h2", {}, "CDRs"),
    h("div", { class: "panel" }, table([{ label: "Order ID", num: true }, "ToR", "Destination", "Setup", { label: "Usage", num: true }, { label: "Cost", num: true }], cdrs)),
    h("h2", {}, "Event history (from the log)"),
    h("div", { class: "panel" }, table(["Position", "Recorded", "Type", "What"], events, { "data-testid": "sim-events" })),
  ];
  await drawUsage("hour");
  return body;
}

async function fleetsPage() {
  const f = await api("/fleets");
  const rows = f.fleets.map((x) => row([x.fleet_sid || "no fleet", x.unique_name || "", { num: num(x.sims) }, { num: num(x.active) },
    { num: x.data_limit_mb === null ? "—" : num(x.data_limit_mb) + " MB" }]));
  return [h("h1", {}, "Fleets"), h("div", { class: "panel" },
    table(["Fleet", "Name", { label: "SIMs", num: true }, { label: "Active", num: true }, { label: "Data limit", num: true }], rows, { "data-testid": "fleets-list" }))];
}

async function usagePage(params) {
  const group = params.group || "fleet";
  const granularity = params.granularity || "hour";
  const u = await api("/usage", { group, granularity });
  const periods = [...new Set(u.points.map((p) => p.period))];
  const groups = [...new Set(u.points.map((p) => p.key))];
  const by = new Map(u.points.map((p) => [p.period + "|" + p.key, p.bytes]));
  const label = (p) => granularity === "day" ? new Date(p).toLocaleDateString() : new Date(p).toLocaleTimeString([], { hour: "2-digit" });
  const totals = groups.map((g) => [g, u.points.filter((p) => p.key === g).reduce((a, p) => a + p.bytes, 0)]);
  const pick = (name, values, current) => {
    const s = h("select", { name }, values.map((v) => h("option", { value: v, selected: v === current }, v)));
    s.addEventListener("change", () => { location.hash = "#/usage?" + new URLSearchParams({ group, granularity, [name]: s.value }); });
    return s;
  };
  return [h("h1", {}, "Usage"),
    h("div", { class: "toolbar" }, "by", pick("group", ["fleet", "network", "country"], group), "per", pick("granularity", ["hour", "day"], granularity)),
    h("div", { class: "panel" }, barChart(periods, groups, (p, g) => by.get(p + "|" + g), "usage-chart", label)),
    h("h2", {}, "Totals"),
    h("div", { class: "panel" }, table([group, { label: "Data", num: true }], totals.map(([g, b]) => row([g || "none", { num: bytes(b) }]))))];
}

async function billingPage() {
  const b = await api("/billing");
  const balances = b.accounts.flatMap((a) => Object.entries(a.BalanceMap || {}).flatMap(([kind, list]) =>
    list.map((x) => row([a.ID, kind, x.ID, { num: x.Value }, a.Disabled ? "disabled" : ""]))));
  const triggers = b.accounts.flatMap((a) => (a.ActionTriggers || []).map((t) =>
    row([a.ID, t.ID || t.UniqueID || "", t.ThresholdType || "", { num: t.ThresholdValue ?? "" }, t.ActionsID || "", t.Executed ? badge("fired") : "armed"])));
  const plans = b.plan_bindings.map((p) => row([p.plan_id, p.account, { num: p.timing_index }, when(p.anchor), when(p.last_fired)]));
  return [h("h1", {}, "Billing"),
    h("h2", {}, "Balances"),
    h("div", { class: "panel" }, table(["Account", "Type", "Balance", { label: "Value", num: true }, ""], balances, { "data-testid": "balances" })),
    h("h2", {}, "Action triggers"),
    h("div", { class: "panel" }, table(["Account", "Trigger", "Threshold", { label: "Value", num: true }, "Actions", "State"], triggers, { "data-testid": "triggers" })),
    h("h2", {}, "Action plans"),
    h("div", { class: "panel" }, table(["Plan", "Account", { label: "Timing", num: true }, "Anchor", "Last fired"], plans, { "data-testid": "action-plans" }))];
}

async function exportsPage() {
  const x = await api("/exports");
  const exporters = x.exporters.map((e) => row([e.tenant, e.exporter_id, e.kind, h("span", { class: "mono" }, e.export_path),
    e.schedule || "on demand", when(e.next_run_at), { num: num(e.last_exported_order_id) },
    { num: e.latest_order_id === null ? "—" : num(e.latest_order_id) }, { num: num(e.cdrs_behind) }, e.pending ? badge("rerun due") : ""]));
  const runs = x.runs.map((r) => row([when(r.finished_at), r.tenant, r.exporter_id, { num: num(r.first_order_id) },
    { num: num(r.last_order_id) }, { num: num(r.cdrs) }, h("span", { class: "mono" }, r.files.join(", "))]));
  const sinks = x.sinks.map((s) => row([s.sink_sid, s.description, s.sink_type, badge(s.failed ? "failed" : s.status),
    { num: s.position === null ? "—" : num(s.position) }, { num: s.lag === null ? "—" : num(s.lag) }, { num: num(s.delivered) }, s.last_error || ""]));
  return [h("h1", {}, "Exports"),
    h("h2", {}, "CDR exporters"),
    h("div", { class: "panel" }, table(["Tenant", "Exporter", "Kind", "Path", "Schedule", "Next run", { label: "Cursor", num: true },
      { label: "Newest CDR", num: true }, { label: "CDRs behind", num: true }, ""], exporters, { "data-testid": "exporters" })),
    h("h2", {}, "Runs and files"),
    h("div", { class: "panel" }, table(["Finished", "Tenant", "Exporter", { label: "First order ID", num: true },
      { label: "Last order ID", num: true }, { label: "CDRs", num: true }, "Files"], runs, { "data-testid": "export-runs" })),
    h("h2", {}, "Event stream sinks"),
    h("div", { class: "panel" }, table(["Sink", "Description", "Type", "Status", { label: "Cursor", num: true },
      { label: "Behind", num: true }, { label: "Delivered", num: true }, "Last error"], sinks, { "data-testid": "sinks" }))];
}

// ---- routing -------------------------------------------------------------------------------

function showError(e) {
  view.replaceChildren(h("p", { class: "error", "data-testid": "page-error" }, String(e.message || e)));
}

// Each navigation gets a number; a page that finishes loading after the user moved on is
// dropped instead of replacing the newer one.
let navigation = 0;

async function route() {
  const current = ++navigation;
  const stale = () => current !== navigation;
  cleanup.forEach((f) => f());
  cleanup = [];
  const [path, q] = (location.hash.slice(1) || "/overview").split("?");
  const params = Object.fromEntries(new URLSearchParams(q || ""));
  const parts = path.split("/").filter(Boolean);
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.getAttribute("href") === "#/" + parts[0]);
  const needsAccount = ["sims", "billing"].includes(parts[0]) && parts.length === 1;
  if (needsAccount && session.role === "operator" && !account()) {
    view.replaceChildren(h("h1", {}, parts[0] === "sims" ? "SIMs" : "Billing"), h("p", { class: "muted" }, "Pick an account above."));
    return;
  }
  try {
    let content;
    switch (parts[0]) {
      case "live": content = live(); break;
      case "sims": content = parts[1] ? await sim(parts[1]) : await sims(params); break;
      case "fleets": content = await fleetsPage(); break;
      case "usage": content = await usagePage(params); break;
      case "billing": content = await billingPage(); break;
      case "exports": content = await exportsPage(); break;
      default:
        content = await overview();
        every(5000, () => overview().then((c) => { if (!stale()) view.replaceChildren(...c); }).catch(() => {}));
    }
    if (!stale()) view.replaceChildren(...content);
  } catch (e) {
    if (!stale()) showError(e);
  }
}

async function main() {
  session = await api("/session");
  document.querySelector("[data-testid=who]").textContent = `${session.account_sid} · ${session.role}`;
  if (session.role === "operator") {
    picker.hidden = false;
    picker.append(h("option", { value: "" }, "All accounts"),
      ...session.accounts.map((a) => h("option", { value: a.sid, selected: a.sid === account() }, `${a.friendly_name} (${a.sid})`)));
    picker.addEventListener("change", () => { sessionStorage.setItem("account", picker.value); route(); });
  }
  window.addEventListener("hashchange", route);
  await route();
}

main().catch(showError);
