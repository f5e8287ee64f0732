"""Where a page's long tasks went, for the embed bench.

Two sources: the Long Animation Frames API, which the page's probe records on every load (the
script runs in each frame over 50 ms, by URL, and the rendering), and Chromium's trace of one
load, broken down by event (``--attribute``).
"""

from __future__ import annotations

import collections
from typing import Any

__all__ = ["TRACE_CATEGORIES", "frame_causes", "long_task_breakdown"]

# Trace events that say what a task spent its time on (exclusive time, by label).
TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "toplevel",
                    "blink.user_timing"]
KINDS = {"ParseHTML": "parse HTML", "UpdateLayoutTree": "style", "Layout": "layout",
         "PrePaint": "paint", "Paint": "paint", "Layerize": "paint", "Commit": "paint",
         "MajorGC": "GC", "MinorGC": "GC", "v8.compile": "compile",
         **dict.fromkeys(["EvaluateScript", "FunctionCall", "TimerFire", "FireAnimationFrame",
                          "EventDispatch", "FireIdleCallback", "RunMicrotasks"], "js")}


def _script(e: dict[str, Any]) -> str:
    data = e.get("args", {}).get("data") or {}
    url = data.get("url") or data.get("scriptName") or ""
    return url.rsplit("/", 2)[-2] + "/" + url.rsplit("/", 1)[-1] if "/" in url else url


def long_task_breakdown(events: list[dict[str, Any]], observed: list[list[float]]
                        ) -> list[tuple[float, float, list[tuple[str, float]]]]:
    """For each long task the page observed ([start, duration] in page time), where its time
    went, from the main thread's trace events. JS without a script URL is the page's inline
    code or the benchmark's own probe; ``other`` is the browser's own work outside these
    events (e.g. waiting for a synchronous IPC is inside the JS that made it)."""
    threads = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M"
               and e.get("name") == "thread_name" and e["args"]["name"] == "CrRendererMain"}
    main = sorted((e for e in events if (e.get("pid"), e.get("tid")) in threads
                   and e.get("ph") == "X"), key=lambda e: (e["ts"], -e.get("dur", 0)))
    nav = [e["ts"] for e in events if e.get("name") == "navigationStart"
           and (e.get("pid"), e.get("tid")) in threads
           and str((e.get("args", {}).get("data") or {}).get("documentLoaderURL", ""))
           .startswith("http")]
    if not nav:
        return []
    t0 = max(nav)
    tasks = [e for e in main if e["name"] == "RunTask" and e.get("dur", 0) >= 50000]
    out = []
    for start, duration in observed:
        near = [t for t in tasks if abs((t["ts"] - t0) / 1000 - start) < 3]
        if not near:
            continue
        task = near[0]
        end = task["ts"] + task["dur"]
        spent: collections.Counter[str] = collections.Counter()
        stack: list[tuple[int, str]] = []
        for e in main:
            if not (task["ts"] <= e["ts"] < end) or e["name"] not in KINDS:
                continue
            while stack and stack[-1][0] <= e["ts"]:
                stack.pop()
            label = KINDS[e["name"]]
            if label == "js":
                script = _script(e)
                label = f"js {script}" if script else (stack[-1][1] if stack else "js (no URL)")
            dur = e.get("dur", 0)
            spent[label] += dur
            if stack:
                spent[stack[-1][1]] -= dur
            stack.append((e["ts"] + dur, label))
        spent["other"] = task["dur"] - sum(spent.values())
        out.append((start, duration, [(k, v / 1000) for k, v in spent.most_common() if v >= 1000]))
    return out


def frame_causes(own: tuple[str, ...], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Over every load: how many had a task over 50 ms, and over the animation frames longer
    than 50 ms (Long Animation Frames API): the longest single run of the library's own script
    (from a URL ending with one of ``own``; a run is the tag's evaluation, a callback or an
    event handler), all of its script in those frames, the rest of the script (the probe) and
    the rendering (style, layout, paint)."""
    frames = [f for r in runs for f in r.get("frames", []) if f["duration"] > 50]

    def mine(f: dict[str, Any]) -> list[float]:
        return [s[1] for s in f["scripts"] if own and s[0].endswith(own)]

    return {
        "loads": len(runs),
        "loads_with_long_task": sum(1 for r in runs if any(t > 50 for t in r["longtasks"])),
        "long_frames": len(frames),
        "own_script_ms_max": max((d for f in frames for d in mine(f)), default=0),
        "own_runs_over_50_ms": sum(1 for f in frames for d in mine(f) if d > 50),
        "own_script_ms_total": sum(sum(mine(f)) for f in frames),
        "other_script_ms_max": max((sum(s[1] for s in f["scripts"]) - sum(mine(f))
                                    for f in frames), default=0),
        "render_ms_max": max((f["render"] for f in frames), default=0),
        "longest_frame_ms": max((f["duration"] for f in frames), default=0),
    }
