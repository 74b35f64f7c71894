#!/usr/bin/env node
// A chroma-grpc client in Node.js: loads the contract straight from ../../protos, creates a
// collection (get_or_create), adds vectors with metadata (packed little-endian float32) in one
// write stream that commits on its last message, queries with a where filter and prints what
// happened as JSON lines on stdout.
//
//   npm ci && node client.js [HOST:PORT] [COLLECTION]
//
// The address defaults to $CHROMA_GRPC_ADDRESS, then 127.0.0.1:50051; the collection name to
// $CHROMA_GRPC_COLLECTION, then "node-example".
'use strict';

const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'protos');
const PROTO_FILES = [
  'chroma_grpc/v1/system_service.proto',
  'chroma_grpc/v1/collection_service.proto',
  'chroma_grpc/v1/record_service.proto',
];

/** The chroma_grpc.v1 package, with proto field names as written (snake_case). */
function loadContract() {
  const definition = protoLoader.loadSync(PROTO_FILES, {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String, // uint64 counts arrive as decimal strings, as in protobuf JSON
    enums: String,
    defaults: false,
    oneofs: true, // sets e.g. value: 'int_value' beside the field of a MetadataValue
  });
  return grpc.loadPackageDefinition(definition).chroma_grpc.v1;
}

/** Vectors as a Vectors message: the values packed as little-endian float32. */
function packVectors(vectors) {
  const dimension = vectors[0].length;
  const values = Float32Array.from(vectors.flat());
  const packed = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (os.endianness() !== 'LE') packed.swap32(); // the wire format is little-endian
  return { dimension, packed_float32: packed };
}

/** A Vectors message back to arrays, whichever of packed_float32 / values it carries. */
function unpackVectors(message) {
  if (!message || !message.dimension) return [];
  let flat;
  if (message.packed_float32 && message.packed_float32.length) {
    const bytes = Buffer.from(message.packed_float32);
    flat = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
  } else {
    flat = (message.values && message.values.values) || [];
  }
  const rows = [];
  for (let i = 0; i < flat.length; i += message.dimension) {
    rows.push(flat.slice(i, i + message.dimension));
  }
  return rows;
}

/** A plain object as a Metadata message (integers become int_value, other numbers float_value). */
function toMetadata(object) {
  const fields = {};
  for (const [key, value] of Object.entries(object)) {
    if (typeof value === 'string') fields[key] = { string_value: value };
    else if (typeof value === 'boolean') fields[key] = { bool_value: value };
    else if (Number.isInteger(value)) fields[key] = { int_value: value };
    else fields[key] = { float_value: value };
  }
  return { fields };
}

/** A Metadata message as a plain object (int64 values come back as strings: made Numbers). */
function fromMetadata(metadata) {
  if (!metadata) return null;
  const object = {};
  for (const [key, value] of Object.entries(metadata.fields || {})) {
    object[key] = value.value === 'int_value' ? Number(value.int_value) : value[value.value];
  }
  return object;
}

/** A unary call as a promise. */
function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, (error, reply) => (error ? reject(error) : resolve(reply)));
  });
}

/**
 * A client-streaming call: writes each message, closes the stream, resolves the reply. Write
 * streams are applied only if their last message says `commit: true` (set it on the last message
 * passed here); a stream that ends without it writes nothing and fails with ABORTED.
 */
function clientStream(client, method, messages) {
  return new Promise((resolve, reject) => {
    const call = client[method]((error, reply) => (error ? reject(error) : resolve(reply)));
    for (const message of messages) call.write(message);
    call.end();
  });
}

/** A server-streaming call: resolves every reply message. */
function serverStream(client, method, request) {
  return new Promise((resolve, reject) => {
    const replies = [];
    const call = client[method](request);
    call.on('data', (reply) => replies.push(reply));
    call.on('error', reject);
    call.on('end', () => resolve(replies));
  });
}

function print(event, fields) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

async function main() {
  const address = process.argv[2] || process.env.CHROMA_GRPC_ADDRESS || '127.0.0.1:50051';
  const name = process.argv[3] || process.env.CHROMA_GRPC_COLLECTION || 'node-example';
  const v1 = loadContract();
  const credentials = grpc.credentials.createInsecure();
  const system = new v1.SystemService(address, credentials);
  const collections = new v1.CollectionService(address, credentials);
  const records = new v1.RecordService(address, credentials);

  const info = await unary(system, 'GetServerInfo', {});
  print('server', { address, version: info.version, server_version: info.server_version });

  const { collection, created } = await unary(collections, 'CreateCollection', {
    name,
    metadata: toMetadata({ source: 'node' }),
    get_or_create: true,
  });
  const createdNow = Boolean(created); // false is the proto3 default, so absent on the wire
  print('collection', { id: collection.id, name: collection.name, created: createdNow });

  // Two chunks of one atomic add stream: the first names the collection, the last commits.
  // Ids that already exist are skipped, so reruns are safe.
  const chunks = [
    {
      ids: ['n1', 'n2'],
      vectors: [[1, 0, 0], [0, 1, 0]],
      metadatas: [{ year: 2022, topic: 'cats' }, { year: 2023, topic: 'dogs' }],
      documents: ['the cat sat', 'the dog ran'],
    },
    {
      ids: ['n3'],
      vectors: [[0, 0, 1]],
      metadatas: [{ year: 2024, topic: 'birds', score: 0.5 }],
      documents: ['a bird sang'],
    },
  ];
  const added = await clientStream(
    records,
    'AddRecords',
    chunks.map((chunk, index) => ({
      collection: index === 0 ? { id: collection.id } : undefined,
      commit: index === chunks.length - 1,
      batch: {
        records: chunk.ids.map((id, i) => ({
          id,
          metadata: toMetadata(chunk.metadatas[i]),
          document: chunk.documents[i],
        })),
        embeddings: packVectors(chunk.vectors),
      },
    })),
  );
  print('added', { record_count: Number(added.record_count) });

  // Any record RPC may name its collection by name instead of id.
  const { count } = await unary(records, 'CountRecords', { collection: { name } });
  print('count', { count: Number(count || 0) });

  // where {"year": {"$gte": 2023}}, two query vectors, two neighbours each.
  const replies = await serverStream(records, 'QueryRecords', {
    collection: { id: collection.id },
    query_embeddings: packVectors([[0.9, 0.1, 0], [0, 0.1, 0.9]]),
    n_results: 2,
    where: {
      condition: { key: 'year', operator: 'COMPARISON_OPERATOR_GTE', value: { int_value: 2023 } },
    },
    include: {
      fields: [
        'INCLUDE_FIELD_METADATAS',
        'INCLUDE_FIELD_DOCUMENTS',
        'INCLUDE_FIELD_DISTANCES',
        'INCLUDE_FIELD_EMBEDDINGS',
      ],
    },
  });
  for (const reply of replies) {
    print('query', {
      query_index: reply.query_index || 0,
      ids: reply.records.map((record) => record.id),
      distances: reply.distances,
      metadatas: reply.records.map((record) => fromMetadata(record.metadata)),
      documents: reply.records.map((record) => record.document ?? null),
      embeddings: unpackVectors(reply.embeddings),
    });
  }

  for (const client of [system, collections, records]) client.close();
}

main().catch((error) => {
  // A grpc-js error's message starts with its status (e.g. "14 UNAVAILABLE: ..." with no server).
  process.stderr.write(`chroma-grpc node example failed: ${error.message}\n`);
  process.exit(1);
});
