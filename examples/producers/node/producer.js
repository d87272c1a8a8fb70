// Sends COUNT signed ticket.created events to agentflow's ingress (even ones as JSON, odd ones
// as Avro single-object encoding), then reads the audit topic read_committed and decodes each
// record by its fingerprint until every event was decided. Prints one JSON line.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const avro = require('avsc');
const { CompressionCodecs, CompressionTypes, Kafka, Partitioners, logLevel } = require('kafkajs');
const lz4 = require('lz4js');

// agentflow's worker compresses what it writes with LZ4; kafkajs reads GZIP only unless a
// codec is registered. This one is pure JavaScript (no native build).
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder) => Buffer.from(lz4.compress(encoder.buffer)),
  decompress: async (buffer) => Buffer.from(lz4.decompress(buffer)),
});

function env(name) {
  const value = process.env[name];
  if (value === undefined) throw new Error(`set ${name}`);
  return value;
}

// CRC-64-AVRO, the fingerprint of the Avro spec (avsc offers md5 and sha256 only).
const EMPTY = 0xc15d213aa4d7a795n;
const TABLE = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i);
  for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n));
  return fp;
});

// The 8 bytes single-object encoding carries: CRC-64-AVRO of the Parsing Canonical Form
// (avsc's getSchema() is that form: no docs, defaults or logical types), little-endian.
function fingerprint(type) {
  let fp = EMPTY;
  for (const byte of Buffer.from(JSON.stringify(type.getSchema()), 'utf8')) {
    fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(byte)) & 0xffn)];
  }
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(fp);
  return out;
}

// One registry per schema file, seeded with the common named types: v1 and v2 of an event
// type reuse record names, so one registry for all would clash.
function loadSchema(dir, file) {
  const registry = {};
  for (const common of ['agentflow.Actor', 'agentflow.FieldChange', 'agentflow.ApprovalDecision']) {
    avro.Type.forSchema(readJson(path.join(dir, 'common', `${common}.avsc`)), { registry });
  }
  return avro.Type.forSchema(readJson(path.join(dir, file)), { registry });
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// Lowercase hex HMAC-SHA256 over key + "\n" + value; the secret is its UTF-8 bytes.
function sign(secret, key, value) {
  return crypto.createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(Buffer.concat([key, Buffer.from('\n'), value])).digest('hex');
}

async function main() {
  const dir = env('SCHEMA_DIR');
  const runId = env('RUN_ID');
  const count = Number(env('COUNT'));
  const ticket = loadSchema(dir, 'events/ticket.created.v1.avsc');
  const ticketFingerprint = fingerprint(ticket);
  const kafka = new Kafka({ clientId: 'agentflow-example', brokers: [env('BOOTSTRAP')],
    logLevel: logLevel.NOTHING });

  // The DefaultPartitioner hashes keys with murmur2 like the Java client.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < count; i++) {
    const workflowId = `wf-${runId}-${i}`;
    const customer = `cust-${i}`;
    const event = {
      event_id: `evt-${runId}-${i}`, event_type: 'ticket.created', schema_version: 1,
      occurred_at: Date.now(), source: 'helpdesk', tenant: 'acme',
      actor: { id: customer, kind: 'user', roles: ['customer'] },
      workflow_id: workflowId, causation_id: null,
      payload: { ticket_id: `T-${i}`, subject: 'Password reset', body: 'I cannot log in.',
        customer_id: customer, customer_email: null, tags: [] },
    };
    const json = i % 2 === 0;
    const value = json
      ? Buffer.from(JSON.stringify(event), 'utf8')
      : Buffer.concat([Buffer.from([0xc3, 0x01]), ticketFingerprint, ticket.toBuffer(event)]);
    const key = Buffer.from(workflowId, 'utf8');
    messages.push({ key, value, headers: {
      'content-type': json ? 'application/json' : 'application/avro',
      'af-key-id': env('KEY_ID'),
      'af-signature': sign(env('SECRET'), key, value),
    } });
  }
  await producer.send({ topic: env('INGRESS_TOPIC'), acks: -1, messages });
  await producer.disconnect();

  // Read back what the engine decided: audit records, decoded by their fingerprint (each
  // version of the schema that a topic may hold: v3 now, v2 and v1 before the upgrades).
  const readers = new Map(['internal/audit_record.v3.avsc', 'internal/audit_record.v2.avsc',
    'internal/audit_record.avsc'].map(
    (file) => { const schema = loadSchema(dir, file); return [fingerprint(schema).toString('hex'), schema]; }));
  const consumer = kafka.consumer({ groupId: `producer-example-node-${runId}`,
    readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic: env('AUDIT_TOPIC'), fromBeginning: true });
  const decisions = {};
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, 90000);
    consumer.run({ eachMessage: async ({ message }) => {
      const value = message.value;
      const reader = readers.get(value.subarray(2, 10).toString('hex'));
      if (!reader || value[0] !== 0xc3 || value[1] !== 0x01) reject(new Error('not an audit record'));
      const decided = reader.fromBuffer(value.subarray(10));
      if (!decided.workflow_id.startsWith(`wf-${runId}-`) || seen.has(decided.event_id)) return;
      seen.add(decided.event_id);
      decisions[decided.decision] = (decisions[decided.decision] || 0) + 1;
      if (seen.size >= count) { clearTimeout(timer); resolve(); }
    } }).catch(reject);
  });
  await consumer.disconnect();
  console.log(JSON.stringify({ sent: count, decisions }));
}

main().catch((err) => { console.error(err); process.exit(1); });
