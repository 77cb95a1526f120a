"""Peer-to-peer: identity, discovery, the wire protocol, the signed event chain, the node.

Knows nothing of the engine or of Qt (import-linter contracts in pyproject.toml).
"""
