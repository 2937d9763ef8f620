// Unit tests of the page's logic that needs no browser: URL state, graph
// folding, formatting. Bundled by `node build.mjs --tests DIR`, run by
// `node --test DIR` (tests/src/browser.rs does both).
import { test } from "node:test";
import assert from "node:assert/strict";
import { filterParams, parse, serialize } from "../../src/state";
import { buildGraph } from "../../src/views/graph";
import { bytes, service, when } from "../../src/format";
import { type Conversation, conversationPacketsUrl, packetsUrl, vmPacketsUrl } from "../../src/api";

test("state: a shared address gives back the same state", () => {
  const s = parse("?view=graph&range=7d&zone=dmz&verdict=violation&same_host=true&sort=-bytes_rev&offset=200");
  assert.equal(s.view, "graph");
  assert.equal(s.range, "7d");
  assert.equal(s.zone, "dmz");
  assert.equal(s.verdict, "violation");
  assert.equal(s.sameHost, "true");
  assert.equal(s.sort, "-bytes_rev");
  assert.equal(s.offset, 200);
  assert.deepEqual(parse(serialize(s)), s);
});

test("state: junk in the address falls back to defaults, never reaches the API", () => {
  const s = parse("?view=<script>&range=3y&verdict=maybe&same_host=2&sort=bytes;drop&offset=-5");
  assert.equal(s.view, "overview");
  assert.equal(s.range, "24h");
  assert.equal(s.verdict, "");
  assert.equal(s.sameHost, "");
  assert.equal(s.sort, "-bytes");
  assert.equal(s.offset, 0);
  assert.equal(serialize(s), "?range=24h");
});

test("state: a custom window replaces the range in the API parameters", () => {
  const s = parse("?from=2026-11-02T09:00:00Z&to=2026-11-02T10:00:00Z&range=1h&vm=web-01&dataset=lab");
  assert.equal(s.range, "custom");
  const p = filterParams(s);
  assert.equal(p.get("range"), null);
  assert.equal(p.get("from"), "2026-11-02T09:00:00Z");
  assert.equal(p.get("to"), "2026-11-02T10:00:00Z");
  assert.equal(p.get("vm"), "web-01");
  assert.equal(p.get("dataset"), "lab");
  assert.equal(serialize(s), "?from=2026-11-02T09%3A00%3A00Z&to=2026-11-02T10%3A00%3A00Z&dataset=lab&vm=web-01");
});

function conv(over: Partial<Conversation>): Conversation {
  return {
    client_vm: "web-01",
    client_addr: null,
    client_zone: "dmz",
    client_host: "esx-01",
    server_vm: "db-01",
    server_addr: null,
    server_zone: "db",
    server_host: "esx-04",
    proto: 6,
    server_port: 5432,
    verdict: "allowed",
    rule: "",
    severity: "",
    same_host: false,
    observers: ["esx-01"],
    flows: 1,
    packets_fwd: 1,
    bytes_fwd: 100,
    packets_rev: 1,
    bytes_rev: 50,
    packets: 2,
    bytes: 150,
    start_ms: 0,
    end_ms: 1,
    ...over,
  };
}

test("graph: one edge per client → server pair; a violation on any service marks the edge", () => {
  const { nodes, edges } = buildGraph([
    conv({}),
    conv({
      server_port: 22,
      proto: 6,
      verdict: "violation",
      rule: "dmz never reaches db",
      severity: "critical",
      bytes: 10,
    }),
    conv({ client_vm: "db-01", client_zone: "db", server_vm: "web-01", server_zone: "dmz", server_port: 0, proto: 1 }),
    conv({ client_vm: "", client_addr: "203.0.113.9", client_zone: "internet", verdict: "unknown" }),
  ]);
  assert.equal(nodes.size, 3);
  assert.equal(edges.length, 3);
  const fwd = edges.find((e) => e.client === "vm:web-01" && e.server === "vm:db-01");
  assert.ok(fwd);
  assert.equal(fwd.verdict, "violation");
  assert.equal(fwd.severity, "critical");
  assert.equal(fwd.bytes, 160);
  assert.deepEqual([...fwd.services].sort(), ["TCP/22", "TCP/5432"]);
  const rev = edges.find((e) => e.client === "vm:db-01");
  assert.equal(rev?.verdict, "allowed");
  const outside = edges.find((e) => e.client === "addr:203.0.113.9");
  assert.equal(outside?.verdict, "unknown");
  assert.equal(nodes.get("vm:web-01")?.violations, 1);
});

test("format: sizes, services, times", () => {
  assert.equal(bytes(0), "0 B");
  assert.equal(bytes(1023), "1023 B");
  assert.equal(bytes(1536), "1.50 KiB");
  assert.equal(bytes(78960), "77.1 KiB");
  assert.equal(bytes(5 * 1024 ** 3), "5.00 GiB");
  assert.equal(service(6, 443), "TCP/443");
  assert.equal(service(17, 53), "UDP/53");
  assert.equal(service(1, 0), "ICMP");
  assert.equal(service(99, 0), "proto 99");
  assert.equal(when(1793610000200), "2026-11-02 09:00:00 UTC");
  assert.equal(when(null), "–");
});

test("packets: a violation's flows address becomes its packets address", () => {
  const url = packetsUrl(
    "/api/v1/flows?from=1793610030&to=1793610151&vm=fin-fe-01&peer=payroll-01&proto=6&port=443&verdict=violation&rule=no%20fin&limit=50",
    "lab",
  );
  const parsed = new URL(url, "http://x");
  assert.equal(parsed.pathname, "/api/v1/packets");
  const p = parsed.searchParams;
  assert.equal(p.get("vm"), "fin-fe-01");
  assert.equal(p.get("peer"), "payroll-01");
  assert.equal(p.get("rule"), "no fin");
  assert.equal(p.get("dataset"), "lab");
  assert.equal(p.get("limit"), null, "no paging");
});

test("packets: a conversation row's packets address covers its whole span", () => {
  const c = {
    client_vm: "fin-fe-01",
    server_vm: "",
    proto: 6,
    server_port: 443,
    start_ms: 1793610030500,
    end_ms: 1793610150500,
  } as Conversation;
  const p = new URL(conversationPacketsUrl(c), "http://x").searchParams;
  assert.equal(p.get("from"), "1793610030");
  assert.equal(p.get("to"), "1793610151");
  assert.equal(p.get("vm"), "fin-fe-01");
  assert.equal(p.get("peer"), null, "an unknown end is no filter");
  assert.equal(p.get("port"), "443");
  assert.equal(p.get("dataset"), null);
});

test("packets: the VM page's packets address is the VM in the view's window", () => {
  const p = new URL(vmPacketsUrl("fin-fe-01", new URLSearchParams("range=all&dataset=lab")), "http://x");
  assert.equal(p.pathname, "/api/v1/packets");
  assert.equal(p.searchParams.get("vm"), "fin-fe-01");
  assert.equal(p.searchParams.get("range"), "all");
  assert.equal(p.searchParams.get("dataset"), "lab");
  assert.equal(p.searchParams.get("peer"), null);
});
