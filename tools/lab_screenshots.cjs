// Drives JupyterLab in headless Chromium for tools/lab_screenshots.py (which starts Lab and
// passes one JSON argument: url, token, finding, out, chromium, profile). Each step waits for
// what it needs and throws when it does not come, so a screenshot is never of a broken state.
"use strict";
const path = require("path");
const { chromium } = require("playwright-core");

const cfg = JSON.parse(process.argv[2]);
const STEP = 180000; // ms: a step may run the whole notebook

async function openNotebook(page, file) {
  await page.goto(`${cfg.url}/lab/tree/${file}?token=${cfg.token}`);
  await page.waitForSelector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", { timeout: STEP });
  // on a first load Lab may ask for the kernel before it has read the kernel specs: take the
  // notebook's own (preselected)
  const select = page.locator(".jp-Dialog button", { hasText: /^Select$/ });
  try {
    await select.waitFor({ timeout: 5000 });
    await select.click();
  } catch (e) {
    if (e.name !== "TimeoutError") throw e;
  }
  await page.waitForSelector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']", { timeout: STEP });
}

async function runAll(page) {
  await page.locator(".lm-MenuBar-itemLabel", { hasText: /^Run$/ }).click();
  await page.locator(".lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }).click();
  // busy, then idle again
  await page.waitForTimeout(1500);
  await page.waitForSelector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']", { timeout: STEP });
}

async function scrollToCell(page, selector, offset = 0) {
  await page.locator(selector).first().evaluate((el, off) => {
    const cell = el.closest(".jp-Cell");
    cell.scrollIntoView({ block: "start" });
    const scroller = cell.closest(".jp-WindowedPanel-outer") || cell.parentElement;
    scroller.scrollTop += off;
  }, offset);
  await page.waitForTimeout(800);
}

async function shot(page, name) {
  const file = path.join(cfg.out, name);
  await page.screenshot({ path: file });
  console.log(`screenshot: ${file}`);
}

(async () => {
  const context = await chromium.launchPersistentContext(cfg.profile, {
    executablePath: cfg.chromium,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.on("pageerror", (e) => console.log(`page error: ${e.message}`));

    // 1. the working copy of the investigation: run it, record the verdict with the form
    await openNotebook(page, `finding-${cfg.finding}/investigate.ipynb`);
    // more room for the notebook: fold the file browser (its tab, clicked again)
    await page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click();
    await runAll(page);
    await page.waitForSelector(".widget-toggle-buttons", { timeout: STEP });
    const form = page.locator(".jp-Cell", { has: page.locator(".widget-toggle-buttons") });
    await form.locator(".widget-toggle-button", { hasText: /^malicious$/ }).click();
    await form.locator(".widget-textarea textarea").fill(
      "Calls from Tor exits with the long-term key, CreateUser and CreateAccessKey for a new user: not the owner.");
    await form.locator("button", { hasText: "Record verdict" }).click();
    await form.locator("text=Recorded:").waitFor({ timeout: STEP });
    await form.locator(".jp-OutputArea-output:has-text('Remediation plan')").first().waitFor({ timeout: STEP });
    await form.locator(".widget-toggle-buttons").evaluate((el) => el.closest(".jp-Cell").scrollIntoView({ block: "start" }));
    await page.waitForTimeout(800);
    await shot(page, "lab-verdict-form.png");
    // the same verdict again adds nothing (tools/lab_screenshots.py counts the ledger's records)
    await form.locator("button", { hasText: "Record verdict" }).click();
    await form.locator("text=Already recorded").waitFor({ timeout: STEP });

    // 2. triage: the table, then a finding's button and its link
    await openNotebook(page, "triage.ipynb");
    await runAll(page);
    const button = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) button", { hasText: "Working notebook" });
    await button.first().waitFor({ timeout: STEP });
    await button.nth(1).click();
    const link = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) a", { hasText: "Open" });
    await link.first().waitFor({ timeout: STEP });
    await scrollToCell(page, ".jp-Cell:has-text('display.triage_table')", -40);
    await page.mouse.move(5, 880); // no row under the pointer (DataTables highlights it)
    await shot(page, "lab-triage.png");
    await link.first().click();
    const current = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current");
    await page.waitForSelector("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current:has-text('investigate.ipynb')", { timeout: STEP });
    const opened = await current.first().getAttribute("title");
    console.log(`the link opened: ${opened}`);
    if (!opened || !opened.includes("finding-")) throw new Error(`the link opened ${opened}`);
  } catch (e) {
    const page = context.pages()[0];
    if (page) await page.screenshot({ path: path.join(cfg.out, "lab-failure.png") });
    console.error(`failed: see ${path.join(cfg.out, "lab-failure.png")}`);
    throw e;
  } finally {
    await context.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
