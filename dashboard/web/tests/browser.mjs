// Browser tests of the dashboard page in a real headless Chromium (Debian's
// `chromium`, driven by playwright-core), against a running dashboard that
// serves the lab capture (tests/tests/lab_pipeline.rs starts the pipeline
// and runs this file).
//
//   EASTWEST_URL=http://127.0.0.1:8080 [EASTWEST_SCREENSHOTS=dir] [CHROMIUM=path] \
//     node --test tests/browser.mjs
//
// Truth: lab/expected.json (what the lab generator sent) and the API's own
// answers; the page must show both. Screenshots of every view (light and
// dark) go to EASTWEST_SCREENSHOTS (default: target/browser-screenshots).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");
const base = process.env.EASTWEST_URL;
if (!base) throw new Error("EASTWEST_URL is not set (the dashboard to test)");
const shots = resolve(process.env.EASTWEST_SCREENSHOTS ?? join(repo, "target/browser-screenshots"));
mkdirSync(shots, { recursive: true });
const expected = JSON.parse(readFileSync(join(repo, "lab/expected.json"), "utf8"));
const violating = expected.conversations.filter((c) => c.verdict === "violation");

let browser;
/** Everything the page did wrong, per test: console errors, page errors, foreign requests. */
let problems = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
});

after(async () => {
  await browser?.close();
});

async function open(path, { scheme = "light", width = 1440, height = 1000 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme: scheme, acceptDownloads: true });
  const page = await context.newPage();
  problems = [];
  page.on("console", (m) => {
    // Failed requests are judged by the response handler below.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(base) && !url.startsWith("blob:") && !url.startsWith("data:"))
      problems.push(`foreign request: ${url}`);
  });
  await page.goto(base + path);
  await settled(page);
  return page;
}

/** The view's data arrived: no request in flight, status says updated (or an error shows). */
async function settled(page) {
  await page.waitForFunction(
    () =>
      !document.body.classList.contains("busy") &&
      (/updated/.test(document.getElementById("status")?.textContent ?? "") ||
        !document.getElementById("error")?.hidden),
    null,
    { timeout: 20_000 },
  );
}

function clean(page) {
  assert.deepEqual(problems, [], "the page logged errors or loaded something from elsewhere");
  return page;
}

async function noError(page) {
  const banner = page.locator("#error");
  assert.equal(await banner.isHidden(), true, `error banner: ${await banner.textContent()}`);
}

async function api(path) {
  const r = await fetch(`${base}/api/v1/${path}`);
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return r.json();
}

/** Pixels of an ECharts canvas close to the page's --danger colour (the violation red). */
async function redPixels(page, selector) {
  await page.waitForSelector(`${selector}[data-rendered="true"] canvas`);
  return page.evaluate((sel) => {
    const hex = getComputedStyle(document.documentElement).getPropertyValue("--danger").trim();
    const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    let n = 0;
    // ECharts may paint on several layers (canvases); count them all.
    for (const canvas of document.querySelectorAll(`${sel} canvas`)) {
      const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < data.length; i += 4) {
        if (
          Math.abs(data[i] - want[0]) < 24 &&
          Math.abs(data[i + 1] - want[1]) < 24 &&
          Math.abs(data[i + 2] - want[2]) < 24 &&
          data[i + 3] > 200
        )
          n++;
      }
    }
    return n;
  }, selector);
}

test("overview shows the lab: totals as the API counts them, the violations highlighted with their rule", async () => {
  const page = await open("/?range=all");
  await noError(page);
  const answer = await api("conversations?range=all&limit=1");
  const card = async (label) =>
    (await page.locator(".card", { hasText: label }).locator(".value").textContent()).replace(/,/g, "");
  assert.equal(await card("Conversations"), String(answer.totals.conversations));
  assert.equal(await card("Violations"), String(answer.totals.violations));
  assert.equal(await card("Flows"), String(answer.totals.flows));
  assert.ok(answer.totals.violations >= violating.length, "the API counts the lab's violations");
  assert.ok(await page.locator(".card.alarm").isVisible(), "violations card raised");
  for (const c of violating) {
    const row = page
      .locator("table.conversations tbody tr", { hasText: c.client_vm })
      .filter({ hasText: c.server_vm })
      .filter({ hasText: c.rule });
    assert.ok((await row.count()) >= 1, `row ${c.client_vm} → ${c.server_vm} with its rule`);
    assert.equal(await row.first().getAttribute("data-verdict"), "violation");
    const bg = await row.first().evaluate((tr) => getComputedStyle(tr).backgroundColor);
    const danger = await page.evaluate(() => {
      const probe = document.createElement("div");
      probe.style.backgroundColor = "var(--danger-bg)";
      document.body.appendChild(probe);
      const color = getComputedStyle(probe).backgroundColor;
      probe.remove();
      return color;
    });
    assert.equal(bg, danger, "violating rows are red");
  }
  // Allowed lab conversations are listed too, and not red.
  const allowed = expected.conversations.find((c) => c.verdict === "allowed");
  const row = page
    .locator("table.conversations tbody tr", { hasText: allowed.client_vm })
    .filter({ hasText: allowed.server_vm });
  assert.equal(await row.first().getAttribute("data-verdict"), "allowed");
  // The newest violations panel names each violated rule.
  const list = await page.locator("ol.violations").textContent();
  for (const c of violating) assert.ok(list.includes(c.rule), `violations panel lacks "${c.rule}"`);
  // The time series has points.
  assert.ok(Number(await page.locator("#timeseries").getAttribute("data-points")) > 0, "time series empty");
  await page.screenshot({ path: join(shots, "overview-light.png"), fullPage: true });
  clean(page);
  await page.context().close();
});

test("overview in the dark theme, on a narrow screen", async () => {
  const page = await open("/?range=all", { scheme: "dark", width: 420, height: 900 });
  await noError(page);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(bg, "rgb(244, 245, 248)", "dark theme applied");
  await page.screenshot({ path: join(shots, "overview-dark-narrow.png"), fullPage: true });
  clean(page);
  await page.context().close();
});

test("a filter changes the URL and the table; a sort header too", async () => {
  const page = await open("/?range=all");
  await page.selectOption("#f-verdict", "violation");
  await page.waitForURL(/verdict=violation/);
  await settled(page);
  await noError(page);
  const answer = await api("conversations?range=all&verdict=violation&limit=1000");
  const rows = page.locator("table.conversations tbody tr");
  assert.equal(await rows.count(), answer.conversations.length);
  assert.ok(answer.conversations.length >= violating.length);
  for (const v of await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-verdict")))) {
    assert.equal(v, "violation");
  }
  // The address is shareable: opening it afresh gives the same view.
  const shared = page.url();
  assert.match(shared, /range=all/);
  await page.locator('th[data-sort="packets"]').click();
  await page.waitForURL(/sort=-packets/);
  await settled(page);
  const values = await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.children[8].textContent.replace(/,/g, ""))));
  assert.ok(values.length > 1);
  assert.deepEqual(
    values,
    [...values].sort((a, b) => b - a),
    "sorted by packets, descending",
  );
  await page.locator('th[data-sort="packets"]').click();
  await page.waitForURL(/sort=packets/);
  await settled(page);
  const up = await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.children[8].textContent.replace(/,/g, ""))));
  assert.deepEqual(
    up,
    [...up].sort((a, b) => a - b),
    "sorted by packets, ascending",
  );
  await page.goBack();
  await settled(page);
  // Back restores the previous state.
  await page.goBack();
  await settled(page);
  assert.doesNotMatch(page.url(), /sort=/);
  const again = await open(new URL(shared).search);
  assert.equal(await again.locator("#f-verdict").inputValue(), "violation");
  assert.equal(await again.locator("table.conversations tbody tr").count(), answer.conversations.length);
  clean(again);
  await again.context().close();
  await page.context().close();
});

test("the conversations export as CSV and JSON, with the filters of the view", async () => {
  const page = await open("/?range=all&verdict=violation");
  const answer = await api("conversations?range=all&verdict=violation&limit=10000");
  const [csv] = await Promise.all([
    page.waitForEvent("download"),
    page.click('#conversations button[data-export="csv"]'),
  ]);
  await csv.saveAs(join(shots, "conversations.csv"));
  const lines = readFileSync(join(shots, "conversations.csv"), "utf8").trim().split(/\r?\n/);
  assert.match(lines[0], /verdict/);
  assert.equal(lines.length - 1, answer.conversations.length, "one CSV line per conversation");
  const [json] = await Promise.all([
    page.waitForEvent("download"),
    page.click('#conversations button[data-export="json"]'),
  ]);
  await json.saveAs(join(shots, "conversations.json"));
  const body = JSON.parse(readFileSync(join(shots, "conversations.json"), "utf8"));
  assert.equal(body.conversations.length, answer.conversations.length);
  assert.ok(
    body.conversations.every((c) => c.verdict === "violation"),
    "the export keeps the verdict filter",
  );
  clean(page);
  await page.context().close();
});

test("graph: VMs grouped by zone, violating edges in red", async () => {
  const page = await open("/?view=graph&range=all");
  await noError(page);
  const answer = await api("conversations?range=all&limit=2000");
  const pair = (c) => `${c.client_vm || c.client_addr}→${c.server_vm || c.server_addr}`;
  const pairs = new Set(answer.conversations.filter((c) => c.verdict === "violation").map(pair));
  const box = page.locator("#graph");
  assert.equal(Number(await box.getAttribute("data-violating-edges")), pairs.size);
  for (const c of violating) {
    assert.equal(
      await page.locator(`#violating-edges li[data-edge="${c.client_vm}→${c.server_vm}"]`).count(),
      1,
      `edge ${c.client_vm} → ${c.server_vm} listed`,
    );
  }
  const red = await redPixels(page, "#graph");
  assert.ok(red > 200, `violating edges drawn in red (${red} red pixels)`);
  await page.screenshot({ path: join(shots, "graph-light.png"), fullPage: true });
  // Without violations in the filter, nothing is red.
  await page.selectOption("#f-verdict", "allowed");
  await page.waitForURL(/verdict=allowed/);
  await settled(page);
  await page.waitForFunction(() => document.querySelector("#graph")?.dataset.violatingEdges === "0");
  await page.waitForTimeout(300);
  assert.ok((await redPixels(page, "#graph")) < 20, "no red when only allowed traffic is shown");
  clean(page);
  await page.context().close();
});

test("zone matrix: violation cells red, as the API counts them", async () => {
  const page = await open("/?view=matrix&range=all", { scheme: "dark" });
  await noError(page);
  const answer = await api("zones/matrix?range=all");
  const bad = answer.cells.filter((c) => c.violations > 0);
  assert.ok(bad.length >= 2, "the lab has violations in at least two zone pairs");
  assert.equal(Number(await page.locator("#matrix").getAttribute("data-violating-cells")), bad.length);
  for (const c of bad) {
    const row = page.locator(`table.cells tr[data-cell="${c.client_zone}→${c.server_zone}"]`);
    assert.equal(await row.getAttribute("class"), "violation");
  }
  const red = await redPixels(page, "#matrix");
  assert.ok(red > 500, `violation cells drawn in red (${red} red pixels)`);
  await page.screenshot({ path: join(shots, "matrix-dark.png"), fullPage: true });
  clean(page);
  await page.context().close();
});

test("VM view: the VM's conversations; its placement links to the host view", async () => {
  const c = violating.find((x) => x.same_host) ?? violating[0];
  const page = await open(`/?view=vm&vm=${encodeURIComponent(c.server_vm)}&range=all`);
  await noError(page);
  assert.match(await page.locator("#vm-head h2").textContent(), new RegExp(c.server_vm));
  // The top bar's "Go to VM" reaches another VM.
  await page.fill("#jump-vm", c.client_vm);
  await page.press("#jump-vm", "Enter");
  await page.waitForURL(new RegExp(`vm=${c.client_vm}`));
  await settled(page);
  assert.match(await page.locator("#vm-head h2").textContent(), new RegExp(c.client_vm));
  await page.goBack();
  await settled(page);
  assert.ok((await page.locator("table.conversations tbody tr", { hasText: c.client_vm }).count()) >= 1);
  await page.screenshot({ path: join(shots, "vm.png"), fullPage: true });
  await page.locator(".placements a").first().click();
  await settled(page);
  await noError(page);
  assert.match(page.url(), /view=hosts/);
  assert.ok((await page.locator("table.hosts tbody tr").count()) >= 1);
  clean(page);
  await page.context().close();
});

test("hosts view: traffic switched inside each host, cross-zone counted", async () => {
  const local = violating.find((x) => x.same_host);
  assert.ok(local, "the lab has a violation inside one host");
  const answer = await api("hosts?range=all");
  const page = await open("/?view=hosts&range=all");
  await noError(page);
  assert.equal(await page.locator("table.hosts tbody tr").count(), answer.hosts.length);
  const host = answer.hosts.find((x) => x.local_cross_zone > 0);
  assert.ok(host, "a host with local cross-zone traffic");
  await page.locator(`tr[data-host="${host.host}"] a`).click();
  await page.waitForURL(new RegExp(`host=${host.host}`));
  await settled(page);
  await noError(page);
  assert.ok((await page.locator("#host-detail table.conversations tbody tr").count()) >= 1);
  await page.screenshot({ path: join(shots, "hosts.png"), fullPage: true });
  clean(page);
  await page.context().close();
});

test("NVGRE: the Hyper-V hosts' conversation, observed by both hosts, each packet counted once", async () => {
  const nv = expected.conversations.find((c) => c.flows.some((f) => f.encap === "nvgre"));
  assert.ok(nv, "the lab has a conversation on the NVGRE underlay");
  const page = await open(`/?view=vm&vm=${encodeURIComponent(nv.client_vm)}&range=all`);
  await noError(page);
  const row = page.locator("table.conversations tbody tr", { hasText: nv.server_vm });
  assert.equal(await row.count(), 1);
  // On the underlay each direction is attributed to its sending host (the
  // outer source's provider address).
  const title = await row.locator("td").last().getAttribute("title");
  for (const host of new Set(nv.flows.map((f) => f.host))) {
    assert.ok(title.includes(host), `"${title}" lacks the observer ${host}`);
  }
  const packets = (await row.locator("td.num").nth(2).textContent()).replace(/,/g, "");
  assert.equal(packets, String(nv.forward.packets + nv.reverse.packets));
  await page.screenshot({ path: join(shots, "nvgre.png"), fullPage: true });
  clean(page);
  await page.context().close();
});

test("coverage view: every exporter the collector heard", async () => {
  const answer = await api("exporters");
  const page = await open("/?view=exporters");
  await noError(page);
  assert.ok(answer.exporters.length >= 1, "the lab replay was heard");
  assert.equal(await page.locator("table.exporters tbody tr").count(), answer.exporters.length);
  await page.screenshot({ path: join(shots, "coverage.png"), fullPage: true });
  clean(page);
  await page.context().close();
});

test("datasets: the lab replay, opened on its own time span", async () => {
  const answer = await api("datasets");
  const lab = answer.datasets.find((d) => d.name === "lab");
  assert.ok(lab, "the lab was replayed as dataset lab");
  assert.equal(lab.live, false, "a replay, kept until deleted");
  assert.ok(lab.flows > 0 && lab.first_ms <= lab.last_ms && lab.bytes > 0);
  const page = await open("/?view=datasets");
  await noError(page);
  assert.equal(await page.locator("table.datasets tbody tr").count(), answer.datasets.length);
  const row = page.locator("table.datasets tbody tr", { has: page.locator('a[data-dataset="lab"]') });
  assert.equal((await row.locator("td.num").first().textContent()).replace(/,/g, ""), String(lab.flows));
  assert.match(await row.textContent(), /replay/);
  await page.screenshot({ path: join(shots, "datasets.png"), fullPage: true });
  // The link opens the overview on the whole hours around the lab's flows.
  await row.locator('a[data-dataset="lab"]').click();
  await page.waitForURL(/dataset=lab/);
  await settled(page);
  await noError(page);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get("dataset"), "lab");
  const from = Date.parse(url.searchParams.get("from"));
  const to = Date.parse(url.searchParams.get("to"));
  assert.ok(
    from <= lab.first_ms && lab.last_ms < to && to - from <= lab.last_ms - lab.first_ms + 2 * 3_600_000,
    `${from} ${to}`,
  );
  const inSpan = await api(
    `conversations?dataset=lab&from=${url.searchParams.get("from")}&to=${url.searchParams.get("to")}&limit=1`,
  );
  const all = await api("conversations?dataset=lab&range=all&limit=1");
  assert.equal(inSpan.totals.conversations, all.totals.conversations, "the span holds every conversation of the lab");
  for (const c of violating) {
    const r = page.locator("table.conversations tbody tr", { hasText: c.client_vm }).filter({ hasText: c.server_vm });
    assert.ok((await r.count()) >= 1, `row ${c.client_vm} → ${c.server_vm}`);
  }
  clean(page);
  await page.context().close();
});

test("the report downloads as CSV and PDF", async () => {
  const page = await open("/?view=reports&range=all");
  await noError(page);
  assert.ok((await page.locator("#report-statement").textContent()).length > 10, "report summary shown");
  // All time: the report names the first and last flow it covers.
  assert.match(
    await page.locator("#report-window").textContent(),
    /Window all time · flows 2026-11-02 09:00:\d\d UTC – 2026-11-02 09:0\d:\d\d UTC/,
  );
  for (const [format, check] of [
    [
      "csv",
      (b) => {
        const lines = b.toString("utf8").split(/\r?\n/);
        assert.match(lines[0], /section/);
        assert.ok(
          lines.some((l) => l.startsWith("summary,statement,")),
          "the summary row",
        );
        assert.ok(
          lines.some((l) => l.startsWith("coverage,")),
          "a coverage row per host",
        );
      },
    ],
    ["pdf", (b) => assert.equal(b.subarray(0, 5).toString("latin1"), "%PDF-")],
  ]) {
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click(`button[data-report="${format}"]`),
    ]);
    const path = join(shots, `report.${format}`);
    await download.saveAs(path);
    check(readFileSync(path));
  }
  await page.screenshot({ path: join(shots, "reports.png"), fullPage: true });
  clean(page);
  await page.context().close();
});

test("policy: the policy in force, co-residency, and a what-if on an uploaded draft", async () => {
  const policy = await api("policy");
  const page = await open("/?view=policy&range=all");
  await noError(page);
  assert.equal(await page.locator("#policy-revision").textContent(), policy.revision);
  assert.equal(await page.locator("#policy-current table").first().locator("tbody tr").count(), policy.rules.length);
  assert.match(await page.locator("#coresidency").textContent(), /Co-residency/);
  // A draft without the payroll / finance front end ban: its violation resolves.
  const lab = readFileSync(join(repo, "lab/policy.toml"), "utf8");
  const draft = lab.replace('action = "deny"', 'action = "allow"');
  assert.notEqual(draft, lab);
  await page.setInputFiles("#draft-file", { name: "draft.toml", mimeType: "text/plain", buffer: Buffer.from(draft) });
  await page.waitForFunction(() => document.getElementById("draft").value.length > 100);
  await page.click("#whatif-run");
  await page.waitForSelector("#whatif-summary");
  const pair = page.locator('[data-pair="finance-frontend→payroll"]');
  assert.ok(
    (await pair.locator('tr[data-change="resolved"]').count()) >= 1,
    "the fin-fe-01 → payroll-01 violation resolves",
  );
  assert.match(await pair.textContent(), /fin-fe-01/);
  await page.screenshot({ path: join(shots, "policy-whatif.png"), fullPage: true });
  // A broken draft is refused with the line that is wrong.
  await page.fill("#draft", "[[zone]]\nname = 3\n");
  await page.click("#whatif-run");
  await page.waitForSelector("#whatif-error");
  assert.match(await page.locator("#whatif-error").textContent(), /line|name/);
  // (the refused draft is a 400 the page shows; not a page error)
  problems = problems.filter((p) => !/HTTP 400: .*policy\/whatif/.test(p));
  clean(page);
  await page.context().close();
});

test("with authentication on, the page asks for a token, then shows the data", async (t) => {
  const authUrl = process.env.EASTWEST_AUTH_URL;
  const token = process.env.EASTWEST_TOKEN;
  if (!authUrl || !token) return t.skip("no dashboard with authentication given (EASTWEST_AUTH_URL, EASTWEST_TOKEN)");
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${authUrl}/?range=all`);
  const input = page.locator("#error #token");
  await input.waitFor();
  assert.match(await page.locator("#error").textContent(), /needs an API token/);
  await input.fill("not-the-token");
  await input.press("Enter");
  await page.waitForFunction(() => /was refused/.test(document.getElementById("error")?.textContent ?? ""));
  await page.locator("#error #token").fill(token);
  await page.locator("#error #token").press("Enter");
  await page.waitForFunction(() => /updated/.test(document.getElementById("status")?.textContent ?? ""));
  assert.equal(await page.locator("#error").isHidden(), true);
  assert.ok((await page.locator("table.conversations tbody tr").count()) >= 1, "data after the token");
  // Kept in this browser: a reload needs no prompt.
  await page.reload();
  await page.waitForFunction(() => /updated/.test(document.getElementById("status")?.textContent ?? ""));
  assert.equal(await page.locator("#error").isHidden(), true);
  // Downloads carry the token too.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click('button[data-export="csv"]')]);
  const path = join(shots, "conversations-auth.csv");
  await download.saveAs(path);
  const lines = readFileSync(path, "utf8").trim().split(/\r?\n/);
  assert.match(lines[0], /vm/);
  assert.ok(lines.length > 1, `rows, not only the header: ${lines.join(" / ")}`);
  await context.close();
});
