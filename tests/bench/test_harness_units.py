"""The harness's pure parts, run with the normal suite (no processes, no load)."""

from __future__ import annotations

import copy

from bench import cpu_profile, criteria, data_plane, results, wrk
from bench.discovery import Interpreter, choose_quick
from bench.payloads import HttpRequest, chat_body, direct_request, large_conversation
from bench.processes import modes_for
from bench.settings import preset
from bench.stats import percentile, stat


def test_lua_strings_survive_any_brackets() -> None:
    body = 'x]]y]=]z\n"quoted"'
    script = wrk.lua_script([HttpRequest("POST", "/v1/x", {"A": "b]]"}, body.encode())])
    assert "[==[" in script and body in script
    assert "[ [[A]] ] = [=[b]]]=]" in script


def test_direct_request_is_the_proxy_conversion_addressed_to_the_simulator() -> None:
    req = direct_request(large_conversation("gemini-2.5-pro"), token="t")
    assert req.path.endswith(":generateContent") and req.headers["Authorization"] == "Bearer t"
    assert b'"contents"' in req.body
    assert "[[sim:latency_ms=20]]" in chat_body("gpt-4.1", latency_ms=20)["messages"][0]["content"]


def test_presets_always_measure_the_reference_and_twice_it() -> None:
    s = preset("quick", reference_connections=32)
    assert 32 in s.ramp and 64 in s.ramp


def test_stats() -> None:
    assert stat([3, 1, 2]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert percentile(list(range(1, 101)), 99) == 99


def _fake_results() -> dict:
    level = {
        "connections": 64,
        "rps": stat([100]),
        "p50_ms": stat([1]),
        "p99_ms": stat([2]),
        "errors_pct": stat([0]),
        "cpu_per_core_pct": [90.0, 10.0],
        "server_cpu_pct": stat([90]),
        "cpu_ms_per_request": stat([1]),
        "rss_peak_mib": 50.0,
    }
    scn = {
        "overhead": {
            "rps": stat([1]),
            "p50_ms": stat([1]),
            "p90_ms": stat([1]),
            "p99_ms": stat([2]),
            "errors_pct": stat([0]),
            **{k: level[k] for k in ("cpu_per_core_pct", "server_cpu_pct", "rss_peak_mib")},
            "cpu_ms_per_request": stat([0.5]),
        },
        "throughput": {
            "levels": [level, {**level, "connections": 128}],
            "sustained": {"connections": 64, "within_limits": True, "rps": 100.0, "p99_ms": 2.0},
            "rss_peak_mib": 50.0,
        },
        "streaming": {
            k: stat([1])
            for k in (
                "ttft_p50_ms",
                "ttft_p99_ms",
                "gap_p50_ms",
                "gap_p99_ms",
                "gap_max_ms",
                "stream_max_gap_p99_ms",
                "stalls",
                "errors",
            )
        }
        | {"streams": 32, "upstream_pace_ms": 20.0},
        "max_streams": {
            "levels": [],
            "max_without_stall": 10,
            "memory_per_stream_kib": 1.0,
            "upstream_pace_ms": 200.0,
        },
        "cpu_heavy": {"points": [{**level, "threads": 1, "connections": 16}]},
    }
    return {
        "settings": {"reference_connections": 64, "max_stream_levels": [50, 200]},
        "machine": {"pinning": {"server_cores": [0]}},
        "limit": {"scenarios": copy.deepcopy(scn)},
        "runs": [
            {
                "id": "3.13-gil/granian-threads",
                "variant": "gil",
                "status": "ok",
                "scenarios": scn,
                "rss_mib": {"idle": 40.0, "after": 60.0},
            }
        ],
    }


def test_criteria_say_n_a_without_a_free_threaded_run_and_compare_with_the_limit() -> None:
    data = criteria.evaluate(_fake_results())
    by_id = {c["id"]: c for c in data["criteria"]}
    assert by_id["throughput_3x"]["status"] == "n/a" and by_id["throughput_3x"]["value"] is None
    assert by_id["cpu_over_70pct"]["status"] == "pass"
    comp = data["comparisons"]["3.13-gil/granian-threads"]
    assert comp["rps_ratio_at_reference"] == 1.0 and comp["added_p50_ms"] == 0.0


def test_schema_check_names_every_missing_number() -> None:
    data = criteria.evaluate(_fake_results())
    found = results.problems(data)
    assert any("$.schema" in p for p in found)
    assert any("rss_mib.under_load" in p for p in found)
    data["runs"][0]["scenarios"]["overhead"]["p50_ms"]["median"] = float("nan")
    assert any("overhead.p50_ms.median" in p for p in results.problems(data))


def _interp(version: str, free: bool, path: str = "") -> Interpreter:
    where = path or f"/py/{version}{'t' if free else ''}"
    return Interpreter(where, where, version, "CPython", free, "gcc", "", "", False, "test")


def test_quick_mode_pairs_a_free_threaded_build_with_its_own_version_and_runs_it_both_ways() -> None:
    found = [
        _interp("3.14.0", True),
        _interp("3.14.0", False),
        _interp("3.13.1", False),
        _interp("3.11.7", False),
    ]
    assert [i.key for i in choose_quick(found, "/py/3.13.1")] == ["3.14t", "3.14"]
    variants = found[0].variants()
    assert [(v.name, v.gil_flag, v.env) for v in variants] == [
        ("nogil", "off", {}),
        ("gil", "on", {"PYTHON_GIL": "1"}),
    ]
    assert modes_for(variants[1]) == ["gunicorn"]  # Granian's free-threaded build refuses the GIL


def test_quick_mode_without_a_free_threaded_build_keeps_the_harness_interpreter_and_the_oldest() -> None:
    found = [_interp("3.13.0", False, "/a"), _interp("3.12.1", False, "/b"), _interp("3.11.7", False, "/c")]
    assert [i.key for i in choose_quick(found, "/a")] == ["3.13", "3.11"]


def _slower(data: dict) -> dict:
    """The run's figures made worse than direct in the ways issue 11 measures."""
    scn = data["runs"][0]["scenarios"]
    scn["overhead"]["p50_ms"] = stat([1.5])
    scn["throughput"]["levels"][0]["rps"] = stat([80])
    scn["streaming"]["stream_max_gap_p99_ms"] = stat([9])
    return data


def test_data_plane_targets_carry_the_mode_the_direct_call_their_ratio_and_how_much_a_miss_is() -> None:
    data = criteria.evaluate(_slower(_fake_results()))
    data["both_cores"] = [
        {
            "interpreter": "3.13",
            "variant": "gil",
            "connections": 256,
            "status": "ok",
            "note": "shares core 1",
            "one_core": {"workers": 1, "rps": stat([100])},
            "both_cores": {"workers": 2, "rps": stat([150])},
            "rps_ratio": 1.5,
        }
    ]
    found = {(t["id"], t["run"]): t for t in data_plane.evaluate(data)}
    run = "3.13-gil/granian-threads"
    p50 = found[("added_p50_c1", run)]
    assert (p50["value"], p50["measured"], p50["direct"], p50["ratio_to_direct"]) == (0.5, 1.5, 1.0, 1.5)
    assert p50["status"] == "miss" and "misses by 0.25 ms" in p50["note"]
    rps = found[("rps_ratio_64", run)]
    assert rps["value"] == 0.8 and rps["status"] == "miss" and rps["ratio_to_direct"] == 0.8
    assert found[("added_max_gap_32", run)]["value"] == 8.0
    cpu = found[("cpu_growth", run)]
    assert cpu["value"] == 2.0 and cpu["reference"] == "self" and cpu["status"] == "miss"
    assert found[("errors_64", run)]["status"] == "pass"
    assert found[("streams_1000", run)]["status"] == "n/a"  # this preset stops at 200 streams
    both = found[("both_cores", "3.13-gil")]
    assert both["value"] == 1.5 and both["status"] == "miss" and "shares core 1" in both["note"]


def test_schema_check_wants_the_data_plane_figures() -> None:
    data = criteria.evaluate(_fake_results())
    data["data_plane"] = data_plane.evaluate(data)
    found = results.problems(data)
    assert any(p.endswith("].profile: missing") for p in found)
    assert not any("$.data_plane" in p for p in found)
    data["both_cores"] = [
        {"interpreter": "3.13", "variant": "gil", "connections": 256, "status": "ok", "note": ""}
    ]
    assert any("$.both_cores[0].one_core: missing" in p for p in results.problems(data))


RAW = (
    'process 10:"ftproxy serve";process 11:"ftproxy serve";<module> (/v/lib/site-packages/g/x.py:1);'
    "handle (/repo/ftproxy/web/app.py:10);send (/v/lib/python3.13/site-packages/httpcore/_sync/c.py:5) 6\n"
    'process 10:"ftproxy serve";process 11:"ftproxy serve";<module> (/v/lib/site-packages/g/x.py:1);'
    "handle (/repo/ftproxy/web/app.py:10);log (/repo/ftproxy/observe/logs.py:3);"
    "dumps (/lib/python3.13/json/a.py:3) 3\n"
    'process 12:"python -c\nimport x";<module> (<string>:1) 1\n'
    'process 10:"ftproxy serve" 2\n'
)


def test_profile_summary_counts_own_and_total_samples_per_function() -> None:
    summary = cpu_profile.summarise(RAW)
    assert summary["samples"] == 12
    own = {f["function"]: f["samples"] for f in summary["top_self"]}
    assert own == {
        "send (httpcore/_sync/c.py:5)": 6,
        "dumps (stdlib/json/a.py:3)": 3,
        cpu_profile.NATIVE: 2,
        "<module> (<string>:1)": 1,
    }
    # Totals leave out what every stack of a process shares (<module>, handle): no information.
    total = {f["function"]: f["samples"] for f in summary["top_total"]}
    assert total == {
        "send (httpcore/_sync/c.py:5)": 6,
        "log (ftproxy/observe/logs.py:3)": 3,
        "dumps (stdlib/json/a.py:3)": 3,
        "<module> (<string>:1)": 1,
    }
