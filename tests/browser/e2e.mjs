// e2e.mjs — drives Debian's chromium (playwright-core) against a running dreamfarm stream:
// the canvas shows decoded, changing pictures (WebCodecs, or the MSE / snapshot fallbacks with
// DREAM_MODE=mse|snapshot), the class autocomplete is filled,
// a request for "tree frog" shows up in #current-subject, the status line and queue render,
// the page reconnects after the websocket drops,
// the layout works on a phone-sized screen. Screenshots go to $DREAM_SHOT_DIR, named
// $DREAM_SHOT_NAME{,_phone,_MODE,_fail}.png (default stream_browser).
//   DREAM_URL=http://127.0.0.1:8080/ DREAM_SHOT_DIR=build/test-logs node e2e.mjs
// DREAM_CHANGE_MS: gap between the two canvas grabs that must differ (default 1000, 2500 snapshot).
// Exit 0 = pass, 1 = fail (message on stderr).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.env.DREAM_URL || 'http://127.0.0.1:8080/';
const shotDir = process.env.DREAM_SHOT_DIR || '.';
const subject = process.env.DREAM_SUBJECT || 'tree frog';
const exe = process.env.CHROMIUM || '/usr/bin/chromium';
const mode = process.env.DREAM_MODE || '';   // '' = the page's choice; mse / snapshot force a fallback
const shotName = process.env.DREAM_SHOT_NAME || 'stream_browser';
const changeMs = Number(process.env.DREAM_CHANGE_MS || (mode === 'snapshot' ? 2500 : 1000));
mkdirSync(shotDir, { recursive: true });
const userDir = mkdtempSync(join(tmpdir(), 'dream-chromium-'));
const log = (...a) => console.log('[e2e]', ...a);
let ctx;

async function canvasProbe(page) {
  return page.evaluate(() => {
    const c = document.getElementById('video');
    const g = c.getContext('2d');
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let sum = 0, sum2 = 0, n = 0, h = 0;
    const px = [];
    for (let i = 0; i < d.length; i += 4 * 97) {
      const v = (d[i] + d[i + 1] + d[i + 2]) / 3;
      sum += v; sum2 += v * v; n++;
      h = (h * 31 + d[i] * 7 + d[i + 1] * 3 + d[i + 2]) >>> 0;
      px.push(v);
    }
    const mean = sum / n;
    return { mean, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), hash: h, px, w: c.width, h: c.height };
  });
}

try {
  ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: exe,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const target = mode ? url + (url.includes('?') ? '&' : '?') + 'mode=' + mode : url;
  await page.goto(target, { waitUntil: 'load', timeout: 20000 });
  log('page loaded:', await page.title());

  const hasWebCodecs = await page.evaluate(() => typeof VideoDecoder === 'function');
  log('WebCodecs:', hasWebCodecs);
  const minFrames = mode === 'snapshot' ? 3 : 10;
  await page.waitForFunction((n) => window.dreamStats && window.dreamStats.framesDecoded >= n, minFrames, { timeout: 30000 });
  const st = await page.evaluate(() => ({ ...window.dreamStats }));
  log('decoded frames:', st.framesDecoded, 'mode:', st.mode, 'keyframes:', st.keyframes, 'errors:', st.decodeErrors,
      'first picture after', st.firstFrameMs, 'ms');
  if (mode && st.mode !== mode) throw new Error('asked for ' + mode + ' but the page plays ' + st.mode);
  if (!mode && hasWebCodecs && st.mode !== 'webcodecs') throw new Error('WebCodecs present but the page fell back to ' + st.mode);

  const a = await canvasProbe(page);
  await page.waitForTimeout(changeMs);
  const b = await canvasProbe(page);
  let diff = 0;
  for (let i = 0; i < Math.min(a.px.length, b.px.length); i++) diff += Math.abs(a.px[i] - b.px[i]);
  diff /= Math.max(1, a.px.length);
  log('canvas', a.w + 'x' + a.h, 'mean', a.mean.toFixed(1), 'std', a.std.toFixed(1), 'hash', a.hash, '->', b.hash,
      'mean |diff| after', changeMs, 'ms:', diff.toFixed(2));
  if (a.std < 5) throw new Error('canvas looks blank (std ' + a.std.toFixed(2) + ')');
  if (a.hash === b.hash) throw new Error('canvas did not change in ' + changeMs + ' ms');
  const f2 = await page.evaluate(() => window.dreamStats.framesDecoded);
  if (f2 <= st.framesDecoded) throw new Error('no new frames decoded');

  // reconnect: drop the websocket; the page must come back and keep decoding
  const before = await page.evaluate(() => ({ f: window.dreamStats.framesDecoded, r: window.dreamStats.reconnects }));
  await page.evaluate(() => window.dreamDebug.dropConnection());
  await page.waitForFunction((b) => window.dreamStats.reconnects > b.r && window.dreamStats.connected &&
                                    window.dreamStats.framesDecoded > b.f + 5, before, { timeout: 20000 });
  await page.waitForTimeout(300);
  if (await page.isVisible('#video-msg')) throw new Error('"' + (await page.textContent('#video-msg')) + '" still shown after reconnecting');
  log('reconnected and decoding again');

  const options = await page.evaluate(() => document.querySelectorAll('#class-list option').length);
  log('autocomplete options:', options);
  if (options < 1000) throw new Error('class autocomplete has only ' + options + ' options');

  await page.fill('#subject-input', subject);
  await page.click('#request-form button[type=submit]');
  await page.waitForFunction((s) => document.getElementById('current-subject').textContent.toLowerCase().includes(s) ||
                                    (document.getElementById('queue').textContent || '').toLowerCase().includes(s),
                             subject, { timeout: 15000 });
  const result = await page.textContent('#request-result');
  log('request result:', result);
  // the subject may have to wait in the queue behind other viewers' requests
  await page.waitForFunction((s) => document.getElementById('current-subject').textContent.toLowerCase().includes(s),
                             subject, { timeout: Number(process.env.DREAM_SUBJECT_WAIT_MS || 70000) });   // up to a full hold (60 s default)
  log('current subject:', await page.textContent('#current-subject'));

  // the next request waits in #queue with its position (page's own player run only: rate limits)
  if (!mode) {
    await page.fill('#subject-input', 'volcano + broccoli');
    await page.click('#request-form button[type=submit]');
    await page.waitForFunction(() => [...document.querySelectorAll('#queue li')].some((li) => /volcano/.test(li.textContent) && li.value >= 1),
                               null, { timeout: 10000 });
    log('queue:', (await page.evaluate(() => [...document.querySelectorAll('#queue li')].map((li) => li.value + '. ' + li.textContent))).join(' | '));
  }

  // a refusal shows a message and suggestions
  await page.fill('#subject-input', 'treee frgo');
  await page.click('#request-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('request-result').classList.contains('err'), null, { timeout: 5000 });
  const sugg = await page.evaluate(() => [...document.querySelectorAll('#suggestions button')].map((b) => b.textContent));
  log('refusal:', await page.textContent('#request-result'), 'suggestions:', sugg.join(', '));
  if (!sugg.length) throw new Error('no suggestions for a misspelt subject');

  // the untrained banner follows the server's status
  const untrained = await page.evaluate(async () => (await (await fetch('/api/status')).json()).untrained);
  const bannerShown = await page.isVisible('#untrained-banner');
  log('untrained:', untrained, 'banner shown:', bannerShown);
  if (bannerShown !== !!untrained) throw new Error('untrained banner shown=' + bannerShown + ' but untrained=' + untrained);

  const status = await page.textContent('#status');
  log('status:', status);
  if (!/viewer/.test(status) || !/fps/.test(status)) throw new Error('status line incomplete: ' + status);
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(shotDir, mode ? shotName + '_' + mode + '.png' : shotName + '.png') });
  if (mode) {
    log('PASS (' + mode + ')');
    await ctx.close();
    rmSync(userDir, { recursive: true, force: true });
    process.exit(0);
  }

  // phone-sized screen: the video fits, the form is reachable
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(500);
  const lay = await page.evaluate(() => {
    const v = document.getElementById('video').getBoundingClientRect();
    const f = document.getElementById('request-form').getBoundingClientRect();
    return { vw: v.width, fw: f.width, scroll: document.documentElement.scrollWidth };
  });
  log('phone layout:', JSON.stringify(lay));
  if (lay.vw > 390 || lay.fw > 390 || lay.scroll > 400) throw new Error('page does not fit a phone: ' + JSON.stringify(lay));
  await page.screenshot({ path: join(shotDir, shotName + '_phone.png'), fullPage: true });

  const errs = consoleErrors.filter((e) => !/favicon/.test(e));
  if (errs.length) log('console errors:', errs.join(' | '));
  const fatal = errs.filter((e) => !/Failed to load resource.*(400|429)/.test(e));
  if (fatal.length) throw new Error('console errors: ' + fatal.join(' | '));
  log('PASS');
  await ctx.close();
  rmSync(userDir, { recursive: true, force: true });
  process.exit(0);
} catch (e) {
  console.error('[e2e] FAIL:', e && e.message ? e.message : e);
  try { if (ctx) { const p = ctx.pages()[0]; if (p) await p.screenshot({ path: join(shotDir, shotName + '_fail.png') }); await ctx.close(); } } catch (_) { /* ignore */ }
  rmSync(userDir, { recursive: true, force: true });
  process.exit(1);
}
