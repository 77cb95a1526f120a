"""Peer-to-peer: identity, discovery, the wire protocol, the signed event chain, the node.

Knows nothing of the engine or of Qt (import-linter contracts in pyproject.toml).

- ``identity``: the installation's ed25519 key (0600 file), node id and fingerprint;
- ``chain``: pure: signing, the verifier ``(state, bytes) -> state``, ``CircularEventStream``;
- ``ledger``: our chain written durably, peers' chains verified and stored, checkpoints, replay;
- ``processor``: the seed's ``EventStreamProcessor`` (handlers per type, subscriptions, streams);
- ``data``: the seed's ``DataManager`` (CQRS: commands become events, queries read the projection);
- ``clock``: the injectable clock; ``testing``: deterministic keys, chains and golden cases;
- ``protocol``: the sans-IO wire protocol (handshake, encrypted framing, connection state machine);
- ``transport`` (asyncio TCP) and ``memory`` (in-memory, for tests): connections to peers;
- ``discovery`` (zeroconf) and ``lan`` (discovery plus transport): finding and joining peers;
- ``health`` (phi accrual, RTT), ``limits`` (token buckets), ``peers`` (table, pins), ``ratelog``;
- ``replication`` (catch-up, live push, relay), ``snapshots`` (the state behind a checkpoint, for
  late joiners), ``blobs`` (bytes in DataRequest/DataResponse parts), ``routing``, ``auth``;
- ``node`` (one running node), ``api`` (local REST API), ``monitoring``, ``diagnostics`` (this
  node's and its peers' logs and metrics in one zip), ``headless`` (``krapition node``).
"""
