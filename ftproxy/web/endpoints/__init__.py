"""HTTP endpoints, one module per API family. Each handler takes (gateway, request) → Response."""
