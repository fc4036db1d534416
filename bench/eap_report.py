"""Tables of ``eap_bench.py`` (Markdown, to paste into bench/README.md)."""

from __future__ import annotations

from collections import defaultdict
from statistics import mean
from typing import Any

Result = dict[str, Any]


def per_handshake_us(r: Result, name: str) -> float:
    return float(r["watched_cpu_s"].get(name, 0.0)) / r["accepted"] * 1e6 if r["accepted"] else 0.0


def other_cores(r: Result) -> float:
    """Cores used during the window by neither the server(s), PostgreSQL nor the load generator."""
    used = sum(r["watched_cpu_s"].values()) + r["cpu_s"]
    return max(0.0, (r["machine_cpu_s"] - used) / r["window_s"]) if r["window_s"] else 0.0


def _runs(values: list[float], digits: int = 0) -> str:
    return " / ".join(f"{v:,.{digits}f}" for v in values) or "–"


def _grouped(results: list[Result]) -> dict[tuple[str, str], dict[str, list[Result]]]:
    groups: dict[tuple[str, str], dict[str, list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        groups[(r["case"], r["target"])][r["phase"]].append(r)
    return groups


def render_table(results: list[Result]) -> str:
    lines = [
        "",
        "| case | target | handshakes/s at peak (runs) | p50 / p99 ms at ½ peak (runs) | server µs/hs | "
        "+db µs/hs | loadgen cores | other cores | resumed | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (case, target), phases in _grouped(results).items():
        peaks, halves = phases.get("peak", []), phases.get("half", [])
        every = peaks + halves
        latency = " / ".join(f"{h['latency_ms']['p50']:.0f}–{h['latency_ms']['p99']:.0f}" for h in halves)
        resumed = sum(r["resumed"] for r in peaks)
        accepted = sum(r["accepted"] for r in peaks)
        db = _runs([per_handshake_us(r, "db") for r in peaks]) if "db" in peaks[0]["watched_cpu_s"] else "–"
        cells = [
            case,
            target,
            _runs([r["accepted_per_s"] for r in peaks]),
            latency or "–",
            _runs([per_handshake_us(r, "server") for r in peaks]),
            db,
            _runs([r["loadgen_cores"] for r in peaks], 2),
            _runs([other_cores(r) for r in every], 2),
            f"{100 * resumed / accepted if accepted else 0:.0f} %",
            str(sum(r["errors"] + r["timeouts"] + r["keys_bad"] for r in every)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_lines(results: list[Result]) -> list[str]:
    """Per case: Sésame / FreeRADIUS handshakes per second (mean of the peaks) and FreeRADIUS's CPU
    per handshake / Sésame's (above 1: Sésame needs less CPU per handshake)."""
    groups = _grouped(results)
    lines = [
        "",
        "| case | Sésame / FreeRADIUS handshakes/s | FreeRADIUS / Sésame CPU per handshake |",
        "|---|---:|---:|",
    ]
    for case in dict.fromkeys(case for case, _ in groups):
        ses = groups.get((case, "Sésame"), {}).get("peak", [])
        ref = groups.get((case, "FreeRADIUS"), {}).get("peak", [])
        if not ses or not ref:
            continue
        rate = mean(r["accepted_per_s"] for r in ses) / max(1e-9, mean(r["accepted_per_s"] for r in ref))
        cpu_ses = mean(per_handshake_us(r, "server") + per_handshake_us(r, "db") for r in ses)
        cpu_ref = mean(per_handshake_us(r, "server") for r in ref)
        lines.append(f"| {case} | **{rate:.2f}×** | {cpu_ref / cpu_ses if cpu_ses else 0:.2f}× |")
    return lines


def render_checks(rows: list[dict[str, Any]]) -> str:
    lines = [
        "",
        "| target | case | eapol_test: success + keys / wrong password refused / resumed | "
        "eapload: accepted, keys / wrong refused / resumed | negotiated |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        eapol = f"{_yes(row['eapol_ok'])} / {_yes(row['eapol_wrong_refused'])} / " + (
            _yes(row["eapol_resumed"]) if "load_resumed" in row else "–"
        )
        load = (
            f"{row['load_accepted']}, {'keys ok' if row['load_keys_ok'] else 'KEYS BAD'} / "
            f"{row['load_wrong_refused']} / {row.get('load_resumed', '–')}"
        )
        lines.append(f"| {row['target']} | {row['case']} | {eapol} | {load} | {row['negotiated']} |")
        lines += [f"|   | error: {e} | | | |" for e in row["errors"]]
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def render_pap(runs: list[dict[str, Any]]) -> str:
    lines = [
        "",
        "| target | cached PAP run | PAP/s | PAP p50 / p99 ms | PAP lost | EAP hs/s | EAP p50 / p99 ms "
        "| server cores |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    titles = {
        "alone_peak": "alone, peak",
        "alone_rate": "alone, fixed rate",
        "beside_half": "fixed rate, EAP at ½ its peak beside",
        "both_peak": "peak, EAP at its peak beside",
    }
    for run in runs:
        for name, title in titles.items():
            got = run.get(name)
            if not got:
                continue
            pap, eap = got["pap"], got.get("eap")
            lat = pap.get("latency_ms", {})
            eap_cells = "– | –"
            cores = "–"
            if eap:
                eap_lat = eap["latency_ms"]
                eap_cells = f"{eap['accepted_per_s']:,.0f} | {eap_lat['p50']:.0f} / {eap_lat['p99']:.0f}"
                cores = f"{sum(eap['watched_cpu_s'].values()) / eap['window_s']:.2f}"
            lines.append(
                f"| {run['target']} | {title} ({run['eap_case']}) | {pap['throughput_rps']:,.0f} | "
                f"{lat.get('p50', 0):.2f} / {lat.get('p99', 0):.2f} | {pap.get('lost', 0)} | "
                f"{eap_cells} | {cores} |"
            )
    return "\n".join(lines)


def render_generator_check(results: list[Result]) -> str:
    lines = [
        "",
        "| target | case | generator processes | handshakes/s | loadgen cores | server cores | other cores |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r["phase"].startswith("gen-"):
            server = sum(r["watched_cpu_s"].values()) / r["window_s"] if r["window_s"] else 0.0
            lines.append(
                f"| {r['target']} | {r['case']} | {r['phase'][4:]} | {r['accepted_per_s']:,.0f} | "
                f"{r['loadgen_cores']:.2f} | {server:.2f} | {other_cores(r):.2f} |"
            )
    return "\n".join(lines)
