"""Proxies: does each candidate honour HTTP(S)_PROXY and NO_PROXY from the environment, as corporate
networks need? A throwaway listener plays the proxy and records what it is asked."""

from __future__ import annotations

import os
import subprocess
import threading
from typing import Any

from bench.http_clients import REPO
from bench.http_clients.orchestrator import self_command

_PROXY_CASES = (
    ("HTTP_PROXY", "http://upstream.invalid:8080/x", {"HTTP_PROXY": "P", "http_proxy": "P"}),
    ("HTTPS_PROXY", "https://upstream.invalid/x", {"HTTPS_PROXY": "P", "https_proxy": "P"}),
    (
        "NO_PROXY",
        "https://upstream.invalid/x",
        {
            "HTTPS_PROXY": "P",
            "https_proxy": "P",
            "NO_PROXY": "upstream.invalid",
            "no_proxy": "upstream.invalid",
        },
    ),
)


def proxy_check(python: str, names: list[str]) -> dict[str, dict[str, str]]:
    import socket

    out: dict[str, dict[str, str]] = {}
    for name in names:
        out[name] = {}
        for label, url, variables in _PROXY_CASES:
            seen: list[str] = []
            done = threading.Event()
            with socket.create_server(("127.0.0.1", 0)) as listener:
                listener.settimeout(0.1)
                proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
                env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
                env.update({k: proxy if v == "P" else v for k, v in variables.items()})
                thread = threading.Thread(target=_play_proxy, args=(listener, seen, done), daemon=True)
                thread.start()
                subprocess.run(
                    self_command(python, "--proxy-probe", name, "--url", url),
                    env=env,
                    cwd=REPO,
                    capture_output=True,
                    timeout=60,
                )
                done.set()
                thread.join(timeout=10)
            if label == "NO_PROXY" and out[name]["HTTPS_PROXY"] == "ignored":
                out[name][label] = "n/a (no proxy support)"
            elif label == "NO_PROXY":
                out[name][label] = "honoured" if not seen else f"ignored (proxy asked: {seen[0]})"
            else:
                out[name][label] = f"honoured ({seen[0].split(' ')[0]})" if seen else "ignored"
    return out


def _play_proxy(listener: Any, seen: list[str], done: threading.Event) -> None:
    while True:
        try:
            peer, _ = listener.accept()
            break
        except TimeoutError:
            if done.is_set():
                return  # the client finished without asking the proxy anything
    with peer:
        peer.settimeout(5)
        try:
            seen.append(peer.recv(300).split(b"\r\n")[0].decode("latin-1"))
            peer.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        except OSError:
            pass
