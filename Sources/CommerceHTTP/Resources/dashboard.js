// The operator dashboard: live over GET /events/stream (Server-Sent Events), plus a light poll
// of /metrics. No library: the charts are a few SVG elements drawn here.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const number = (n) => Number(n).toLocaleString("en-US");
const won = (n) => number(n) + " won";
const maxRows = 200;
const history = 90;            // sparkline points (one per 2 s poll: three minutes)

const state = {
  head: 0,
  seen: new Set(),             // positions shown, so a reconnect never shows one twice
  events: [],                  // newest first, at most maxRows
  types: new Set(),
  rates: [], p50s: [], p99s: [],
  previous: null,              // the last /metrics reading
  source: null,
  refreshTop: null, refreshCoupons: null,
  pending: new Set(),          // issue requests seen and not yet decided
  lastPosition: 0,             // the newest event received
};

// ---- access -------------------------------------------------------------------------------

function token() { return sessionStorage.getItem("commerce-admin-token"); }

async function admitted() {
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  const r = await fetch("/admin/session", { headers });
  return r.ok;
}

async function start() {
  if (await admitted()) return open();
  $("login").hidden = false;
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    sessionStorage.setItem("commerce-admin-token", $("token").value);
    if (await admitted()) {
      $("login").hidden = true;
      open();
    } else {
      $("login-error").textContent = "that token is not accepted";
    }
  });
}

// ---- the banner ---------------------------------------------------------------------------

const problems = new Map();
function problem(kind, text) {
  if (text) problems.set(kind, text); else problems.delete(kind);
  $("banner").hidden = problems.size === 0;
  $("banner").textContent = [...problems.values()].join(" · ");
}

async function getJSON(path) {
  let r;
  try {
    r = await fetch(path);
  } catch (e) {
    problem("fetch", "the server does not answer");
    throw e;
  }
  if (r.status === 503) problem("store", "the store answers 503: " + (await r.text()));
  else problem("store", null);
  problem("fetch", null);
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

// ---- the event stream ---------------------------------------------------------------------

function connect(after) {
  // EventSource reconnects by itself and sends Last-Event-ID, so nothing is missed or repeated.
  const source = new EventSource("/events/stream?after=" + after);
  state.source = source;
  source.onopen = () => { $("stream-state").textContent = "live"; problem("stream", null); };
  source.onerror = () => {
    $("stream-state").textContent = "reconnecting";
    problem("stream", "the event stream is disconnected; reconnecting");
    // A refusal (not 200) closes an EventSource for good: start again from what we have.
    if (source.readyState === EventSource.CLOSED) setTimeout(restart, 2000);
  };
  source.addEventListener("resume", () => {
    // Too far behind to be served: start again from the newest events.
    source.close();
    restart();
  });
  source.onmessage = null;
  const handler = (e) => receive(JSON.parse(e.data));
  for (const type of knownTypes) source.addEventListener(type, handler);
}

const knownTypes = ["PointCharged", "PointUsed", "PointRefunded", "ProductRegistered", "ProductRestocked",
  "StockDeducted", "StockRestored", "CouponDefined", "CouponIssueRequested", "CouponIssued", "CouponIssueRejected",
  "CouponUsed", "CouponRestored", "OrderCompleted", "OrderFailed", "OrderCompensated", "IdempotencyKeysExpired"];

// Loads the newest events after the last one shown (at most 50) and follows the stream from there.
async function restart() {
  try {
    const health = await getJSON("/health");
    const after = Math.max(state.lastPosition, health.head - 50);
    const page = await getJSON("/events?after=" + after + "&limit=50");
    page.items.forEach(receive);
    connect(page.next);
  } catch (e) {
    setTimeout(restart, 2000);
  }
}

function receive(event) {
  if (state.seen.has(event.position)) return;
  state.seen.add(event.position);
  state.lastPosition = Math.max(state.lastPosition, event.position);
  state.head = Math.max(state.head, event.position);
  $("head").textContent = number(state.head);
  if (!state.types.has(event.type)) {
    state.types.add(event.type);
    const option = document.createElement("option");
    option.value = option.textContent = event.type;
    $("type-filter").appendChild(option);
  }
  state.events.unshift(event);
  if (state.events.length > maxRows) {
    for (const old of state.events.splice(maxRows)) state.seen.delete(old.position);
  }
  if (!$("pause").checked) drawEvents();
  if (event.type === "CouponIssueRequested") state.pending.add(event.data.requestId);
  if ((event.type === "CouponIssued" || event.type === "CouponIssueRejected") && event.data.requestId != null) state.pending.delete(event.data.requestId);
  $("pending").textContent = number(state.pending.size);
  if (event.type.startsWith("Order")) soon("refreshTop", refreshTop);
  if (event.type.startsWith("Coupon")) soon("refreshCoupons", refreshCoupons);
}

// Several events in a burst cause one refresh.
function soon(key, f) {
  if (state[key]) return;
  state[key] = setTimeout(() => { state[key] = null; f(); }, 150);
}

function summary(e) {
  const d = e.data || {};
  switch (e.type) {
    case "PointCharged": return `user ${d.userId} +${won(d.amount)} → ${won(d.balanceAfter)}`;
    case "OrderCompleted": return `order ${d.orderId} by user ${d.userId}: paid ${won(d.paidAmount)}`;
    case "OrderCompensated": return `order ${d.orderId} compensated: ${d.reason}`;
    case "CouponIssued": return `coupon ${d.couponId} to user ${d.userId}`;
    case "CouponDefined": return `coupon ${d.couponId} "${d.name}", ${number(d.totalQuantity)}`;
    case "ProductRegistered": return `product ${d.productId} "${d.name}" at ${won(d.price)}`;
    default: return "";
  }
}

function drawEvents() {
  const filter = $("type-filter").value;
  const body = $("events").tBodies[0];
  body.replaceChildren(...state.events.filter((e) => !filter || e.type === filter).map((e) => {
    const row = document.createElement("tr");
    row.dataset.position = e.position;
    const link = document.createElement("a");
    link.href = `/events?after=${e.position - 1}&limit=1`;
    link.textContent = number(e.position);
    const cells = [link, e.at, e.type, e.stream, summary(e)].map((content, i) => {
      const cell = document.createElement("td");
      if (i === 4) cell.className = "summary";
      cell.append(content);
      return cell;
    });
    row.append(...cells);
    return row;
  }));
}

// ---- best-sellers and coupons -------------------------------------------------------------

async function refreshTop() {
  const top = await getJSON("/products/top?days=" + $("days").value + "&limit=5");
  const chart = $("top-chart");
  chart.replaceChildren();
  const most = Math.max(1, ...top.items.map((i) => i.quantity));
  top.items.forEach((item, i) => {
    const y = 8 + i * 28;
    const width = Math.max(1, 240 * item.quantity / most);
    const bar = document.createElementNS(SVG, "rect");
    bar.setAttribute("x", 150); bar.setAttribute("y", y); bar.setAttribute("height", 20); bar.setAttribute("width", width);
    bar.dataset.productId = item.productId;
    bar.dataset.quantity = item.quantity;
    const name = document.createElementNS(SVG, "text");
    name.setAttribute("x", 0); name.setAttribute("y", y + 14);
    name.textContent = item.name.length > 22 ? item.name.slice(0, 21) + "…" : item.name;
    const count = document.createElementNS(SVG, "text");
    count.setAttribute("x", 155 + width); count.setAttribute("y", y + 14);
    count.textContent = number(item.quantity);
    chart.append(bar, name, count);
  });
}

async function refreshCoupons() {
  const coupons = [];
  for (let after = 0; ;) {
    const page = await getJSON("/coupons?limit=100&after=" + after);
    coupons.push(...page.items);
    if (page.next === null) break;
    after = page.next;
  }
  $("coupons").replaceChildren(...coupons.map((c) => {
    const box = document.createElement("div");
    box.className = "coupon" + (c.remaining === 0 ? " sold-out" : "");
    box.dataset.couponId = c.id;
    const label = document.createElement("div");
    label.className = "label";
    const left = document.createElement("span");
    left.textContent = `${c.name}: ${number(c.issuedQuantity)} / ${number(c.totalQuantity)}`;
    const right = document.createElement("span");
    right.className = "remaining";
    right.textContent = c.remaining === 0 ? `sold out at ${c.soldOutAt}` : `${number(c.remaining)} left`;
    label.append(left, right);
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = (100 * c.issuedQuantity / Math.max(1, c.totalQuantity)) + "%";
    bar.append(fill);
    box.append(label, bar);
    return box;
  }));
}

// ---- metrics ------------------------------------------------------------------------------

function parseMetrics(text) {
  const out = { commands: 0, buckets: [], subscribers: [], lagSeconds: {}, head: 0, batches: 0 };
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line) continue;
    const [name, value] = [line.slice(0, line.lastIndexOf(" ")), Number(line.slice(line.lastIndexOf(" ") + 1))];
    if (name.startsWith("ledger_commands_total")) out.commands += value;
    else if (name.startsWith("ledger_group_commit_seconds_bucket")) out.buckets.push([name.match(/le="([^"]+)"/)[1], value]);
    else if (name === "ledger_group_commit_seconds_count") out.batches = value;
    else if (name.startsWith("ledger_subscriber_lag_events")) out.subscribers.push([name.match(/subscriber="([^"]+)"/)[1], value]);
    else if (name.startsWith("ledger_subscriber_lag_seconds")) out.lagSeconds[name.match(/subscriber="([^"]+)"/)[1]] = value;
    else if (name === "ledger_log_head_position") out.head = value;
  }
  return out;
}

// The commit-latency quantile over the last interval, from the histogram's bucket deltas.
function quantile(now, before, q) {
  const deltas = now.buckets.map(([le, n], i) => [le, n - (before ? before.buckets[i][1] : 0)]);
  const total = deltas.length ? deltas[deltas.length - 1][1] : 0;
  if (total <= 0) return null;
  const found = deltas.find(([, n]) => n >= q * total);
  return found ? found[0] : null;
}

function spark(svg, series, second) {
  svg.replaceChildren();
  const all = series.concat(second || []).filter((v) => v !== null);
  const most = Math.max(1e-9, ...all);
  for (const [values, cls] of [[series, ""], [second, "second"]]) {
    if (!values) continue;
    const line = document.createElementNS(SVG, "polyline");
    if (cls) line.setAttribute("class", cls);
    line.setAttribute("points", values.map((v, i) => `${i * 300 / (history - 1)},${58 - 56 * (v || 0) / most}`).join(" "));
    svg.append(line);
  }
}

const push = (list, v) => { list.push(v); if (list.length > history) list.shift(); };
const ms = (le) => le === null ? "–" : le === "+Inf" ? "> 100 ms" : "≤ " + number(Number(le) * 1000) + " ms";

async function pollMetrics() {
  try {
    const r = await fetch("/metrics");
    if (!r.ok) throw new Error(String(r.status));
    problem("metrics", null);
    const now = parseMetrics(await r.text());
    now.at = performance.now();
    if (state.previous) {
      const rate = (now.commands - state.previous.commands) / ((now.at - state.previous.at) / 1000);
      push(state.rates, rate);
      const p50 = quantile(now, state.previous, 0.5), p99 = quantile(now, state.previous, 0.99);
      push(state.p50s, p50 === null || p50 === "+Inf" ? null : Number(p50) * 1000);
      push(state.p99s, p99 === null || p99 === "+Inf" ? null : Number(p99) * 1000);
      $("rate").textContent = number(Math.round(rate));
      $("p50").textContent = ms(p50);
      $("p99").textContent = ms(p99);
      spark($("rate-chart"), state.rates);
      spark($("latency-chart"), state.p50s, state.p99s);
    }
    state.previous = now;
    $("subscribers").tBodies[0].replaceChildren(...now.subscribers.map(([name, lag]) => {
      const row = document.createElement("tr");
      for (const text of [name, number(lag), (now.lagSeconds[name] || 0).toFixed(1)]) { const cell = document.createElement("td"); cell.textContent = text; row.append(cell); }
      return row;
    }));
  } catch (e) {
    problem("metrics", "metrics unavailable");
  }
}

// ---- start --------------------------------------------------------------------------------

async function open() {
  $("main").hidden = false;
  const health = await getJSON("/health");
  state.head = health.head;
  $("head").textContent = number(health.head);
  $("zone").textContent = health.timeZone;
  // Requests the issuer has not decided: those after its checkpoint (head minus its lag).
  const metrics = parseMetrics(await (await fetch("/metrics")).text());
  const issuerLag = (metrics.subscribers.find(([name]) => name === "coupon-issuer") || [null, 0])[1];
  const checkpoint = Math.max(0, health.head - issuerLag);
  for (const type of ["CouponIssueRequested", "CouponIssued", "CouponIssueRejected"]) {
    // A filtered page looks at a bounded stretch of the log: read on until `next` stops moving.
    for (let after = checkpoint; ;) {
      const decided = await getJSON(`/events?type=${type}&after=${after}&limit=1000`);
      for (const e of decided.items) {
        if (type === "CouponIssueRequested") state.pending.add(e.data.requestId);
        else if (e.data.requestId != null) state.pending.delete(e.data.requestId);
      }
      if (decided.next === after) break;
      after = decided.next;
    }
  }
  $("pending").textContent = number(state.pending.size);
  // The newest events first, then everything after them live.
  const after = Math.max(0, health.head - 50);
  const page = await getJSON("/events?after=" + after + "&limit=50");
  page.items.forEach(receive);
  connect(page.next);
  refreshTop();
  refreshCoupons();
  pollMetrics();
  setInterval(pollMetrics, 2000);
  $("days").addEventListener("change", refreshTop);
  $("type-filter").addEventListener("change", drawEvents);
  $("pause").addEventListener("change", () => { if (!$("pause").checked) drawEvents(); });
}

start();
