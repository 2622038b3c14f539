// MCP conformance test: the official MCP TypeScript SDK client drives `bim mcp` over stdio against a
// real bimd. Run through tests/mcp/run.sh, which starts bimd and sets the environment:
//   BIM_BIN        path to the bim binary
//   HELLO_SERVER   path to the static demo server (build/examples/hello-server)
//   BIM_SERVER, BIM_TOKEN  the bimd to deploy to
//   WORK           a scratch directory for app folders
// Prints "N passed, M failed" and exits non-zero on any failure.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const { BIM_BIN, HELLO_SERVER, BIM_SERVER, BIM_TOKEN, WORK } = process.env;
for (const [k, v] of Object.entries({ BIM_BIN, HELLO_SERVER, BIM_SERVER, BIM_TOKEN, WORK })) {
  if (!v) {
    console.error(`conformance: ${k} is not set (run tests/mcp/run.sh)`);
    process.exit(2);
  }
}

const EXPECTED_TOOLS = ['apps', 'deploy', 'env_list', 'env_set', 'logs', 'nodes', 'releases', 'rollback', 'scale', 'status', 'volumes'];
const SECRET = `s3cr3t-${process.pid}-${Date.now()}`;
const APP = `mcp-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const LONG = { timeout: 300_000, resetTimeoutOnProgress: true };

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
  return ok;
}
function show(result) {
  return JSON.stringify(result).slice(0, 1500);
}

// GETs an app URL through bimd's nginx: connect to 127.0.0.1 and send the app's Host header.
function fetchApp(url) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: u.port || 80, path: u.pathname, headers: { Host: u.host }, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body: body.trim() }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end();
  });
}

// A FROM-scratch app folder around the static demo server.
function makeApp(dir, env, healthTimeout = '30s') {
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(HELLO_SERVER, path.join(dir, 'hello-server'));
  fs.chmodSync(path.join(dir, 'hello-server'), 0o755);
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello-server /hello-server\nCMD ["/hello-server"]\n');
  fs.writeFileSync(path.join(dir, 'bim.toml'),
    `app = "${APP}"\nport = 8080\n[health]\npath = "/healthz"\ntimeout = "${healthTimeout}"\n`);
  fs.writeFileSync(path.join(dir, '.env'), env);
}

// Calls a tool expecting a protocol error; returns the McpError (or null if none was thrown).
async function expectProtocolError(client, params) {
  try {
    const result = await client.callTool(params);
    return { result };
  } catch (e) {
    return { error: e };
  }
}

async function main() {
  const stderrLines = [];
  const transport = new StdioClientTransport({
    command: BIM_BIN,
    args: ['mcp'],
    env: { ...process.env, BIM_SERVER, BIM_TOKEN },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (d) => stderrLines.push(...d.toString().split('\n').filter(Boolean)));
  const client = new Client({ name: 'bim-conformance', version: '1.0.0' });

  // 1. initialize (the SDK asks for its newest protocol and accepts any version it supports).
  await client.connect(transport);
  const info = client.getServerVersion();
  check('initialize: serverInfo names bim', info?.name === 'bim', JSON.stringify(info));
  check('initialize: tools capability', !!client.getServerCapabilities()?.tools);
  check('initialize: negotiated a supported protocol version',
    stderrLines.some((l) => /speaking (2025-06-18|2025-03-26|2024-11-05)/.test(l)), stderrLines.join(' | '));
  await client.ping();
  check('ping', true);

  // 2. tools/list: all nine tools, each with input and output schemas.
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  check('tools/list: all 11 tools', JSON.stringify(names) === JSON.stringify(EXPECTED_TOOLS), names.join(','));
  check('tools/list: every tool has inputSchema and outputSchema',
    tools.every((t) => t.inputSchema?.type === 'object' && t.outputSchema?.type === 'object'));

  // 3. deploy v1. callTool also validates structuredContent against the outputSchema (throws if not).
  const dir = path.join(WORK, 'app');
  makeApp(dir, `GREETING=one\nSECRET_TOKEN=${SECRET}\n`);
  const progress = [];
  let r = await client.callTool({ name: 'deploy', arguments: { dir } }, undefined,
    { ...LONG, onprogress: (p) => progress.push(p) });
  const s1 = r.structuredContent ?? {};
  check('deploy v1: ok with url and release', !r.isError && s1.ok === true && s1.release === 'v1' &&
    typeof s1.url === 'string' && s1.url.includes(APP) && Number.isInteger(s1.duration_ms), show(r));
  check('deploy v1: final text says where it is live', r.content?.[0]?.text?.includes('is live at'), show(r.content));
  check('deploy v1: progress notifications arrived', progress.length > 0 && progress.every((p, i) => i === 0 || p.progress > progress[i - 1].progress));
  check('deploy v1: no secret value in the result', !JSON.stringify(r).includes(SECRET));
  const url = s1.url;
  if (url) {
    const got = await fetchApp(url).catch((e) => ({ status: 0, body: String(e) }));
    check('deploy v1: the app answers at its URL', got.status === 200 && got.body === 'Hello from bim! one', JSON.stringify(got));
  }

  // 4. status and logs.
  r = await client.callTool({ name: 'status', arguments: { app: APP } });
  check('status: v1 is live and running', !r.isError && r.structuredContent?.live?.release === 'v1' &&
    String(r.structuredContent?.state).startsWith('running'), show(r));
  r = await client.callTool({ name: 'logs', arguments: { app: APP, tail: 20 } });
  check('logs: the container output', !r.isError && Array.isArray(r.structuredContent?.lines) &&
    r.structuredContent.lines.some((l) => l.includes('listening on port 8080')), show(r));

  // 5. deploy v2 with a new greeting.
  makeApp(dir, `GREETING=two\nSECRET_TOKEN=${SECRET}\n`);
  r = await client.callTool({ name: 'deploy', arguments: { dir, app: APP } }, undefined, LONG);
  check('deploy v2: ok', !r.isError && r.structuredContent?.release === 'v2', show(r));
  if (url) check('deploy v2: serves the new version', (await fetchApp(url)).body === 'Hello from bim! two');
  r = await client.callTool({ name: 'releases', arguments: { app: APP, limit: 10 } });
  check('releases: v2 then v1', !r.isError &&
    JSON.stringify(r.structuredContent?.releases?.map((x) => x.release)) === '["v2","v1"]', show(r));

  // 6. roll back to v1.
  r = await client.callTool({ name: 'rollback', arguments: { app: APP, to: 'v1' } }, undefined, LONG);
  check('rollback: ok', !r.isError && r.structuredContent?.ok === true && typeof r.structuredContent?.release === 'string', show(r));
  if (url) {
    const got = await fetchApp(url);
    check('rollback: serves v1 again', got.body === 'Hello from bim! one', JSON.stringify(got));
  }

  // 7. env_list never reveals a value.
  r = await client.callTool({ name: 'env_list', arguments: { app: APP } });
  const env = r.structuredContent?.env ?? [];
  check('env_list: lists the keys', !r.isError && ['GREETING', 'SECRET_TOKEN'].every((k) => env.some((v) => v.key === k)), show(r));
  check('env_list: every value is masked', env.length > 0 && env.every((v) => v.value === '••••'), show(r));
  check('env_list: the secret appears nowhere in the result',
    !JSON.stringify(r).includes(SECRET) && !JSON.stringify(r).includes('"one"'), show(r));

  // 8. env_set makes a release with the new value and never echoes it.
  const greeting = `three-${process.pid}`;
  r = await client.callTool({ name: 'env_set', arguments: { app: APP, vars: { GREETING: greeting } } }, undefined, LONG);
  check('env_set: ok and names the key', !r.isError && r.structuredContent?.keys_set?.includes('GREETING'), show(r));
  check('env_set: the value is not echoed', !JSON.stringify(r).includes(greeting));
  if (url) check('env_set: the app sees the new value', (await fetchApp(url)).body === `Hello from bim! ${greeting}`);

  // 9. apps.
  r = await client.callTool({ name: 'apps', arguments: {} });
  check('apps: lists the app', !r.isError && r.structuredContent?.apps?.some((a) => a.app === APP), show(r));

  // 10. bad arguments: a JSON-RPC invalid-params error (the spec's answer for invalid arguments).
  let e = await expectProtocolError(client, { name: 'status', arguments: { app: 'Not A Valid Name!' } });
  check('bad arguments: -32602 invalid params', e.error instanceof McpError && e.error.code === ErrorCode.InvalidParams,
    e.error ? String(e.error) : show(e.result));
  e = await expectProtocolError(client, { name: 'logs', arguments: { app: APP, tail: 'many' } });
  check('wrong argument type: -32602', e.error instanceof McpError && e.error.code === ErrorCode.InvalidParams,
    e.error ? String(e.error) : show(e.result));
  e = await expectProtocolError(client, { name: 'no_such_tool', arguments: {} });
  check('unknown tool: -32602', e.error instanceof McpError && e.error.code === ErrorCode.InvalidParams,
    e.error ? String(e.error) : show(e.result));
  try {
    await client.request({ method: 'no/such/method', params: {} }, (await import('@modelcontextprotocol/sdk/types.js')).ResultSchema);
    check('unknown method: -32601', false, 'no error');
  } catch (err) {
    check('unknown method: -32601', err instanceof McpError && err.code === ErrorCode.MethodNotFound, String(err));
  }

  // 11. tool failures are results with isError and an explanation.
  r = await client.callTool({ name: 'status', arguments: { app: `${APP}-missing` } });
  check('missing app: isError result naming the problem', r.isError === true && r.structuredContent?.error?.code === 'not_found' &&
    /no app|no such app|not found/i.test(r.content?.[0]?.text ?? ''), show(r));
  r = await client.callTool({ name: 'deploy', arguments: { dir: path.join(WORK, 'nope') } });
  check('deploy of a missing folder: isError', r.isError === true && r.content?.[0]?.text?.includes('no such folder'), show(r));
  const badDir = path.join(WORK, 'unhealthy');
  makeApp(badDir, 'GREETING=bad\nHEALTH_STATUS=500\n', '3s');
  r = await client.callTool({ name: 'deploy', arguments: { dir: badDir } }, undefined, LONG);
  const sf = r.structuredContent ?? {};
  check('failed deploy: isError with reason and log lines', r.isError === true && sf.ok === false &&
    typeof sf.error?.message === 'string' && Array.isArray(sf.logs) && sf.logs.length > 0 &&
    r.content?.[0]?.text?.includes('last log lines'), show(r));
  if (url) check('failed deploy: the previous release still serves', (await fetchApp(url)).body === `Hello from bim! ${greeting}`);

  await client.close();
  if (failed) console.log(`--- bim mcp stderr (last 40 lines)\n${stderrLines.slice(-40).join('\n')}`);
}

try {
  await main();
} catch (err) {
  check('conformance run completed', false, err?.stack ?? String(err));
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
