'use strict';
// One real HTTP request, for the synchronous UrlFetchApp stand-in: the parent blocks on
// child_process.execFileSync while this process does the (asynchronous) request.
// stdin: {"url", "method", "headers", "bodyBase64", "timeoutMs"}
// stdout: {"status", "headers", "bodyBase64"} or {"error"}
const http = require('node:http');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const request = JSON.parse(input);
  const body = Buffer.from(request.bodyBase64 || '', 'base64');
  const url = new URL(request.url);
  if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    finish({ error: `refusing to leave loopback: ${request.url}` });
    return;
  }
  const headers = { ...request.headers, 'Content-Length': String(body.length) };
  const req = http.request(url, { method: request.method, headers, timeout: request.timeoutMs }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => finish({
      status: res.statusCode,
      headers: res.headers,
      bodyBase64: Buffer.concat(chunks).toString('base64'),
    }));
  });
  req.on('timeout', () => req.destroy(new Error(`timed out after ${request.timeoutMs} ms`)));
  req.on('error', (e) => finish({ error: `${e.code || e.name}: ${e.message}` }));
  req.end(body);
});

function finish(result) {
  process.stdout.write(JSON.stringify(result));
}
