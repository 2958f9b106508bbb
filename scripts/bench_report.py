#!/usr/bin/env python3
"""bench_report.py - turn `corral bench` JSON lines into a Markdown report and an SVG chart.

Labels are `<cell>/<server>/r<round>` with server one of zk, corral, echo (the loopback
ceiling). Every figure is the median over rounds. Python 3 standard library only.
"""

import argparse
import json
import math
import statistics
from collections import OrderedDict, defaultdict

CELL_TEXT = {
    "s1x1": "1 session x 1 in flight, 10:1",
    "s8x16": "8 sessions x 16 in flight, 10:1",
    "s64x4": "64 sessions x 4 in flight, 10:1",
    "reads": "8 x 16, reads only",
    "writes": "8 x 16, writes only",
    "mixed": "8 x 16, 10:1, every op kind",
    "rate50": "8 x 16, fixed rate = 50% of ZK saturation",
}
SERVERS = ("zk", "corral", "echo")
COLORS = {"zk": "#d95f02", "corral": "#1b9e77", "echo": "#7570b3"}
NAMES = {"zk": "ZooKeeper 3.8", "corral": "corral", "echo": "loopback ceiling (echo)"}


def load(path):
    runs = defaultdict(list)  # (cell, server) -> [run]
    cells = OrderedDict()
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        parts = r.get("label", "").split("/")
        if len(parts) < 2:
            continue
        cell, server = parts[0], parts[1]
        cells.setdefault(cell, None)
        runs[(cell, server)].append(r)
    return list(cells), runs


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    vals = [v for v in vals if not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(vals) if vals else None


def fmt(v, prec=0, unit=""):
    if v is None:
        return "—"
    if prec == 0:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{prec}f}{unit}"


def ratio(a, b, prec=2):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.{prec}f}x"


def markdown(args, cells, runs, disk):
    out = []
    w = out.append
    w(f"# corral vs Apache ZooKeeper — {args.date}")
    w("")
    w(f"Command: `{args.command}`  ")
    w(f"Machine: {args.machine}  ")
    w(f"Servers: {args.corral_version}; {args.zk_version}  ")
    w(f"Settings: {args.settings}; figures are medians over rounds, the servers alternating.")
    w("")
    w("**Read this first.** Both servers are durable: corral acknowledges a write only after its")
    w("group commit is on disk (O_DIRECT + RWF_DSYNC into its dataLogDir), ZooKeeper runs with")
    w("`forceSync=yes`. The box is a shared 2-core VM: the bench client and the server share both")
    w("cores, so read ratios and CPU per op (from `/proc/<pid>/stat`, utime+stime over the measured")
    w("interval) rather than absolute figures.")
    w("")
    w("## Throughput")
    w("")
    w("| cell | ZooKeeper ops/s | corral ops/s | corral/ZK | loopback ceiling ops/s | corral / ceiling | synced-write ceiling |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for c in cells:
        zk = med(runs[(c, "zk")], "ops_per_s")
        co = med(runs[(c, "corral")], "ops_per_s")
        ec = med(runs[(c, "echo")], "ops_per_s")
        frac = f"{100 * co / ec:.0f}%" if co and ec else "—"
        d = disk if c in ("writes",) and disk else "—"
        w(f"| {c}: {CELL_TEXT.get(c, c)} | {fmt(zk)} | {fmt(co)} | {ratio(co, zk)} | {fmt(ec)} | {frac} | {d} |")
    w("")
    w("The loopback ceiling is the same client pattern against a minimal in-process echo server")
    w("(`corral bench --echo`: canned replies of the same size, no tree). The synced-write ceiling")
    w("is the disk's rate of sequential 4 KiB O_DIRECT writes each synced (RWF_DSYNC) on the")
    w("servers' filesystem, measured by `examples/disk_probe` at the start of the run: a write-only")
    w("server that synced every write alone could not go faster; group commit (corral) and batched")
    w("fsync (ZooKeeper) put many writes in one sync. `—` = not measured in this run.")
    w("")
    w("## Latency (µs)")
    w("")
    w("| cell | server | p50 | p90 | p99 | p99.9 | max | errors |")
    w("|---|---|---:|---:|---:|---:|---:|---:|")
    for c in cells:
        for s in ("zk", "corral"):
            rs = runs[(c, s)]
            if not rs:
                continue
            errors = sum(r.get("errors", 0) for r in rs)
            w(
                f"| {c} | {NAMES[s]} | {fmt(med(rs, 'lat_us_p50'), 1)} | {fmt(med(rs, 'lat_us_p90'), 1)} "
                f"| {fmt(med(rs, 'lat_us_p99'), 1)} | {fmt(med(rs, 'lat_us_p999'), 1)} "
                f"| {fmt(med(rs, 'lat_us_max'), 1)} | {errors} |"
            )
    w("")
    if any(runs[(c, s)] for c in cells for s in ("zk", "corral") if c == "rate50"):
        rate = med(runs[("rate50", "zk")], "rate_target")
        w(f"rate50 sends at a fixed {fmt(rate)} ops/s and measures from each op's intended send")
        w("time (no coordinated omission).")
        w("")
    w("## CPU per op and memory")
    w("")
    w("| cell | ZK server µs/op | corral server µs/op | corral/ZK | ZK cores | corral cores | client µs/op (ZK run / corral run) | ZK RSS MiB | corral RSS MiB |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in cells:
        zk, co = runs[(c, "zk")], runs[(c, "corral")]
        if not zk and not co:
            continue
        zc, cc = med(zk, "server_cpu_us_per_op"), med(co, "server_cpu_us_per_op")
        zr, cr = med(zk, "server_rss_kib"), med(co, "server_rss_kib")
        w(
            f"| {c} | {fmt(zc, 2)} | {fmt(cc, 2)} | {ratio(cc, zc)} | {fmt(med(zk, 'server_cpu_cores'), 2)} "
            f"| {fmt(med(co, 'server_cpu_cores'), 2)} | {fmt(med(zk, 'client_cpu_us_per_op'), 2)} / "
            f"{fmt(med(co, 'client_cpu_us_per_op'), 2)} | {fmt(zr / 1024 if zr else None, 0)} "
            f"| {fmt(cr / 1024 if cr else None, 0)} |"
        )
    w("")
    w("Client CPU per op is the bench process's own (it must stay well below the server's).")
    w("RSS is read at the end of each run; the JVM's includes its preallocated heap (-Xms = -Xmx).")
    w("")
    w(f"![throughput and latency]({args.svg_name})")
    w("")
    w("Raw JSON lines (one per run): `" + args.jsonl_name + "`.")
    w("")
    return "\n".join(out)


def svg(cells, runs):
    """Left: throughput bars per cell. Right: p50/p99/p99.9 latency per cell, log scale."""
    W, H = 1200, 460
    pad_l, pad_t, pad_b = 70, 50, 110
    panel_w = (W - 3 * pad_l) / 2
    plot_h = H - pad_t - pad_b
    e = []
    e.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'font-family="sans-serif" font-size="11">')
    e.append(f'<rect width="{W}" height="{H}" fill="white"/>')

    def text(x, y, s, anchor="middle", size=11, rot=None, weight="normal"):
        t = f' transform="rotate({rot} {x:.1f} {y:.1f})"' if rot is not None else ""
        e.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
                 f'font-weight="{weight}"{t}>{s}</text>')

    # Panel 1: throughput.
    x0 = pad_l
    tp = {(c, s): med(runs[(c, s)], "ops_per_s") for c in cells for s in SERVERS}
    top = max([v for v in tp.values() if v] + [1.0])
    # Log scale: the echo ceiling is far above both servers.
    lo = 10 ** math.floor(math.log10(max(1.0, min([v for v in tp.values() if v] + [top]))))
    hi = 10 ** math.ceil(math.log10(top))

    def ylog(v, lo, hi):
        return pad_t + plot_h * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))

    text(x0 + panel_w / 2, 20, "Throughput (ops/s, log scale; median of rounds)", size=13, weight="bold")
    d = lo
    while d <= hi * 1.0001:
        y = ylog(d, lo, hi)
        e.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + panel_w}" y2="{y:.1f}" stroke="#ddd"/>')
        text(x0 - 5, y + 4, f"{d:,.0f}", anchor="end")
        d *= 10
    group_w = panel_w / max(1, len(cells))
    bar_w = group_w / (len(SERVERS) + 1)
    for i, c in enumerate(cells):
        for j, s in enumerate(SERVERS):
            v = tp[(c, s)]
            if not v:
                continue
            x = x0 + i * group_w + (j + 0.5) * bar_w
            y = ylog(max(v, lo), lo, hi)
            e.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.9:.1f}" '
                     f'height="{pad_t + plot_h - y:.1f}" fill="{COLORS[s]}"/>')
        text(x0 + (i + 0.5) * group_w, pad_t + plot_h + 14, c)
    e.append(f'<line x1="{x0}" y1="{pad_t + plot_h}" x2="{x0 + panel_w}" y2="{pad_t + plot_h}" stroke="black"/>')

    # Panel 2: latency percentiles, zk vs corral.
    x1 = 2 * pad_l + panel_w
    pct = [("lat_us_p50", "p50"), ("lat_us_p99", "p99"), ("lat_us_p999", "p99.9")]
    lat = {(c, s, k): med(runs[(c, s)], k) for c in cells for s in ("zk", "corral") for k, _ in pct}
    vals = [v for v in lat.values() if v]
    llo = 10 ** math.floor(math.log10(max(0.1, min(vals + [1.0]))))
    lhi = 10 ** math.ceil(math.log10(max(vals + [10.0])))
    text(x1 + panel_w / 2, 20, "Latency (µs, log scale): p50 / p99 / p99.9", size=13, weight="bold")
    d = llo
    while d <= lhi * 1.0001:
        y = ylog(d, llo, lhi)
        e.append(f'<line x1="{x1}" y1="{y:.1f}" x2="{x1 + panel_w}" y2="{y:.1f}" stroke="#ddd"/>')
        text(x1 - 5, y + 4, f"{d:,.0f}" if d >= 1 else f"{d:g}", anchor="end")
        d *= 10
    lbar = group_w / (2 * len(pct) + 1)
    for i, c in enumerate(cells):
        for j, s in enumerate(("zk", "corral")):
            for k, (key, _) in enumerate(pct):
                v = lat[(c, s, key)]
                if not v:
                    continue
                x = x1 + i * group_w + (j * len(pct) + k + 0.5) * lbar
                y = ylog(max(v, llo), llo, lhi)
                opacity = [1.0, 0.7, 0.45][k]
                e.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{lbar * 0.9:.1f}" '
                         f'height="{pad_t + plot_h - y:.1f}" fill="{COLORS[s]}" fill-opacity="{opacity}"/>')
        text(x1 + (i + 0.5) * group_w, pad_t + plot_h + 14, c)
    e.append(f'<line x1="{x1}" y1="{pad_t + plot_h}" x2="{x1 + panel_w}" y2="{pad_t + plot_h}" stroke="black"/>')
    text(x1 + panel_w / 2, pad_t + plot_h + 32, "per cell, each server: p50 (solid), p99, p99.9 (lighter)")

    # Legend.
    ly = H - 40
    lx = pad_l
    for s in SERVERS:
        e.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{COLORS[s]}"/>')
        text(lx + 16, ly, NAMES[s], anchor="start", size=12)
        lx += 230
    e.append("</svg>")
    return "\n".join(e) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--date", required=True)
    ap.add_argument("--machine", default="")
    ap.add_argument("--zk-version", default="")
    ap.add_argument("--corral-version", default="")
    ap.add_argument("--command", default="./scripts/bench-vs-zookeeper.sh")
    ap.add_argument("--settings", default="")
    ap.add_argument("--disk-probe", default=None, help="JSON line of the synced-write probe")
    args = ap.parse_args()
    import os

    args.svg_name = os.path.basename(args.svg)
    args.jsonl_name = os.path.basename(args.jsonl)
    cells, runs = load(args.jsonl)
    disk = None
    if args.disk_probe and os.path.exists(args.disk_probe):
        try:
            p = json.loads(open(args.disk_probe).readline())
            v = p.get("syncs_per_s") or p.get("ops_per_s")
            disk = f"{v:,.0f} syncs/s" if v else None
        except (OSError, ValueError):
            disk = None
    with open(args.md, "w") as f:
        f.write(markdown(args, cells, runs, disk))
    with open(args.svg, "w") as f:
        f.write(svg(cells, runs))


if __name__ == "__main__":
    main()
