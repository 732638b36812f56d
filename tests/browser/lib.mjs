// What the browser checks share: Debian's Chromium through playwright-core
// (no downloaded browser), axe-core on each page, and how a check fails.

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

/// A failed expectation: printed as `FAIL: message`, no stack.
export class Fail extends Error {}

export function check(cond, msg) {
  if (!cond) throw new Fail(msg);
}

export const step = (msg) => console.log(`-- ${msg}`);

// axe-core's browser bundle, injected into each page: accessibility as a
// screen-reader user meets it.
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
export const axeFindings = {};

export async function axeCheck(page, label) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(() => globalThis.axe.run(document));
  axeFindings[label] = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}, ${v.nodes.length} node(s)`);
}

export function checkAxe() {
  const violations = Object.entries(axeFindings).filter(([, v]) => v.length > 0);
  check(violations.length === 0, `axe-core found accessibility violations: ${JSON.stringify(violations)}`);
}

// Runs `body(page)` in a fresh headless Chromium profile. On failure: a
// screenshot at `failShot`, `FAIL: ...` on stderr and exit code 1. The
// flags are those this machine's closed network needs.
export async function withBrowser(failShot, body) {
  const profile = mkdtempSync(path.join(tmpdir(), 'adsched-chromium-'));
  let browser;
  let page;
  try {
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
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
    await body(page);
  } catch (e) {
    if (page) {
      try {
        await page.screenshot({ path: failShot, fullPage: true });
        console.error(`(screenshot of the failing page: ${failShot}, at ${page.url()})`);
      } catch {}
    }
    console.error(`FAIL: ${e instanceof Fail ? e.message : e.stack || e}`);
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}
