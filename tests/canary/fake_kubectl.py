"""A stand-in for `kubectl` (the only mock allowed: no cluster can run here). It records every
call (argv and stdin) as a JSON line in $FAKE_KUBECTL_DIR/calls.jsonl, keeps the objects it was
given in $FAKE_KUBECTL_DIR/objects.json, and answers like kubectl for the subcommands the
rollback uses: `apply -f -`, `set env deployment/NAME K=V K-`, `rollout status deployment/NAME`,
`get deployment/NAME -o json`. $FAKE_KUBECTL_FAIL=rollout makes `rollout status` fail as a
stuck rollout does (exit 1, kubectl's message)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

FOLDER = Path(os.environ["FAKE_KUBECTL_DIR"])
OBJECTS = FOLDER / "objects.json"


def main(argv: list[str]) -> int:
    stdin = sys.stdin.read() if "-f" in argv and "-" in argv else None
    with (FOLDER / "calls.jsonl").open("a") as log:
        log.write(json.dumps({"argv": argv, "stdin": stdin}) + "\n")
    words = list(argv)
    if words[:1] == ["-n"]:
        words = words[2:]
    objects: dict[str, dict] = json.loads(OBJECTS.read_text()) if OBJECTS.exists() else {}
    if words[:1] == ["apply"]:
        for doc in yaml.safe_load_all(stdin or ""):
            if not doc:
                continue
            key = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
            verb = "configured" if key in objects else "created"
            objects[key] = doc
            group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
            print(f"{doc['kind'].lower()}{'.' + group if group else ''}/{doc['metadata']['name']} {verb}")
    elif words[:2] == ["set", "env"]:
        key = words[2]
        if key not in objects:
            print(
                f'Error from server (NotFound): deployments.apps "{key.split("/")[1]}" not found',
                file=sys.stderr,
            )
            return 1
        container = objects[key]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        for word in words[3:]:
            if word.endswith("-"):
                env.pop(word[:-1], None)
            else:
                name, _, value = word.partition("=")
                env[name] = value
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
        print(f"deployment.apps/{key.split('/')[1]} env updated")
    elif words[:2] == ["rollout", "status"]:
        name = words[2].split("/")[1]
        if os.environ.get("FAKE_KUBECTL_FAIL") == "rollout":
            print(f'error: deployment "{name}" exceeded its progress deadline', file=sys.stderr)
            return 1
        print(f'deployment "{name}" successfully rolled out')
    elif words[:1] == ["get"] and words[2:] == ["-o", "json"]:
        obj = objects.get(words[1])
        if obj is None:
            print(f'Error from server (NotFound): deployments.apps "{words[1]}" not found', file=sys.stderr)
            return 1
        replicas = obj["spec"].get("replicas", 1)
        print(
            json.dumps(
                {
                    **obj,
                    "status": {"replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas},
                }
            )
        )
    else:
        print(f"fake kubectl: unsupported {argv}", file=sys.stderr)
        return 2
    OBJECTS.write_text(json.dumps(objects))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
