// A second local origin, as any dev server the developer runs beside the
// sandbox: plain HTTP (or HTTPS, which is same-site with the portal) on
// another 127.0.0.1 port. It records the cookies each
// request brings (the portal session must never be among them) and serves
// pages that try to use the portal from outside: a form post into it and a
// frame around it.

import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';

const escape = (s) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Starts the server; `origin` is its URL, `cookies` every Cookie header it
 * received. With `tls` ({ key, cert }) it speaks HTTPS.
 */
export async function startSecondOrigin(tls) {
  const cookies = [];
  const handler = (req, res) => {
    if (req.headers.cookie) cookies.push(`${req.url}: ${req.headers.cookie}`);
    const url = new URL(req.url, 'http://x');
    const target = url.searchParams.get('target') ?? '';
    let body = '<!doctype html><title>another local app</title><p>another local app</p>';
    if (url.pathname.endsWith('/post')) {
      body += `<form id="attack" method="post" action="${escape(target)}"><input name="name" value="planted by another origin"><button>go</button></form>`;
    } else if (url.pathname.endsWith('/frame')) {
      body += `<iframe id="framed" src="${escape(target)}" width="800" height="600"></iframe>`;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body);
  };
  const server = tls ? createTlsServer(tls, handler) : createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}`;
  return { origin, cookies, close: () => new Promise((resolve) => server.close(resolve)) };
}
