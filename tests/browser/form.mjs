// The schedule form (SPEC 9) in headless Chromium (Debian's `chromium`,
// through playwright-core):
//
//   node tests/browser/form.mjs BASE_URL SHOTS_DIR EDIT_ID
//
// Fills /new with the users' example (Mondays 09:00 Los Angeles, 10 unused
// templates, 5 variations, Slack), waits for the daemon's verdict, reads
// the YAML, the download and the GitHub link; breaks the time zone and
// reads the finding; then opens the edit form of EDIT_ID, and the week
// ahead of the bundled examples. Screenshots at
// laptop and phone widths; axe-core on each page. Prints `RESULT {json}`,
// or `FAIL: ...` and exits 1.

import path from 'node:path';
import { axeCheck, axeFindings, check, checkAxe, step, withBrowser } from './lib.mjs';

const [base, shots, editId] = process.argv.slice(2);
if (!editId) {
  console.error('usage: node form.mjs BASE_URL SHOTS_DIR EDIT_ID');
  process.exit(2);
}

const yamlText = (page) => page.locator('#yaml span').allTextContents().then((l) => l.join('\n') + '\n');

// Waits until the verdict shown is for the YAML shown.
async function verdict(page) {
  await page.waitForFunction(() => {
    const shown = [...document.querySelectorAll('#yaml span')].map((s) => s.textContent).join('\n') + '\n';
    return document.body.dataset.checked === shown;
  });
  return page.locator('#findings').innerText();
}

await withBrowser(path.join(shots, 'form-failed.png'), async (page) => {
  step('open /new');
  await page.goto(`${base}/new`);
  const form = page.locator('#schedule-form');
  await form.locator('select[name=product]').selectOption('collagen-peptides');
  await form.getByLabel('Id', { exact: true }).fill('acme-collagen-mondays');
  await form.getByLabel('Name', { exact: true }).fill('Collagen Mondays');
  // Selects by name: a wrapping label's accessible name includes the chosen option.
  // The defaults are the users' plan: weekly, Monday, 09:00, Los Angeles, 10 unused, 5 variations.
  check(await form.locator('select[name=preset]').inputValue() === 'weekly', 'the preset is not weekly by default');
  check(await form.getByLabel('Time zone', { exact: true }).inputValue() === 'America/Los_Angeles', 'the zone is not Los Angeles by default');
  await form.locator('select[name=destination]').selectOption('slack');
  await form.getByLabel('Channel ID', { exact: true }).fill('C0123ABCD9');
  const unusedNote = await page.locator('#unused-note').innerText();
  const findings = await verdict(page);
  check(/^Valid/.test(findings), `the form's YAML is not valid: ${findings}`);
  const yaml = await yamlText(page);
  const description = await page.locator('#description').innerText();
  const times = await page.locator('#times time').evaluateAll((ts) => ts.map((t) => t.dateTime));
  check(times.length === 5, `${times.length} fire times shown, not 5`);

  step('download and GitHub link');
  const download = page.locator('#download');
  const fileName = await download.getAttribute('download');
  const downloaded = await download.evaluate(async (a) => (await fetch(a.href)).text());
  const propose = await page.locator('#propose').getAttribute('href');
  const path_ = await form.getByLabel('Path in the repository', { exact: true }).inputValue();
  await axeCheck(page, 'new');
  await page.screenshot({ path: path.join(shots, 'form-desktop.png'), fullPage: true });

  step('a phone');
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 390, `the form scrolls sideways on a phone (${wide} px wide)`);
  await page.screenshot({ path: path.join(shots, 'form-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1100, height: 800 });

  step('break the time zone');
  await form.getByLabel('Time zone', { exact: true }).fill('Mars/Olympus');
  const broken = await verdict(page);
  check(/error/.test(broken), `no error shown for a bad zone: ${broken}`);
  const finding = await page.locator('#findings li.error').first().evaluate((li) => ({
    text: li.textContent,
    line: Number(li.querySelector('a').getAttribute('href').replace('#yaml-line-', '')),
    code: li.querySelector('code').textContent,
  }));
  const marked = await page.locator('#yaml span.bad').allTextContents();
  const timesAfter = await page.locator('#times li').count();
  await page.screenshot({ path: path.join(shots, 'form-error.png'), fullPage: true });

  step(`edit ${editId}`);
  await page.goto(`${base}/schedules/${editId}/edit`);
  const editVerdict = await verdict(page);
  const edit = {
    id: await page.locator('#schedule-form').getByLabel('Id', { exact: true }).inputValue(),
    verdict: editVerdict,
    yaml: await yamlText(page),
    github: await page.locator('#github-file').getAttribute('href'),
    propose: await page.locator('#propose').getAttribute('href'),
  };
  await axeCheck(page, 'edit');
  await page.screenshot({ path: path.join(shots, 'form-edit.png'), fullPage: true });

  step('the week ahead in Los Angeles');
  await page.goto(`${base}/week?tz=America/Los_Angeles`);
  const week = await page.locator('main h2').evaluateAll((hs) => hs.map((h) => {
    const fires = [];
    const next = h.nextElementSibling;
    if (next && next.matches('div.wrap')) {
      next.querySelectorAll('span.fire').forEach((f) => fires.push({
        time: f.textContent.trim().slice(0, 5),
        id: f.querySelector('a').getAttribute('href').replace('/schedules/', ''),
      }));
    }
    return { day: h.textContent.trim(), fires };
  }));
  await axeCheck(page, 'week');
  await page.screenshot({ path: path.join(shots, 'week.png'), fullPage: true });

  checkAxe();
  console.log('RESULT ' + JSON.stringify({
    yaml, findings, description, times, unused_note: unusedNote, file_name: fileName, downloaded, propose,
    path: path_, broken: { finding, marked, times: timesAfter }, edit, week, axe_pages: Object.keys(axeFindings),
  }));
});
