// Presses the dashboard's operator buttons (SPEC 8) in headless Chromium
// (Debian's `chromium`, through playwright-core), on a daemon that needs a
// token for every action.
//
//   node tests/browser/operations.mjs BASE_URL SHOTS_DIR TOKEN SCHEDULE PENDING_RUN EXPORT_RUN RUNNING_RUN
//
// On SCHEDULE's page: Pause (answering the reason prompt, then the token
// prompt the daemon's 401 brings), checks the notice says who and why;
// Resume; Run now. On PENDING_RUN's page: Cancel. On EXPORT_RUN's page:
// Export again. Then the audit page lists the actions, and RUNNING_RUN's
// page follows the run to its end without a reload by hand. axe-core checks each
// page. Saves screenshots in SHOTS_DIR; prints `RESULT {json}` on success,
// `FAIL: ...` and exit 1 otherwise.

import path from 'node:path';
import { axeCheck, axeFindings, check, checkAxe, step, withBrowser } from './lib.mjs';

const [base, shots, token, scheduleId, pendingRun, exportRun, runningRun] = process.argv.slice(2);
if (!runningRun) {
  console.error('usage: node operations.mjs BASE_URL SHOTS_DIR TOKEN SCHEDULE PENDING_RUN EXPORT_RUN RUNNING_RUN');
  process.exit(2);
}

const prompts = [];
await withBrowser(path.join(shots, 'operations-failed.png'), async (page) => {
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

  // 7. A run in progress: its page follows it to its end by itself.
  step(`follow ${runningRun} live`);
  await page.goto(`${base}/runs/${runningRun}`);
  const before = (await page.locator('h1 .badge').first().innerText()).trim();
  check(['pending', 'running'].includes(before), `the run is ${before}, not in progress`);
  check((await page.locator('main[data-live]').count()) === 1, 'the page does not follow the run');
  await page.locator('h1 .badge.completed').waitFor({ timeout: 30_000 });
  check((await page.locator('main[data-live]').count()) === 0, 'the page still polls a finished run');

  checkAxe();
  console.log('RESULT ' + JSON.stringify({ prompts, audit: rows, axe_pages: Object.keys(axeFindings) }));
});
