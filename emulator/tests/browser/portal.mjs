// Drives the developer portal in Debian's headless Chromium, as a user would:
// find the way in from the 401 page, download the chain and a new
// certificate, unzip them, call the mtls host with curl, revoke the
// certificate, reveal a client secret twice, then read the pages in a
// 400 px wide window. A workshop attendee's link (application alice) sees
// only alice and downloads her bundle; the owner's link sees every
// application and filters the inspector by one. Last, pages on two other
// local origins (plain HTTP and HTTPS on other 127.0.0.1 ports) try to get
// at the logged-in portal.
//
// Run by the Rust test emulator/tests/browser.rs, which starts the sandbox and
// passes its URLs in the environment. Exits non-zero on the first failure;
// screenshots go to $SCREENSHOTS.

import { chromium } from 'playwright-core';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startSecondOrigin } from './second_origin.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this through cargo test)`);
  return value;
};
const portalUrl = env('PORTAL_URL');
const mtlsUrl = env('MTLS_URL');
const tokenEndpoint = env('TOKEN_ENDPOINT');
const appToken = env('APP_TOKEN');
const attendeeUrl = env('ATTENDEE_URL');
const attendeeAppToken = env('ATTENDEE_APP_TOKEN');
const otherAppToken = env('OTHER_APP_TOKEN');
const work = env('WORK_DIR');
const shots = env('SCREENSHOTS');
mkdirSync(shots, { recursive: true });

const check = (ok, what) => {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
};

const file = (name) => join(work, name);

/** curl against the sandbox, trusting the chain from the portal's zip. */
function curl(args) {
  const out = spawnSync('curl', ['-s', '--max-time', '10', '--cacert', file('lean_public_cert_chain.pem'),
    '-o', '/dev/null', '-w', '%{http_code}', ...args], { encoding: 'utf8' });
  return { code: out.status, http: out.stdout.trim() };
}

const banks = () => curl(['--cert', file('my_app_cert.crt'), '--key', file('my_app_private_key.pem'),
  '-H', `lean-app-token: ${appToken}`, `${mtlsUrl}/banks/v1`]);

const token = (id, secret) => curl(['-u', `${id}:${secret}`, '-d', 'grant_type=client_credentials', tokenEndpoint]);

async function download(page, click) {
  const [dl] = await Promise.all([page.waitForEvent('download'), click()]);
  const path = file(dl.suggestedFilename());
  await dl.saveAs(path);
  execFileSync('unzip', ['-o', '-q', path, '-d', work]);
  return dl.suggestedFilename();
}

/** Readable times: `2026-11-29 20:41:07 UTC`, never a fraction of a second. */
async function checkTimes(page, where) {
  const times = await page.locator('time').allTextContents();
  check(times.length > 0 && times.every((t) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(t)),
    `${where} shows times to the second (${times.slice(0, 2).join(', ')})`);
  const text = await page.locator('main').innerText();
  check(!/\d\d:\d\d:\d\d\.\d/.test(text) && !/\dT\d\d:/.test(text), `${where} shows no fractional or raw RFC 3339 timestamps`);
}

/**
 * Table words that the layout split across lines. Words are runs of letters
 * and digits in visible table text; opaque tokens (`.token`: serials,
 * thumbprints, ids) may break anywhere and are left out.
 */
function brokenWords() {
  const broken = [];
  for (const cell of document.querySelectorAll('td, th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('.token')) continue;
      for (const m of node.data.matchAll(/[\p{L}\p{N}_]+/gu)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}

/** At 400 px: no word broken in a table, tables scroll instead of squashing, the page itself fits. */
async function checkNarrow(page, where, shot) {
  const broken = await page.evaluate(brokenWords);
  check(broken.length === 0, `at 400 px no table cell on ${where} breaks a word (${broken.slice(0, 5).join(', ')})`);
  const layout = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    window: window.innerWidth,
    scrolling: [...document.querySelectorAll('.scroll')].filter((d) => d.scrollWidth > d.clientWidth).length,
  }));
  check(layout.page <= layout.window, `at 400 px ${where} fits the window (${layout.page} px wide)`);
  check(layout.scrolling > 0, `at 400 px the tables on ${where} scroll sideways (${layout.scrolling})`);
  await page.screenshot({ path: join(shots, shot), fullPage: true });
}

/** The portal page at `path` under the session the login link opened. */
let portalPage;

async function reveal(page, clientId) {
  await page.goto(portalPage(''));
  await page.click(`#client-${clientId} button.reveal`);
  return (await page.textContent('#client-secret')).trim();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  // Without the login, the 401 page says where the link is and offers no
  // link that would only answer 401 again.
  const stranger = await browser.newContext({ ignoreHTTPSErrors: true });
  const lost = await stranger.newPage();
  const refused = await lost.goto(new URL('/portal/inspect', portalUrl).href);
  check(refused.status() === 401, 'the portal without the login link answers 401');
  check((await lost.textContent('#login-help')).includes('portal_url'), 'the 401 page says where the login link is');
  const links = await lost.locator('a[href]').evaluateAll((as) => as.map((a) => a.href));
  const statuses = await Promise.all(links.map(async (href) => (await stranger.request.get(href)).status()));
  check(statuses.every((s) => s !== 401), `the 401 page has no link leading to a 401 (${links.length} links)`);
  await lost.screenshot({ path: join(shots, '0-login-required.png'), fullPage: true });
  await stranger.close();

  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
  const page = await context.newPage();

  // The link from the startup summary logs in and lands on the portal.
  await page.goto(portalUrl);
  const session = new URL(page.url()).pathname;
  check(/^\/portal\/[A-Za-z0-9]{20,}\/$/.test(session) && !page.url().includes(new URL(portalUrl).searchParams.get('token')),
    `the login link lands on the session's own path without the token in the address bar (${session})`);
  portalPage = (path) => new URL(session + path, portalUrl).href;
  check((await page.textContent('h1')).includes('my_app'), 'the application is listed');
  await page.screenshot({ path: join(shots, '1-portal.png'), fullPage: true });

  // "Certificate chain" and "Generate new certificate" download zips.
  check(await download(page, () => page.click('#certificate-chain')) === 'lean_public_cert_chain.zip', 'the chain downloads as a zip');
  check(await download(page, () => page.click('#generate-certificate')) === 'my_app_certificate.zip', 'a new certificate downloads as a zip');
  check((statSync(file('my_app_private_key.pem')).mode & 0o777) === 0o600, 'the unzipped key is owner-only');

  let call = banks();
  check(call.http === '200', `curl with the downloaded certificate gets 200 from the mtls host (got ${call.http})`);

  // The new certificate is listed; revoke it and see the mtls host refuse it.
  await page.reload();
  const rows = page.locator('#certificate-list tr[id^="cert-"]');
  check(await rows.count() === 2, 'two certificates are listed');
  await page.screenshot({ path: join(shots, '2-certificates.png'), fullPage: true });
  await rows.nth(1).locator('button.revoke').click();
  check((await page.textContent('#notice')).includes('revoked'), 'the portal confirms the revocation');
  check((await rows.nth(1).locator('.status').textContent()).trim() === 'revoked', 'the new certificate shows as revoked');
  check((await rows.nth(0).locator('.status').textContent()).trim() === 'valid', 'the first certificate stays valid');
  const deadline = Date.now() + 5000;
  do {
    call = banks();
    if (call.http !== '200') break;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
  check(call.http !== '200', `the revoked certificate is refused (curl exit ${call.code})`);

  // Create a client, reveal its secret, reveal again: the first stops working.
  await page.fill('#create-client input[name=name]', 'browser test client');
  await page.selectOption('#create-client select[name=token_endpoint_auth_method]', 'client_secret_basic');
  await page.click('#create-client button[type=submit]');
  const clientId = new URL(page.url()).hash.replace('#client-', '');
  check(/^[0-9a-f-]{36}$/.test(clientId), `the new client is shown (${clientId})`);
  const first = await reveal(page, clientId);
  await page.screenshot({ path: join(shots, '3-secret.png'), fullPage: true });
  check(token(clientId, first).http === '200', 'the revealed secret gets a token');
  const second = await reveal(page, clientId);
  check(first !== second, 'revealing again shows a new secret');
  check(token(clientId, first).http === '401', 'the first secret stopped working');
  check(token(clientId, second).http === '200', 'the second secret works');

  // The inspector shows the refused handshake with its explanation.
  await page.goto(portalPage('inspect'));
  const inspector = await page.textContent('#events');
  check(inspector.includes('has been revoked'), 'the inspector explains the refused handshake');
  check(inspector.includes('wrong client_secret'), 'the inspector shows the refused token request');
  await checkTimes(page, 'the inspector');
  await page.screenshot({ path: join(shots, '4-inspector.png'), fullPage: true });
  await page.goto(portalPage(''));
  await checkTimes(page, 'the certificate list');

  // A workshop attendee opens their own link in their own browser: alice only.
  const attendee = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
  const alice = await attendee.newPage();
  await alice.goto(attendeeUrl);
  const aliceSession = new URL(alice.url()).pathname;
  check(/^\/portal\/[A-Za-z0-9]{20,}\/$/.test(aliceSession) && aliceSession !== session,
    "an attendee's link lands on its own session path");
  check((await alice.textContent('#app-name')).trim() === 'alice', "the attendee's link shows their own application");
  const alicePage = await alice.content();
  check(alicePage.includes(attendeeAppToken) && !alicePage.includes(appToken) && !alicePage.includes(otherAppToken),
    "the attendee's page shows no other application's credentials");
  check(await alice.locator('#generate-certificate, #create-client, #application-list').count() === 0,
    "the attendee's page offers none of the owner's actions");
  check((await alice.textContent('#webhook-form label')).includes('alice'), "the attendee's webhook form is for their own application");
  await alice.fill('#webhook-url', 'http://localhost:9/alice-hook');
  await Promise.all([alice.waitForNavigation(), alice.click('#webhook-form button[type=submit]')]);
  check(alice.url().includes('notice=webhook-saved') && (await alice.inputValue('#webhook-url')) === 'http://localhost:9/alice-hook',
    'the attendee saves their own webhook URL');
  await alice.screenshot({ path: join(shots, '7-attendee.png'), fullPage: true });
  check(await download(alice, () => alice.click('#download-bundle')) === 'alice_bundle.zip', "the attendee's bundle downloads as a zip");
  check(readFileSync(file('README.txt'), 'utf8').includes(`lean-app-token: ${attendeeAppToken}`), "the bundle's README has the attendee's curl commands");
  call = curl(['--cert', file('alice_cert.crt'), '--key', file('alice_private_key.pem'),
    '-H', `lean-app-token: ${attendeeAppToken}`, `${mtlsUrl}/banks/v1`]);
  check(call.http === '200', `the attendee's bundle gets 200 from the mtls host (got ${call.http})`);
  await alice.goto(new URL(aliceSession + 'inspect', portalUrl).href);
  const aliceApps = await alice.locator('tr.event').evaluateAll((rows) => rows.map((r) => r.dataset.app));
  check(aliceApps.length > 0 && aliceApps.every((a) => a === 'alice') && await alice.locator('#app-filter').count() === 0,
    `the attendee's inspector shows only their own requests (${aliceApps.length})`);
  check((await alice.goto(portalPage(''))).status() === 401, "the attendee's browser cannot open the owner's session");
  await attendee.close();

  // The owner's link sees every application, and filters the inspector by one.
  await page.goto(portalPage(''));
  check((await page.inputValue('#webhook-url')) === '', "the attendee's webhook URL is not the owner's");
  const listed = await page.locator('#application-list tr[id^="app-"]').evaluateAll((rows) => rows.map((r) => r.id));
  check(['app-my_app', 'app-alice', 'app-bob'].every((id) => listed.includes(id)), `the owner's link lists every application (${listed})`);
  await page.goto(portalPage('inspect'));
  const everyone = await page.locator('tr.event').evaluateAll((rows) => rows.map((r) => r.dataset.app));
  check(everyone.includes('alice') && everyone.includes('my_app'), "the owner's inspector shows every application's requests");
  await page.selectOption('#app-filter select[name=app]', 'alice');
  await Promise.all([page.waitForNavigation(), page.click('#app-filter button')]);
  const filtered = await page.locator('tr.event').evaluateAll((rows) => rows.map((r) => r.dataset.app));
  check(filtered.length > 0 && filtered.every((a) => a === 'alice') && page.url().includes('app=alice'),
    `the owner's inspector filters by application (${filtered.length})`);
  await page.screenshot({ path: join(shots, '8-inspector-filtered.png'), fullPage: true });

  // A narrow window (a phone, a side-by-side editor).
  await page.setViewportSize({ width: 400, height: 800 });
  await checkNarrow(page, 'the portal', '5-narrow-portal.png');
  await page.goto(portalPage('inspect'));
  await checkNarrow(page, 'the inspector', '6-narrow-inspector.png');

  // Other local apps, logged-in browser: a plain HTTP one and an HTTPS one
  // (same-site with the portal). Neither gets the session cookie, nor a
  // change through a form, nor the portal in a frame, even knowing the
  // session's path.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', file('other.key'), '-out', file('other.crt')], { stdio: 'ignore' });
  const tls = { key: readFileSync(file('other.key')), cert: readFileSync(file('other.crt')) };
  const planted = 'planted by another origin';
  for (const other of [await startSecondOrigin(), await startSecondOrigin(tls)]) {
    const scheme = new URL(other.origin).protocol.replace(':', '');
    try {
      const visitor = await context.newPage();
      for (const path of ['/', '/portal', '/portal/', '/portal/inspect', '/portal/inspect.json']) {
        await visitor.goto(other.origin + path);
      }
      check(other.cookies.length === 0, `a page on another ${scheme} port receives no portal cookie (${other.cookies.join('; ')})`);
      for (const target of [new URL('/portal/clients', portalUrl).href, portalPage('clients')]) {
        await visitor.goto(`${other.origin}/post?target=${encodeURIComponent(target)}`);
        const [answer] = await Promise.all([
          visitor.waitForResponse((r) => r.url() === target),
          visitor.click('#attack button'),
        ]);
        check([401, 403].includes(answer.status()),
          `a form on another ${scheme} port cannot post to ${new URL(target).pathname.replace(session, '<session>/')} (${answer.status()})`);
      }
      await visitor.goto(`${other.origin}/frame?target=${encodeURIComponent(portalPage(''))}`);
      const framed = visitor.frames().find((f) => f !== visitor.mainFrame());
      const inside = await framed.evaluate(() => document.body ? document.body.innerText : '').catch(() => '');
      check(!inside.includes('developer portal'), `a page on another ${scheme} port cannot frame the portal (${framed.url()})`);
      await visitor.close();
    } finally {
      await other.close();
    }
  }
  await page.goto(portalPage(''));
  check(!(await page.content()).includes(planted), 'no other origin created a client');
} finally {
  await browser.close();
}
