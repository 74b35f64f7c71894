"""Reusable test helpers (servers to run the same tests over the embedded store and gRPC)."""
