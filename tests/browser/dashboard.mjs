// Drives the adsched dashboard in headless Chromium (Debian's `chromium`,
// through playwright-core; no downloaded browsers).
//
//   node tests/browser/dashboard.mjs BASE_URL SCREENSHOT.png [BRAND_ID]
//
// Opens `/`, checks that schedules of at least two brands are listed, filters
// by BRAND_ID (default: the first brand in the select) with the form, checks
// that only that brand is left, follows a schedule to one of its runs and
// checks that every thumbnail in `.gallery` loaded (naturalWidth > 0) and that
// the log is shown. Saves SCREENSHOT.png (the run page) and
// SCREENSHOT-list.png (the filtered list). On success prints one line
// `RESULT {json}`; on failure prints `FAIL: ...` and exits 1.
//
// Env: CHROMIUM_PATH (default /usr/bin/chromium).

import { axeCheck, axeFindings, check, checkAxe, step, withBrowser } from './lib.mjs';

const [base, shot, wantedBrand] = process.argv.slice(2);
if (!base || !shot) {
  console.error('usage: node dashboard.mjs BASE_URL SCREENSHOT.png [BRAND_ID]');
  process.exit(2);
}
const listShot = shot.replace(/(\.png)?$/i, '-list.png');

// The schedule rows on the list page: [{id, brand}].
async function scheduleRows(page) {
  return page.$$eval('tr.schedule', (trs) =>
    trs.map((tr) => ({
      id: tr.querySelector('td:first-child .muted')?.textContent.trim() ?? '',
      brand: tr.children[1]?.textContent.trim() ?? '',
    })),
  );
}

const badResponses = [];
await withBrowser(shot, async (page) => {
  page.setDefaultTimeout(10_000);
  page.setDefaultNavigationTimeout(10_000);
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) {
      badResponses.push(`${r.status()} ${r.url()}`);
    }
  });
  page.on('requestfailed', (r) => {
    if (!r.url().endsWith('/favicon.ico')) {
      badResponses.push(`failed ${r.url()}: ${r.failure()?.errorText}`);
    }
  });

  // 1. The list: schedules of several brands.
  step(`open ${base}/`);
  const resp = await page.goto(`${base}/`);
  check(resp && resp.ok(), `GET / answered ${resp?.status()}`);
  await axeCheck(page, 'list');
  const all = await scheduleRows(page);
  const allBrands = [...new Set(all.map((r) => r.brand))];
  check(
    allBrands.length >= 2,
    `the list should show schedules of at least two brands, got ${JSON.stringify(all)}`,
  );
  const brandOptions = await page.$$eval('select[name="brand"] option', (os) =>
    os.filter((o) => o.value).map((o) => ({ value: o.value, label: o.textContent.trim() })),
  );
  check(brandOptions.length >= 2, `brand select has options ${JSON.stringify(brandOptions)}`);
  const brand = wantedBrand
    ? brandOptions.find((o) => o.value === wantedBrand)
    : brandOptions[0];
  check(brand, `no brand option "${wantedBrand}" in ${JSON.stringify(brandOptions)}`);
  check(
    all.some((r) => r.brand === brand.label) && all.some((r) => r.brand !== brand.label),
    `before filtering, schedules of ${brand.label} and of other brands should be listed: ${JSON.stringify(all)}`,
  );

  // 2. Filter by brand with the form.
  step(`filter by brand ${brand.value}`);
  await page.selectOption('select[name="brand"]', brand.value);
  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('brand') === brand.value),
    page.click('form.filters button[type="submit"]'),
  ]);
  await page.waitForLoadState('load');
  const filtered = await scheduleRows(page);
  check(filtered.length > 0, `no schedules listed after filtering by ${brand.value}`);
  const others = filtered.filter((r) => r.brand !== brand.label);
  check(
    others.length === 0,
    `after filtering by ${brand.value}, other brands are still listed: ${JSON.stringify(others)}`,
  );
  check(
    filtered.length === all.filter((r) => r.brand === brand.label).length,
    `filtered list ${JSON.stringify(filtered)} is not the ${brand.label} part of ${JSON.stringify(all)}`,
  );
  check(
    (await page.inputValue('select[name="brand"]')) === brand.value,
    'the brand select does not keep the chosen brand after filtering',
  );
  await page.screenshot({ path: listShot, fullPage: true });

  // 3. Follow a schedule (the first one with a run) to a run.
  const withRun = await page.$$eval('tr.schedule', (trs) =>
    trs
      .filter((tr) => tr.querySelector('a[href^="/runs/"]'))
      .map((tr) => tr.querySelector('a[href^="/schedules/"]').getAttribute('href')),
  );
  check(withRun.length > 0, `no ${brand.label} schedule in the list has a last run`);
  const scheduleHref = withRun[0];
  step(`follow ${scheduleHref}`);
  await Promise.all([
    page.waitForURL(`**${scheduleHref}`),
    page.click(`tr.schedule a[href="${scheduleHref}"]`),
  ]);
  await axeCheck(page, 'schedule');
  const runLinks = page.locator('tr.run a[href^="/runs/"]');
  check((await runLinks.count()) > 0, `${scheduleHref} lists no runs`);
  const runHref = await runLinks.first().getAttribute('href');
  step(`follow ${runHref}`);
  await Promise.all([page.waitForURL(`**${runHref}`), runLinks.first().click()]);
  check(new URL(page.url()).pathname.startsWith('/runs/'), `ended on ${page.url()}`);
  await page.waitForLoadState('load');

  // 4. Thumbnails: every one loaded. They are loading="lazy": scroll each
  // into view, then wait until the browser is done with it.
  const imgs = page.locator('.gallery img');
  const n = await imgs.count();
  check(n > 0, `the run page ${runHref} shows no thumbnails in .gallery`);
  const images = [];
  for (let i = 0; i < n; i++) {
    const img = imgs.nth(i);
    await img.scrollIntoViewIfNeeded();
    const src = await img.getAttribute('src');
    try {
      await img.evaluate(
        (el) =>
          el.complete
            ? null
            : new Promise((res) => {
                el.addEventListener('load', res, { once: true });
                el.addEventListener('error', res, { once: true });
              }),
        null,
        { timeout: 10_000 },
      );
    } catch (e) {
      throw new Fail(`thumbnail ${src} did not finish loading: ${e.message}`);
    }
    const size = await img.evaluate((el) => ({ w: el.naturalWidth, h: el.naturalHeight }));
    check(
      size.w > 0 && size.h > 0,
      `thumbnail ${src} did not load (naturalWidth ${size.w}); bad responses: ${JSON.stringify(badResponses)}`,
    );
    images.push({ src, ...size });
  }

  // 5. The log.
  const log = page.locator('#log');
  check(await log.isVisible(), '#log is not visible on the run page');
  const logText = (await log.innerText()).trim();
  check(logText.length > 0, '#log is empty on the run page');
  check(badResponses.length === 0, `failed requests: ${JSON.stringify(badResponses)}`);
  await axeCheck(page, 'run');

  // 6. Every run, and the week ahead, reached from the header's links.
  await page.goto(`${base}/`);
  await page.getByRole('navigation', { name: 'pages' }).getByRole('link', { name: 'Runs' }).click();
  await page.waitForURL(`${base}/runs`);
  const runRows = await page.locator('tr.run').count();
  check(runRows > 0, 'the Runs page lists no run');
  await axeCheck(page, 'runs');
  await page.getByRole('navigation', { name: 'pages' }).getByRole('link', { name: 'Week' }).click();
  await page.waitForURL(`${base}/week`);
  // The schedules here fire in 2099: seven days, each saying nothing fires.
  const fires = await page.locator('main h2').count();
  check(fires >= 7, `the Week page shows ${fires} days, not 7`);
  await axeCheck(page, 'week');
  check(badResponses.length === 0, `failed requests: ${JSON.stringify(badResponses)}`);
  checkAxe();

  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: shot, fullPage: true });
  console.log(
    'RESULT ' +
      JSON.stringify({
        brand: brand.value,
        listed: all.map((r) => r.id),
        filtered: filtered.map((r) => r.id),
        schedule: scheduleHref,
        run: runHref,
        images,
        axe_pages: Object.keys(axeFindings),
        run_rows: runRows,
        week_days: fires,
        log_lines: logText.split('\n').length,
        screenshots: [listShot, shot],
      }),
  );
});
