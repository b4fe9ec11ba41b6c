"""HTTP endpoints, one module per API family. Each handler takes (services, request) → Response."""
