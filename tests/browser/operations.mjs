// Presses the dashboard's operator buttons (SPEC 8) in headless Chromium
// (Debian's `chromium`, through playwright-core), on a daemon that needs a
// token for every action.
//
//   node tests/browser/operations.mjs BASE_URL SHOTS_DIR TOKEN SCHEDULE PENDING_RUN EXPORT_RUN
//
// On SCHEDULE's page: Pause (answering the reason prompt, then the token
// prompt the daemon's 401 brings), checks the notice says who and why;
// Resume; Run now. On PENDING_RUN's page: Cancel. On EXPORT_RUN's page:
// Export again. Then the audit page lists the actions. axe-core checks each
// page. Saves screenshots in SHOTS_DIR; prints `RESULT {json}` on success,
// `FAIL: ...` and exit 1 otherwise.

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const axeFindings = {};
async function axeCheck(page, label) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(() => globalThis.axe.run(document));
  axeFindings[label] = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}, ${v.nodes.length} node(s)`);
}

const [base, shots, token, scheduleId, pendingRun, exportRun] = process.argv.slice(2);
if (!exportRun) {
  console.error('usage: node operations.mjs BASE_URL SHOTS_DIR TOKEN SCHEDULE PENDING_RUN EXPORT_RUN');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

class Fail extends Error {}
function check(cond, msg) {
  if (!cond) throw new Fail(msg);
}
const step = (msg) => console.log(`-- ${msg}`);

const profile = mkdtempSync(path.join(tmpdir(), 'adsched-chromium-'));
let browser;
let page;
const prompts = [];
try {
  browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 800 },
    timeout: 20_000,
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(15_000);
  // Answer each prompt as a person would: the token when asked for one,
  // else a reason.
  page.on('dialog', async (d) => {
    prompts.push(d.message());
    if (/token/i.test(d.message())) await d.accept(token);
    else await d.accept('browser test: ' + d.message().split('?')[0].toLowerCase());
  });

  // Press a button, wait for the page to say it worked and reload.
  async function press(name) {
    step(`press ${name}`);
    const reloaded = page.waitForEvent('load');
    await page.getByRole('button', { name, exact: true }).click();
    const result = page.locator('#action-result');
    await result.filter({ hasText: /./ }).waitFor();
    const text = (await result.innerText()).trim();
    check((await result.getAttribute('class'))?.includes('ok'), `${name}: the page said "${text}"`);
    await reloaded;
    return text;
  }

  // 1. Pause: a reason, then a token (the daemon answered 401).
  await page.goto(`${base}/schedules/${scheduleId}`);
  await press('Pause');
  check(prompts.length === 2 && /token/i.test(prompts[1]), `prompts: ${JSON.stringify(prompts)}`);
  const notice = (await page.locator('#override').innerText()).trim();
  check(notice.includes('Paused by ops') && notice.includes('browser test'), `the notice says: ${notice}`);
  check((await page.locator('h1 .badge').innerText()).trim() === 'paused', 'the badge does not say paused');
  await axeCheck(page, 'schedule-paused');
  await page.screenshot({ path: path.join(shots, 'operations-paused.png'), fullPage: true });

  // 2. Resume: the token is kept for the tab, no prompt.
  await press('Resume');
  check(prompts.length === 2, `a prompt came on Resume: ${JSON.stringify(prompts)}`);
  check((await page.locator('#override').count()) === 0, 'the pause notice is still shown');
  check((await page.locator('h1 .badge').innerText()).trim() === 'active', 'the badge does not say active');

  // 3. Run now.
  const queued = await press('Run now');
  check(/queued/i.test(queued), `Run now said: ${queued}`);

  // 4. Cancel a run waiting behind a slow one.
  await page.goto(`${base}/runs/${pendingRun}`);
  await press('Cancel');
  check((await page.locator('h1 .badge').innerText()).trim() === 'cancelled', 'the run is not cancelled');
  check((await page.locator('#error').innerText()).includes('cancelled by ops'), 'the reason is not shown');
  check((await page.getByRole('button', { name: 'Cancel' }).count()) === 0, 'Cancel is still offered');
  await axeCheck(page, 'run-cancelled');

  // 5. Export a finished run again.
  await page.goto(`${base}/runs/${exportRun}`);
  const said = await press('Export again');
  check(/export/i.test(said), `Export again said: ${said}`);
  await axeCheck(page, 'run-exported');

  // 6. The audit page.
  await page.getByRole('navigation', { name: 'pages' }).getByRole('link', { name: 'Audit' }).click();
  await page.waitForURL(`${base}/audit`);
  const rows = await page.$$eval('tr.audit', (trs) =>
    trs.map((tr) => ({ who: tr.children[1].textContent.trim(), action: tr.children[2].textContent.trim() })),
  );
  await axeCheck(page, 'audit');
  await page.screenshot({ path: path.join(shots, 'operations-audit.png'), fullPage: true });

  const violations = Object.entries(axeFindings).filter(([, v]) => v.length > 0);
  check(violations.length === 0, `axe-core found accessibility violations: ${JSON.stringify(violations)}`);
  console.log('RESULT ' + JSON.stringify({ prompts, audit: rows, axe_pages: Object.keys(axeFindings) }));
} catch (e) {
  if (page) {
    try {
      await page.screenshot({ path: path.join(shots, 'operations-failed.png'), fullPage: true });
      console.error(`(screenshot of the failing page: ${path.join(shots, 'operations-failed.png')}, at ${page.url()})`);
    } catch {}
  }
  console.error(`FAIL: ${e instanceof Fail ? e.message : e.stack || e}`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
