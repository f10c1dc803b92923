"""The pipeline benchmark's outputs: JSON, a PNG chart, a printed summary, a BENCHMARKS.md row.

The chart has two panels: end-to-end latency (p50, p99, max) against the offered load, and the
backlog (produced - out) over time at each load level.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

ROW_HEADING = "## Pipeline end to end (`newsflow bench pipeline`)"
ROW_HEADER = (
    "| date | cores (load avg) | workers x tag processes | articles | inputs/s | enriched/s "
    "| bare 1 proc | bare pool | ratio to bare pool (CPU ratio) | p99 at each load (s) "
    "| lag growing at top load | mode |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def write(result: dict[str, Any], out: Path, record: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(result, indent=2))
    chart(result, out / "pipeline.png")
    if record is not None:
        append_row(result, record)
    print_summary(result, out)


def _p99s(result: dict[str, Any]) -> str:
    return " / ".join(
        f"{phase['latency_s']['p99']:.2f}" if phase["latency_s"]["p99"] is not None else "-"
        for phase in result.get("loads", [])
    )


def _growing_at_top(result: dict[str, Any]) -> str:
    loads = result.get("loads", [])
    if not loads:
        return "-"
    top = loads[-1]["backlog"]
    return "-" if top["growing"] is None else ("yes" if top["growing"] else "no") + (
        f" ({top['slope_per_s']:+.2f}/s)")


def _again(result: dict[str, Any]) -> str:
    """The ratio against the bare pool's second run, when there is one, and the median of the
    alternating rounds, when there were several."""
    again = result.get("ratio_to_bare_pool_again")
    text = "" if again is None else f"; {again} against the bare pool re-run at the end"
    rounds = result.get("rounds")
    if rounds:
        ratios = sorted(r["ratio"] for r in rounds)
        text += (f"; **median of {len(rounds)} alternating rounds {result['ratio_median']}** "
                 f"({ratios[0]}-{ratios[-1]}; CPU ratio {result['cpu_ratio_median']})")
    return text


def row(result: dict[str, Any]) -> str:
    plan, cap, bare = result["plan"], result["capacity"], result["bare_model"]
    machine = result["machine"]
    return (
        f"| {time.strftime('%Y-%m-%d')} | {machine['cores']} "
        f"({machine['load_avg_start'][0]:.1f}-{machine['load_avg_end'][0]:.1f}) "
        f"| {plan['workers']} x {plan['tag_workers']} | {plan['articles']} "
        f"| {cap['inputs_per_s']} | {cap['enriched_per_s']} "
        f"| {bare['single']['articles_per_s']} | {bare['pool']['articles_per_s']} "
        f"| {result.get('ratio_to_bare_pool', '-')} ({result.get('cpu_ratio_to_bare_pool', '-')})"
        f"{_again(result)} "
        f"| {_p99s(result)} "
        f"| {_growing_at_top(result)} | {'quick' if plan['quick'] else 'full'}"
        f"{', broker started cold' if result.get('broker_started_by_benchmark') else ''} |\n"
    )


def append_row(result: dict[str, Any], path: Path) -> None:
    """Append the run's row under the pipeline heading (made, with its header, if absent)."""
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    if ROW_HEADING not in text:
        text = text.rstrip("\n") + f"\n\n{ROW_HEADING}\n\n{ROW_HEADER}"
        text += row(result)
    else:
        head, _, tail = text.partition(ROW_HEADING)
        # The table runs until the first blank line after the header.
        lines = tail.split("\n")
        end = 3
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        lines.insert(end, row(result).rstrip("\n"))
        text = head + ROW_HEADING + "\n".join(lines)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def chart_title(result: dict[str, Any]) -> str:
    """The chart's title: the first round's capacity and ratios, and with several rounds their
    median, the figure the row in BENCHMARKS.md gives."""
    cap = result["capacity"]
    machine = result["machine"]
    rounds = result.get("rounds", [])
    median = (f"; median of {len(rounds)} rounds {result['ratio_median']} "
              f"(CPU ratio {result['cpu_ratio_median']})"
              if len(rounds) > 1 and "ratio_median" in result else "")
    return (f"capacity {cap['inputs_per_s']} inputs/s ({cap['enriched_per_s']} enriched/s), "
            f"{result.get('ratio_to_bare_pool', '-')} x bare nlp.pipe with the pool's processes"
            f"{' in round 1' if median else ''}\n"
            f"(CPU ratio {result.get('cpu_ratio_to_bare_pool', '-')}{median}; "
            f"{machine['cores']} cores, load average {machine['load_avg_start'][0]:.1f} -> "
            f"{machine['load_avg_end'][0]:.1f})")


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loads = result.get("loads", [])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8))
    shares = [100 * p["share_of_capacity"] for p in loads]
    for key, style in (("p50", "o-"), ("p99", "s-"), ("max", "^--")):
        top.plot(shares, [p["latency_s"][key] for p in loads], style, label=key)
    top.axhline(1.0, color="grey", linewidth=0.8, linestyle=":", label="1 s (p99 target at 50 %)")
    top.set_xlabel("offered load (% of measured capacity)")
    top.set_ylabel("end-to-end latency (s)")
    top.set_title(chart_title(result), fontsize="medium")
    if loads:
        top.legend()
    for phase in loads:
        samples = phase["samples"]
        label = f"{100 * phase['share_of_capacity']:.0f} % ({phase['rate_per_s']}/s)"
        line, = bottom.plot([s["t_s"] for s in samples], [s["backlog"] for s in samples],
                            label=f"{label}: backlog")
        pending = [s.get("pending_input", float("nan")) for s in samples]
        bottom.plot([s["t_s"] for s in samples], pending, "--",
                    color=line.get_color(), label=f"{label}: uncommitted input (all hops)")
        bottom.plot([s["t_s"] for s in samples], [s["consumer_lag"] for s in samples], ":",
                    color=line.get_color(), label=f"{label}: consumer lag (fetch position)")
    bottom.set_xlabel("seconds into the load phase")
    bottom.set_ylabel("messages")
    if loads:
        bottom.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_summary(result: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cap, bare = result["capacity"], result["bare_model"]
    console.print(
        f"capacity: {cap['produced']} inputs, {cap['enriched']} enriched, "
        f"{cap['duplicates']} duplicates, {cap['deadletter']} dead letters, "
        f"{cap['missing']} missing; {cap['inputs_per_s']} inputs/s, "
        f"{cap['enriched_per_s']} enriched/s over {cap['seconds_first_to_last_output']} s")
    console.print(
        f"bare nlp.pipe ({bare['model']} {bare['components']}, {bare['articles']} articles): "
        f"{bare['single']['articles_per_s']}/s 1 process, {bare['pool']['articles_per_s']}/s "
        f"{bare['pool']['processes']} processes; ratio to the pool's limit "
        f"{result.get('ratio_to_bare_pool')} (target >= 0.9); by CPU per article "
        f"{result.get('cpu_ratio_to_bare_pool')}")
    if "pool_again" in bare:
        console.print(
            f"bare pool re-run at the end: {bare['pool_again']['articles_per_s']}/s "
            f"({bare['pool_again']['cpu_ms_per_article']} CPU ms per article, against "
            f"{bare['pool']['cpu_ms_per_article']} the first time); ratio to it "
            f"{result.get('ratio_to_bare_pool_again')}")
    for i, figures in enumerate(result.get("rounds", []), start=1):
        console.print(
            f"round {i}: {figures['enriched_per_s']} enriched/s, bare pool "
            f"{figures['bare_pool_per_s']}/s, ratio {figures['ratio']} (CPU ratio "
            f"{figures['cpu_ratio']}); CPU ms per input {figures['cpu_ms_per_input']}")
    if "ratio_median" in result:
        console.print(f"median of the rounds: ratio {result['ratio_median']} (target >= 0.9), "
                      f"CPU ratio {result['cpu_ratio_median']}")
    console.print(f"CPU ms per input: {cap['cpu']['ms_per_input']}")
    if "warmup" in result:
        warm = result["warmup"]
        console.print(f"warm-up before it (not measured): {warm['articles']} articles, "
                      f"CPU ms per input {warm['cpu_ms_per_input']}")
    console.print(f"stage handler ms per article: {cap['stages']}")
    table = Table(title="hand-offs (record to record)")
    for column in ("hop", "p50 ms", "mean ms", "stage ms", "wait ms"):
        table.add_column(column, justify="right")
    for hop, values in cap["hops"].items():
        table.add_row(hop, *(str(values[k]) for k in ("p50_ms", "mean_ms", "stage_ms",
                                                      "wait_ms")))
    console.print(table)
    if result.get("loads"):
        console.print(f"load levels are shares of {result['load_rate_base_inputs_per_s']} "
                      "inputs/s" + (" (the median round's capacity)" if "rounds" in result
                                    else " (the capacity above)"))
    table = Table(title="latency under load (fetched -> enriched)")
    for column in ("load", "rate/s", "inputs", "p50 s", "p99 s", "max s", "backlog max",
                   "slope/s", "growing"):
        table.add_column(column, justify="right")
    for phase in result.get("loads", []):
        lat, backlog = phase["latency_s"], phase["backlog"]
        table.add_row(f"{100 * phase['share_of_capacity']:.0f} %", str(phase["rate_per_s"]),
                      str(phase["produced"]), str(lat["p50"]), str(lat["p99"]), str(lat["max"]),
                      str(backlog["max"]), str(backlog["slope_per_s"]), str(backlog["growing"]))
    console.print(table)
    for phase in result.get("loads", []):
        if "cpu" in phase:  # runs before 2026-12-07 did not measure it per level
            console.print(f"CPU ms per input at {100 * phase['share_of_capacity']:.0f} %: "
                          f"{phase['cpu']['ms_per_input']} (drained at capacity: "
                          f"{cap['cpu']['ms_per_input']})")
    if len(cap["per_worker"]) > 1:
        console.print(f"articles per worker and stage: {cap['per_worker']}")
    if result.get("broker_started_by_benchmark"):
        console.print("[yellow]The local broker was started by this benchmark. A broker just "
                      "started costs several times its warm CPU per article over its first few "
                      "thousand articles (BENCHMARKS.md), so these figures do not compare with "
                      "runs on a warm broker: start it first (`newsflow kafka up`).[/]")
    console.print(f"written: {out / 'pipeline.json'}, {out / 'pipeline.png'}")
