// The marketer's path through a review (SPEC 11) in headless Chromium
// (Debian's `chromium`, through playwright-core):
//
//   node tests/browser/review.mjs BASE_URL SHOTS_DIR
//
// The first page lists a run to review (checked at laptop and phone
// widths); its page shows the ads large; approve the first two, reject the
// third, save; the page then says the export was sent. axe-core checks
// each page. Prints `RESULT {json}`, or `FAIL: ...` and exits 1.

import path from 'node:path';
import { axeCheck, axeFindings, check, checkAxe, step, withBrowser } from './lib.mjs';

const [base, shots] = process.argv.slice(2);
if (!shots) {
  console.error('usage: node review.mjs BASE_URL SHOTS_DIR');
  process.exit(2);
}
await withBrowser(path.join(shots, 'review-failed.png'), async (page) => {
  // 1. The first page: the run to review comes first; on a phone too.
  step('open /');
  await page.goto(`${base}/`);
  const toReview = page.locator('#to-review a');
  check((await toReview.count()) === 1, 'the first page does not list one run to review');
  await axeCheck(page, 'list');
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() =>
    Math.max(document.documentElement.scrollWidth, ...[...document.querySelectorAll('div.wrap')].map((w) => w.scrollWidth - w.clientWidth + 390)),
  );
  check(wide <= 390, `the list scrolls sideways on a phone (${wide} px wide)`);
  check(await page.locator('tr.schedule td.status .badge').first().isVisible(), 'no status visible on a phone');
  await page.screenshot({ path: path.join(shots, 'review-list-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1100, height: 800 });

  // 2. The run page: each ad large, a choice under each.
  step('follow the run to review');
  await Promise.all([page.waitForURL('**/runs/**'), toReview.first().click()]);
  const ads = page.locator('#review figure.ad');
  const n = await ads.count();
  check(n === 3, `the review shows ${n} ads, not 3`);
  const width = await ads.first().locator('img').evaluate((el) => el.getBoundingClientRect().width);
  const hooks = await ads.locator('figcaption .hook').allTextContents();
  check(width >= 240, `the previews are small (${width} px)`);
  await axeCheck(page, 'review');
  await page.screenshot({ path: path.join(shots, 'review-run.png'), fullPage: true });

  // 3. Approve two, reject one, save: every ad is decided, so they go.
  await ads.nth(0).getByLabel('Approve').check();
  await ads.nth(1).getByLabel('Approve').check();
  await ads.nth(2).getByLabel('Reject').check();
  await page.getByLabel('Note').fill('two on brand');
  step('save the decisions');
  const reloaded = page.waitForEvent('load');
  await page.getByRole('button', { name: 'Save decisions' }).click();
  await page.locator('#action-result.ok').waitFor();
  await reloaded;

  // 4. Until the export is recorded, the page says it is being sent.
  let sent = false;
  for (let i = 0; i < 40 && !sent; i++) {
    sent = (await page.locator('h1 .badge.sent').count()) > 0;
    if (!sent) {
      await page.waitForTimeout(250);
      await page.reload();
    }
  }
  check(sent, 'the run page does not say the export was sent');
  check((await page.locator('#review').count()) === 0, 'the review form is still offered');
  await axeCheck(page, 'reviewed');
  await page.screenshot({ path: path.join(shots, 'review-sent.png'), fullPage: true });

  checkAxe();
  console.log('RESULT ' + JSON.stringify({ ads: n, preview_px: width, hooks, axe_pages: Object.keys(axeFindings) }));
});
