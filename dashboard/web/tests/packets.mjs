// Browser test of the "packets" button in a real headless Chromium, against
// a dashboard whose exporters serve a packet store (tests/tests/packets.rs
// starts the pipeline and runs this file):
//
//   EASTWEST_URL=http://127.0.0.1:8080 EASTWEST_TOKEN=responder-token \
//   EASTWEST_PACKETS_OUT=/tmp/capture.pcapng node --test tests/packets.mjs
//
// The newest-violations list of the lab's fin-fe-01 shows the violation
// to payroll-01; its "packets" button downloads the capture (with the
// token) to EASTWEST_PACKETS_OUT, which the Rust test reads with tshark.
// The VM page of fin-fe-01: its own "packets" button downloads the packets
// of every conversation of the VM to EASTWEST_PACKETS_VM_OUT.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const base = process.env.EASTWEST_URL;
const token = process.env.EASTWEST_TOKEN;
const out = process.env.EASTWEST_PACKETS_OUT;
const vmOut = process.env.EASTWEST_PACKETS_VM_OUT;
if (!base || !token || !out || !vmOut)
  throw new Error("EASTWEST_URL, EASTWEST_TOKEN, EASTWEST_PACKETS_OUT and EASTWEST_PACKETS_VM_OUT must be set");

test("one click on a violation's packets button downloads its capture", async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, acceptDownloads: true });
    await context.addInitScript((t) => localStorage.setItem("eastwest.token", t), token);
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("request", (r) => {
      const url = r.url();
      if (!url.startsWith(base) && !url.startsWith("blob:") && !url.startsWith("data:"))
        problems.push(`foreign request: ${url}`);
    });
    await page.goto(`${base}/?from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z&dataset=lab&vm=fin-fe-01`);
    const item = page.locator("ol.violations li").filter({ hasText: "payroll-01" }).first();
    await item.waitFor({ timeout: 20_000 });
    const button = item.locator("button.packets");
    assert.match(await button.getAttribute("data-url"), /^\/api\/v1\/packets\?/);
    const [download] = await Promise.all([page.waitForEvent("download"), button.click()]);
    assert.match(download.suggestedFilename(), /\.pcapng$/);
    await download.saveAs(out);
    const bytes = readFileSync(out);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x0a, 0x0d, 0x0d, 0x0a], "a pcapng section header");
    await page.waitForFunction(() => /saved/.test(document.querySelector(".packets-note")?.textContent ?? ""));
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await browser.close();
  }
});

test("the VM page's packets button downloads the packets of the VM's conversations", async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, acceptDownloads: true });
    await context.addInitScript((t) => localStorage.setItem("eastwest.token", t), token);
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.goto(`${base}/?view=vm&vm=fin-fe-01&range=all&dataset=lab`);
    const button = page.locator("#vm-head .vm-packets button.packets");
    await button.waitFor({ timeout: 20_000 });
    const url = new URL(await button.getAttribute("data-url"), base);
    assert.equal(url.pathname, "/api/v1/packets");
    assert.equal(url.searchParams.get("vm"), "fin-fe-01");
    const [download] = await Promise.all([page.waitForEvent("download"), button.click()]);
    assert.match(download.suggestedFilename(), /\.pcapng$/);
    await download.saveAs(vmOut);
    const bytes = readFileSync(vmOut);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x0a, 0x0d, 0x0d, 0x0a], "a pcapng section header");
    await page.waitForFunction(() => /saved/.test(document.querySelector("#vm-head .packets-note")?.textContent ?? ""));
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await browser.close();
  }
});
