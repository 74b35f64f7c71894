#!/usr/bin/env node
// Cancelled write streams from @grpc/grpc-js, for tests/reliability/test_cancelled_writes.py.
//
//   node cancel_writes.js HOST:PORT COLLECTION_ID CANCELS SEED        (or ... hang NAME)
//
// Opens AddRecords / UpsertRecords streams one after another against the collection until
// CANCELS of them were cancelled. Three in four are cut off at a random point before their
// commit message (after 0 to all of their data messages, after a random pause): most by
// call.cancel(), some by ending the stream without committing. Every fourth sends all its
// messages with commit: true on the last one and waits for the reply. Each stream writes ids
// "<stream>-<k>", so the test can tell which were applied. Prints one JSON object:
// {"cancelled": [...], "ended": [...], "completed": [...], "codes": {...}}: the streams and the
// status codes the client saw. With "hang NAME" it sends one uncommitted message of stream
// NAME, prints "sent" and waits to be killed (a client process that dies mid-write).
// Modules come from examples/node/node_modules (NODE_PATH), the protos from ../../protos.
'use strict';

const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'protos');

function loadRecordService(address) {
  const definition = protoLoader.loadSync(['chroma_grpc/v1/record_service.proto'], {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const v1 = grpc.loadPackageDefinition(definition).chroma_grpc.v1;
  return new v1.RecordService(address, grpc.credentials.createInsecure());
}

// A small deterministic PRNG (mulberry32), so a failing run can be replayed with its seed.
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One data message of a stream: `count` records with 2-d vectors, packed little-endian. */
function chunk(name, first, count) {
  const values = Float32Array.from({ length: count * 2 }, (_, i) => i % 2);
  return {
    batch: {
      records: Array.from({ length: count }, (_, k) => ({ id: `${name}-${first + k}` })),
      embeddings: { dimension: 2, packed_float32: Buffer.from(values.buffer) },
    },
  };
}

/** Writes `stream` (its messages, then what to do: cancel, end, or commit) and settles with the
 * status code the client saw ("OK" for a reply). */
function run(client, collectionId, stream, rand) {
  return new Promise((resolve) => {
    const method = rand() < 0.5 ? 'AddRecords' : 'UpsertRecords';
    const call = client[method]((error) => resolve(error ? grpc.status[error.code] : 'OK'));
    (async () => {
      const messages = [];
      let first = 0;
      for (let m = 0; m < stream.chunks; m += 1) {
        const count = 1 + Math.floor(rand() * 3);
        messages.push(chunk(stream.name, first, count));
        first += count;
      }
      stream.records = first;
      messages[0].collection = { id: collectionId };
      messages[0].request_id = stream.name;
      if (stream.ending === 'commit') {
        messages[messages.length - 1].commit = true;
        for (const message of messages) call.write(message);
        call.end();
        return;
      }
      for (let m = 0; m < stream.sent; m += 1) {
        call.write(messages[m]);
        if (rand() < 0.5) await sleep(Math.floor(rand() * 15));
      }
      await sleep(Math.floor(rand() * 25));
      if (stream.ending === 'cancel') call.cancel();
      else call.end(); // the stream ends, never having said commit
    })();
  });
}

async function hang(client, collectionId, name) {
  const call = client.AddRecords(() => {});
  const message = chunk(name, 0, 2);
  message.collection = { id: collectionId };
  call.write(message, () => process.stdout.write('sent\n'));
  await new Promise(() => {}); // until killed
}

async function main() {
  const [address, collectionId, cancels, seed] = process.argv.slice(2);
  const client = loadRecordService(address);
  if (cancels === 'hang') return hang(client, collectionId, seed);
  const rand = random(Number(seed));
  const outcome = { cancelled: [], ended: [], completed: [], codes: {} };
  for (let i = 0; outcome.cancelled.length < Number(cancels); i += 1) {
    const chunks = 1 + Math.floor(rand() * 4);
    const roll = rand();
    const ending = i % 4 === 3 ? 'commit' : roll < 0.85 ? 'cancel' : 'end';
    const stream = {
      name: `node${i}`,
      chunks,
      sent: Math.floor(rand() * (chunks + 1)), // 0 .. every data message, never the commit
      ending,
    };
    const code = await run(client, collectionId, stream, rand);
    outcome.codes[code] = (outcome.codes[code] || 0) + 1;
    const bucket = { cancel: 'cancelled', end: 'ended', commit: 'completed' }[ending];
    outcome[bucket].push({ name: stream.name, code, records: stream.records });
  }
  client.close();
  process.stdout.write(JSON.stringify(outcome) + '\n');
}

main().catch((error) => {
  process.stderr.write(`cancel_writes.js failed: ${error.stack}\n`);
  process.exit(1);
});
