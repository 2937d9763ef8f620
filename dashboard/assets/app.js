// eastwest dashboard: the conversations overview.
// Reads the API, renders with DOM calls (text only, never HTML from data),
// keeps range, verdict and sort in the URL query string.
"use strict";

(function () {
  const REFRESH_MS = 5000;
  const RANGES = ["all", "1h", "24h", "7d"];
  const VERDICTS = ["", "violation", "allowed", "unknown"];
  const PROTOCOLS = { 1: "ICMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 58: "ICMPv6", 132: "SCTP" };

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let inFlight = false;

  function state() {
    const params = new URLSearchParams(window.location.search);
    const range = RANGES.includes(params.get("range")) ? params.get("range") : "24h";
    const verdict = VERDICTS.includes(params.get("verdict")) ? params.get("verdict") : "";
    const sort = /^-?[a-z_]+$/.test(params.get("sort") || "") ? params.get("sort") : "-bytes";
    return { range, verdict, sort };
  }

  function setState(change) {
    const next = Object.assign(state(), change);
    const params = new URLSearchParams();
    params.set("range", next.range);
    if (next.verdict) params.set("verdict", next.verdict);
    if (next.sort !== "-bytes") params.set("sort", next.sort);
    window.history.replaceState(null, "", "?" + params.toString());
    refresh();
  }

  function apiParams(s) {
    const params = new URLSearchParams({ range: s.range, sort: s.sort, limit: "500" });
    if (s.verdict) params.set("verdict", s.verdict);
    return params;
  }

  const number = new Intl.NumberFormat();
  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toString() : v.toFixed(v < 10 ? 2 : 1)) + " " + units[i];
  }
  function service(c) {
    const name = PROTOCOLS[c.proto] || "proto " + c.proto;
    return (c.proto === 6 || c.proto === 17 || c.proto === 132) ? name + "/" + c.dst_port : name;
  }
  function when(ms) {
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function endpoint(vm, addr) {
    return vm ? el("span", "vm", vm) : el("span", "addr", addr || "?");
  }

  function row(c) {
    const tr = el("tr", c.verdict === "violation" ? "violation" : "");
    const src = el("td"); src.append(endpoint(c.src_vm, c.src_addr));
    const arrow = el("td", "arrow", "→");
    const dst = el("td"); dst.append(endpoint(c.dst_vm, c.dst_addr));
    const zones = el("td", "zone", c.src_zone + " → " + c.dst_zone);
    const svc = el("td", "", service(c));
    const flows = el("td", "num", number.format(c.flows));
    const packets = el("td", "num", number.format(c.packets));
    const size = el("td", "num", bytes(c.bytes));
    size.title = number.format(c.bytes) + " bytes";
    const verdict = el("td");
    verdict.append(el("span", "badge " + c.verdict, c.verdict));
    if (c.verdict !== "allowed" && c.rule) {
      verdict.append(el("span", "rule", c.rule + (c.severity ? " (" + c.severity + ")" : "")));
    }
    const same = el("td");
    if (c.same_host) same.append(el("span", "badge samehost", "same host"));
    else same.append(el("span", "muted", "–"));
    const seen = el("td", "muted", when(c.end_ms));
    seen.title = "observed by " + c.observers.join(", ");
    tr.append(src, arrow, dst, zones, svc, flows, packets, size, verdict, same, seen);
    return tr;
  }

  function render(data, s) {
    $("t-conversations").textContent = number.format(data.totals.conversations);
    $("t-flows").textContent = number.format(data.totals.flows);
    $("t-bytes").textContent = bytes(data.totals.bytes);
    $("t-violations").textContent = number.format(data.totals.violations);
    const body = $("rows");
    body.replaceChildren(...data.conversations.map(row));
    const empty = $("empty");
    empty.replaceChildren();
    empty.hidden = data.conversations.length > 0;
    if (!empty.hidden) {
      empty.append("No conversations in this range.");
      if (s.range !== "all") {
        empty.append(" ");
        const all = el("a", "", "Show all time");
        all.href = "?range=all";
        all.addEventListener("click", (e) => { e.preventDefault(); setState({ range: "all" }); });
        empty.append(all);
      }
    } else if (data.totals.conversations > data.conversations.length) {
      empty.hidden = false;
      empty.textContent = "Showing the first " + data.conversations.length + " of " +
        number.format(data.totals.conversations) + " conversations.";
    }
  }

  function renderControls(s) {
    document.querySelectorAll("#ranges button").forEach((b) => {
      b.classList.toggle("active", b.dataset.range === s.range);
      b.setAttribute("aria-pressed", b.dataset.range === s.range ? "true" : "false");
    });
    $("verdict").value = s.verdict;
    const key = s.sort.replace(/^-/, "");
    document.querySelectorAll("th[data-sort]").forEach((th) => {
      th.classList.toggle("sorted", th.dataset.sort === key);
      th.classList.toggle("asc", th.dataset.sort === key && !s.sort.startsWith("-"));
    });
    const csv = apiParams(s);
    csv.set("format", "csv");
    csv.set("limit", "10000");
    $("csv").href = "/api/v1/conversations?" + csv.toString();
  }

  async function refresh() {
    const s = state();
    renderControls(s);
    if (inFlight) return;
    inFlight = true;
    const status = $("status");
    try {
      const response = await fetch("/api/v1/conversations?" + apiParams(s).toString(), {
        headers: { Accept: "application/json" },
      });
      const data = await response.json().catch(() => ({ error: "unreadable answer" }));
      if (!response.ok) throw new Error(data.error || response.statusText);
      render(data, s);
      $("error").hidden = true;
      status.classList.remove("stale");
      status.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (err) {
      const banner = $("error");
      banner.textContent = "Cannot load conversations: " + err.message + ". Retrying…";
      banner.hidden = false;
      status.classList.add("stale");
      status.textContent = "stale";
    } finally {
      inFlight = false;
    }
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = null;
    if ($("autorefresh").checked) {
      timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("#ranges button").forEach((b) =>
      b.addEventListener("click", () => setState({ range: b.dataset.range })));
    $("verdict").addEventListener("change", (e) => setState({ verdict: e.target.value }));
    document.querySelectorAll("th[data-sort]").forEach((th) =>
      th.addEventListener("click", () => {
        const current = state().sort;
        const key = th.dataset.sort;
        setState({ sort: current === "-" + key ? key : "-" + key });
      }));
    $("autorefresh").addEventListener("change", schedule);
    refresh();
    schedule();
  });
})();
