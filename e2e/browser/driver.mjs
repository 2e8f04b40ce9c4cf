// A thin bridge from the Python end-to-end suite to a real browser.
//
// Debian's Chromium (never a downloaded one) driven by playwright-core. The
// suite writes one JSON command per line on stdin and reads one JSON answer
// per line on stdout: {"id", "ok": true, "result"} or {"id", "ok": false,
// "error"}. What the pages must look like lives in the Python tests
// (e2e/tests/browser.py); this file only knows how to drive a browser.
//
// Every `open` starts a fresh browser context (no cookies, no storage), so
// scenarios never share a session. Navigations to the relying party's
// redirect URI are answered here, never sent to the network: the test sees
// the URL the authorization server redirected to.

import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const EXECUTABLE = process.env.TOLLGATE_CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TIMEOUT = Number(process.env.TOLLGATE_BROWSER_TIMEOUT_MS || 15000);

// launch() gives Chromium a fresh temporary user data dir of its own (and
// removes it on close); every `open` adds an isolated context on top.
const browser = await chromium.launch({
  executablePath: EXECUTABLE,
  headless: true,
  args: ARGS,
  timeout: 60000,
});

/** name -> { context, page, redirectUri, callbacks, console, document } */
const sessions = new Map();

function pageState(s) {
  return s.pages[s.pages.length - 1];
}

async function open({ name, redirectUri, locale, acceptLanguage, viewport }) {
  // Chromium's locale emulation sets Accept-Language itself (and wins over
  // extra headers): derive the locale from the wanted header.
  const wanted = locale || (acceptLanguage ? acceptLanguage.split(',')[0].split(';')[0].trim() : 'en-US');
  const context = await browser.newContext({
    locale: wanted,
    extraHTTPHeaders: acceptLanguage ? { 'Accept-Language': acceptLanguage } : {},
    viewport: viewport || { width: 1024, height: 768 },
    javaScriptEnabled: true,
  });
  context.setDefaultTimeout(TIMEOUT);
  context.setDefaultNavigationTimeout(TIMEOUT);
  const s = { context, redirectUri, callbacks: [], console: [], documents: [], pages: [], pending: [] };
  const page = await context.newPage();
  watch(s, page);
  s.pages.push(page);
  context.on('page', (p) => {
    watch(s, p);
    s.pages.push(p);
  });
  sessions.set(name, s);
  return {};
}

function watch(s, page) {
  // Navigations to the relying party's redirect URI. Playwright cannot route
  // the request that follows a redirect, so it goes out (to the registered
  // URI, on 127.0.0.1) and is recorded here.
  page.on('request', (req) => {
    if (s.redirectUri && req.isNavigationRequest() && req.frame() === page.mainFrame() && req.url().startsWith(s.redirectUri)) {
      s.callbacks.push(req.url());
    }
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') s.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => s.console.push(`pageerror: ${e.message}`));
  page.on('response', (r) => {
    const req = r.request();
    if (req.isNavigationRequest() && req.frame() === page.mainFrame()) {
      // Recorded in order at once; the full header list (with Set-Cookie
      // and duplicates joined) replaces the preliminary one before `info`.
      const doc = { url: r.url(), status: r.status(), headers: r.headers(), method: req.method() };
      s.documents.push(doc);
      s.pending.push(
        r.allHeaders().then(
          (h) => {
            doc.headers = h;
          },
          () => {},
        ),
      );
    }
  });
}

function session(name) {
  const s = sessions.get(name);
  if (!s) throw new Error(`no browser session ${name}`);
  return s;
}

/** What the test needs to know about the page now. */
async function info(s) {
  const page = pageState(s);
  await page.waitForLoadState('load').catch(() => {});
  await Promise.all(s.pending.splice(0));
  const doc = await page
    .evaluate(() => ({
      title: document.title,
      lang: document.documentElement.getAttribute('lang'),
      text: document.body ? document.body.innerText : '',
      forms: Array.from(document.forms).map((f) => ({
        id: f.id || null,
        action: f.getAttribute('action'),
        method: (f.getAttribute('method') || 'get').toLowerCase(),
        fields: Array.from(f.elements)
          .filter((e) => e.name)
          .map((e) => ({ name: e.name, type: e.type, id: e.id || null, autocomplete: e.getAttribute('autocomplete') })),
      })),
      inlineScripts: Array.from(document.scripts).filter((x) => !x.src && x.textContent.trim()).length,
      inlineStyles: document.querySelectorAll('[style]').length,
    }))
    .catch((e) => ({ error: String(e) }));
  const last = s.documents[s.documents.length - 1] || null;
  return {
    url: page.url(),
    status: last ? last.status : null,
    headers: last ? last.headers : {},
    documents: s.documents.slice(),
    callbacks: s.callbacks.slice(),
    console: s.console.slice(),
    ...doc,
  };
}

async function navigating(page, action) {
  // Wait for the load that the action causes (a form post, a redirect chain).
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }).catch(() => {}), action()]);
}

async function focused(page) {
  return page.evaluate(() => {
    const e = document.activeElement;
    if (!e || e === document.body) return null;
    const label = e.labels && e.labels.length ? e.labels[0].innerText.trim() : null;
    return {
      tag: e.tagName.toLowerCase(),
      id: e.id || null,
      name: e.getAttribute('name'),
      type: e.getAttribute('type'),
      text: (e.innerText || e.value || '').trim().slice(0, 80),
      label,
      focusVisible: e.matches(':focus-visible'),
    };
  });
}

/** Whether the focused element looks different focused than blurred. */
async function focusIndicator(page) {
  const box = await page.evaluate(() => {
    const r = document.activeElement.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  });
  const pad = 6;
  const clip = {
    x: Math.max(0, box.x - pad),
    y: Math.max(0, box.y - pad),
    width: box.width + 2 * pad,
    height: box.height + 2 * pad,
  };
  const withFocus = await page.screenshot({ clip, animations: 'disabled', caret: 'initial' });
  await page.evaluate(() => {
    window.__tollgateFocused = document.activeElement;
    document.activeElement.blur();
  });
  const without = await page.screenshot({ clip, animations: 'disabled', caret: 'initial' });
  // Give focus back through the keyboard path: Shift+Tab then Tab from the
  // element before it would be fragile; focus() after keyboard use keeps
  // :focus-visible in Chromium.
  await page.evaluate(() => window.__tollgateFocused.focus());
  return !withFocus.equals(without);
}

async function axe(page, options) {
  await page.evaluate(AXE_SOURCE + '\n;0');
  const results = await page.evaluate(
    (opts) => window.axe.run(document, opts),
    options || { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } },
  );
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
  }));
}

const handlers = {
  open,
  async close({ name }) {
    const s = session(name);
    sessions.delete(name);
    await s.context.close();
    return {};
  },
  async goto({ name, url }) {
    const s = session(name);
    const page = pageState(s);
    try {
      await page.goto(url, { waitUntil: 'load' });
    } catch (e) {
      // An error status without a body is still an answer to look at.
      if (!String(e).includes('ERR_HTTP_RESPONSE_CODE_FAILURE')) throw e;
    }
    return info(s);
  },
  async info({ name }) {
    return info(session(name));
  },
  async fill({ name, selector, value }) {
    await pageState(session(name)).fill(selector, value);
    return {};
  },
  async check({ name, selector }) {
    await pageState(session(name)).check(selector);
    return {};
  },
  async click({ name, selector }) {
    const s = session(name);
    const page = pageState(s);
    await navigating(page, () => page.click(selector));
    return info(s);
  },
  async submit({ name, selector }) {
    // Submits the form holding `selector` the way a user's Enter would.
    const s = session(name);
    const page = pageState(s);
    await navigating(page, () => page.press(selector, 'Enter'));
    return info(s);
  },
  async press({ name, key, navigation }) {
    const s = session(name);
    const page = pageState(s);
    if (navigation) {
      await navigating(page, () => page.keyboard.press(key));
      return info(s);
    }
    await page.keyboard.press(key);
    return focused(page);
  },
  async type({ name, text }) {
    await pageState(session(name)).keyboard.type(text);
    return {};
  },
  async focused({ name }) {
    return focused(pageState(session(name)));
  },
  async focusIndicator({ name }) {
    return focusIndicator(pageState(session(name)));
  },
  async attributes({ name, selector }) {
    return pageState(session(name)).$$eval(selector, (els) =>
      els.map((e) => {
        const out = { tag: e.tagName.toLowerCase(), text: (e.innerText || '').trim() };
        for (const a of e.attributes) out[a.name] = a.value;
        return out;
      }),
    );
  },
  async axe({ name, options }) {
    return axe(pageState(session(name)), options);
  },
  async screenshot({ name, path, fullPage }) {
    mkdirSync(dirname(path), { recursive: true });
    await pageState(session(name)).screenshot({ path, fullPage: fullPage !== false, animations: 'disabled', caret: 'hide' });
    return { path };
  },
  async cookies({ name }) {
    return session(name).context.cookies();
  },
  async fetch({ name, url, method, form, headers }) {
    // A request from the page's context (its cookies), not a navigation.
    const s = session(name);
    const r = await s.context.request.fetch(url, { method: method || 'GET', form, headers, maxRedirects: 0 });
    return { status: r.status(), headers: r.headers(), text: await r.text() };
  },
  async authenticator({ name, remove }) {
    // Chromium's virtual WebAuthn authenticator (DevTools protocol) on the
    // session's page: a CTAP2 key with user verification, which answers
    // without a prompt. `remove` takes the page's current one away.
    const s = session(name);
    if (!s.cdp) {
      s.cdp = await s.context.newCDPSession(pageState(s));
      await s.cdp.send('WebAuthn.enable', { enableUI: false });
    }
    if (remove) {
      await s.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: s.authenticatorId });
      s.authenticatorId = null;
      return {};
    }
    const { authenticatorId } = await s.cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'usb',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    s.authenticatorId = authenticatorId;
    return { authenticatorId };
  },
  async authenticatorCredentials({ name }) {
    const s = session(name);
    const { credentials } = await s.cdp.send('WebAuthn.getCredentials', { authenticatorId: s.authenticatorId });
    return credentials.map((c) => ({ credentialId: c.credentialId, rpId: c.rpId, signCount: c.signCount }));
  },
  async version() {
    return { browser: browser.version() };
  },
};

async function shutdown(code) {
  try {
    await browser.close();
  } finally {
    process.exit(code);
  }
}

process.on('SIGTERM', () => shutdown(0));

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
process.stdout.write(JSON.stringify({ id: 0, ok: true, result: { ready: true, browser: browser.version() } }) + '\n');
for await (const line of rl) {
  if (!line.trim()) continue;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: null, ok: false, error: `bad command: ${e.message}` }) + '\n');
    continue;
  }
  const handler = handlers[msg.cmd];
  let answer;
  try {
    if (!handler) throw new Error(`unknown command ${msg.cmd}`);
    answer = { id: msg.id, ok: true, result: await handler(msg.args || {}) };
  } catch (e) {
    answer = { id: msg.id, ok: false, error: String(e && e.stack ? e.stack : e) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
await shutdown(0);
