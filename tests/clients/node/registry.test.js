// registry.test.js - the JavaScript client @kafkajs/confluent-schema-registry, unchanged,
// against a real `canon registry` (issue 3: existing clients work unchanged).
//
// Starts $CANON_BIN on a temporary database, reads the port from its ready line, then
// registers, encodes, decodes and looks up ids through the client. Run with
//   CANON_BIN=/abs/path/to/canon node --test tests/clients/node/
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

const READY = /canon registry: listening on (http:\/\/\S+) \(db (.*)\)/;
let proc;
let url;
let tmp;
let stderrPath;

function startRegistry() {
  const bin = process.env.CANON_BIN;
  if (!bin) throw new Error('CANON_BIN is not set: point it at the canon binary');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'canon-node-'));
  const db = path.join(tmp, 'registry.db');
  stderrPath = path.join(tmp, 'stderr.log');
  const errFd = fs.openSync(stderrPath, 'a');
  proc = spawn(bin, ['registry', '--listen', '127.0.0.1:0', '--db', db],
    { stdio: ['ignore', 'pipe', errFd] });
  fs.closeSync(errFd);
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('registry not ready within 60 s')), 60000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`registry exited with ${code} before it was ready`));
    });
    proc.stdout.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      const m = READY.exec(buf);
      if (m && !url) {
        clearTimeout(timer);
        url = m[1].replace(/\/$/, '');
        assert.equal(m[2], db);
        resolve();
      }
    });
  });
}

async function waitHealthy() {
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    if (Date.now() > deadline) throw new Error('GET /health never answered 200');
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  await startRegistry();
  await waitHealthy();
});

after(async () => {
  if (!proc || proc.exitCode !== null) return;
  proc.removeAllListeners('exit');
  const exited = new Promise((resolve) => proc.once('exit', (code, sig) => resolve([code, sig])));
  proc.kill('SIGTERM');
  const [code, sig] = await Promise.race([
    exited,
    new Promise((resolve) => setTimeout(() => resolve(['timeout', null]), 20000).unref()),
  ]);
  const log = fs.readFileSync(stderrPath, 'utf8');
  fs.rmSync(tmp, { recursive: true, force: true });
  assert.equal(code, 0, `registry exit on SIGTERM: ${code} ${sig}\n${log.slice(-2000)}`);
  assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(log), log.slice(-4000));
});

const ORDER_V1 = {
  type: 'record',
  name: 'Order',
  namespace: 'com.shop',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'qty', type: 'int' },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID'] } },
  ],
};
const ORDER_V2 = {
  ...ORDER_V1,
  fields: [...ORDER_V1.fields, { name: 'channel', type: 'string', default: 'web' }],
};
const ORDER_BAD = {
  ...ORDER_V1,
  fields: [...ORDER_V1.fields, { name: 'required_new', type: 'string' }],
};
// avsc decodes records into instances of a generated class: compare as plain data.
const plain = (o) => JSON.parse(JSON.stringify(o));

const ORDER = { id: 'o-1 ✓', qty: 3, note: null, tags: ['a', 'ü'], status: 'PAID' };

test('register, encode, decode, getLatestSchemaId', async () => {
  const registry = new SchemaRegistry({ host: url });
  const subject = 'node-orders-value';
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(ORDER_V1) }, { subject });
  assert.equal(typeof id, 'number');
  assert.ok(id > 0);

  const buf = await registry.encode(id, ORDER);
  assert.equal(buf[0], 0, 'Confluent magic byte');
  assert.equal(buf.readUInt32BE(1), id, 'schema id in the frame');
  assert.deepEqual(plain(await registry.decode(buf)), ORDER);

  assert.equal(await registry.getLatestSchemaId(subject), id);
  assert.equal(await registry.getRegistryId(subject, 1), id);
  assert.equal(await registry.getRegistryId(subject, 'latest'), id);
  assert.equal(await registry.getRegistryIdBySchema(subject,
    { type: SchemaType.AVRO, schema: JSON.stringify(ORDER_V1) }), id);

  // a fresh client (empty cache) fetches the writer schema by id to decode
  const other = new SchemaRegistry({ host: url });
  assert.deepEqual(plain(await other.decode(buf)), ORDER);

  // registering again is idempotent
  const again = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(ORDER_V1) }, { subject });
  assert.equal(again.id, id);
});

test('evolution: a new version, reader schema, latest id', async () => {
  const registry = new SchemaRegistry({ host: url });
  const subject = 'node-evolve-value';
  const v1 = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(ORDER_V1) }, { subject });
  const oldBytes = await registry.encode(v1.id, ORDER);
  const v2 = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(ORDER_V2) }, { subject });
  assert.notEqual(v2.id, v1.id);
  assert.equal(await registry.getLatestSchemaId(subject), v2.id);
  const newBytes = await registry.encode(v2.id, { ...ORDER, channel: 'store' });
  assert.equal(newBytes.readUInt32BE(1), v2.id);
  assert.deepEqual(plain(await registry.decode(newBytes)), { ...ORDER, channel: 'store' });
  const readerSchema = JSON.parse(JSON.stringify(ORDER_V2));
  const read = await registry.decode(oldBytes, { [SchemaType.AVRO]: { readerSchema } });
  assert.deepEqual(plain(read), { ...ORDER, channel: 'web' });
});

test('incompatible schema is refused with 409', async () => {
  const registry = new SchemaRegistry({ host: url });
  const subject = 'node-compat-value';
  await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(ORDER_V1) }, { subject });
  await assert.rejects(
    registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(ORDER_BAD) }, { subject }),
    (err) => {
      assert.equal(err.status, 409, `status ${err.status}: ${err.message}`);
      return true;
    });
});

test('invalid payload does not encode; unknown id does not decode', async () => {
  const registry = new SchemaRegistry({ host: url });
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(ORDER_V1) }, { subject: 'node-bad-value' });
  await assert.rejects(registry.encode(id, { id: 5 }));
  const bogus = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 0x02]);
  await assert.rejects(registry.decode(bogus), (err) => {
    assert.equal(err.status, 404, `status ${err.status}: ${err.message}`);
    return true;
  });
});
