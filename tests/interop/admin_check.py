#!/usr/bin/env python3
"""The AdminServer and /metrics of corral, side by side with Apache ZooKeeper 3.8's.

Usage: admin_check.py CORRAL_BIN

Starts a standalone Apache ZooKeeper 3.8 (Debian's zookeeper package, with servlet-api.jar on
the class path so its Jetty AdminServer runs) and a standalone corral with the AdminServer and
the Prometheus endpoint on, each on free loopback ports in a temp dir. Gives both the same state
through kazoo (a node, an ephemeral, a data and a child watch, a session left open), then:

1. Lists the commands of both (`GET /commands`): the same names.
2. Runs every command on both and compares the JSON answers' shapes: the same keys at every
   level (maps keyed by session ids or paths compared by their values' shape), the same JSON
   types. Exceptions, each with its reason, are in SHAPE_EXCEPTIONS.
3. Compares the error answers: an unknown command, set_trace_mask without its argument,
   a path outside the command URL (404).
4. Parses corral's /metrics with prometheus_client's text parser (the Python client library's,
   the parser Prometheus' own tooling is tested against) and checks: every numeric key of
   ZooKeeper's `monitor` is a metric family of the right type (summaries for the
   avg_/min_/max_/cnt_/sum_/pNN_ keys), the values agree with corral's `monitor`, and corral's
   own families (group commit, log write time, per-shard gauges) hold what the writes made.

Exits 1 listing every difference.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from kazoo.client import KazooClient
from prometheus_client.parser import text_string_to_metric_families

ZK_CP = ":".join(
    [
        "/usr/share/java/zookeeper.jar",
        "/usr/share/java/servlet-api.jar",
        "/usr/share/java/slf4j-nop.jar",
    ]
)
WAIT_S = float(os.environ.get("ADMIN_CHECK_WAIT_S", "60"))

# Where corral's answer may differ in shape from ZooKeeper's, and why.
SHAPE_EXCEPTIONS = {
    # The JVM's system properties; corral lists the few that describe its process.
    "system_properties": "subset",
    # ZooKeeper 3.9 added quorum_size; corral reports it (3.8 does not).
    "monitor": "superset",
    # Session deadlines stay in corral's sequencer; the map is empty (docs/compat/admin.md).
    ("dump", "expiry_time_to_session_ids"): "empty",
}

PROMETHEUS_PROVIDER = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"

failures = []


def fail(msg):
    failures.append(msg)
    print(f"admin-check: DIFF {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    """(status, body text) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def wait_http(url, proc, what):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"admin-check: {what} exited ({proc.returncode}) before serving {url}")
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"admin-check: {what} did not serve {url} within {WAIT_S}s")


def zoo_cfg(path, data, client_port, admin_port, extra=""):
    with open(path, "w") as f:
        f.write(
            f"tickTime=2000\ndataDir={data}\nclientPort={client_port}\n"
            f"clientPortAddress=127.0.0.1\nadmin.serverAddress=127.0.0.1\n"
            f"admin.serverPort={admin_port}\n4lw.commands.whitelist=*\n{extra}"
        )


def shape(v, path=()):
    """A comparable description of a JSON value: keys and types, not values."""
    if isinstance(v, dict):
        keyed_by_data = v and all(k.lstrip("-").isdigit() or k.startswith("/") for k in v)
        if keyed_by_data:
            return {"<id or path>": shape(next(iter(v.values())), path + ("*",))}
        return {k: shape(x, path + (k,)) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0], path + ("[]",))] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if v is None:
        return "null"
    return "str"


def per_namespace(key):
    """ZooKeeper's summary sets per top-level path (`<ns>_read_per_namespace`): corral does
    not keep them (docs/compat/admin.md)."""
    return key.endswith("_read_per_namespace") or key.endswith("_write_per_namespace")


def compare(cmd, zk, corral, at=()):
    where = cmd + "".join(f".{k}" for k in at)
    rule = SHAPE_EXCEPTIONS.get((cmd, *at) if at else cmd)
    if rule == "empty":
        if corral not in ({}, []):
            fail(f"{where}: expected corral's documented empty value, got {corral!r}")
        return
    if isinstance(zk, dict) and isinstance(corral, dict):
        zk_keys, c_keys = set(zk), set(corral)
        if not at and rule == "subset":
            if not c_keys <= zk_keys:
                fail(f"{where}: keys ZooKeeper does not have: {sorted(c_keys - zk_keys)}")
            return
        missing = zk_keys - c_keys
        if cmd == "monitor" and not at:
            missing = {k for k in missing if not per_namespace(k)}
        extra = c_keys - zk_keys
        if missing:
            fail(f"{where}: keys missing in corral: {sorted(missing)}")
        if extra and not (not at and rule == "superset"):
            fail(f"{where}: keys ZooKeeper does not have: {sorted(extra)}")
        for k in sorted(zk_keys & c_keys):
            compare(cmd, zk[k], corral[k], at + (k,))
        return
    if isinstance(zk, list) and isinstance(corral, list):
        if zk and corral:
            compare(cmd, zk[0], corral[0], at + ("[]",))
        elif zk and not corral:
            fail(f"{where}: ZooKeeper lists {len(zk)} entries, corral none")
        return
    if zk != corral:
        fail(f"{where}: type {corral} where ZooKeeper has {zk}")


def give_state(hosts):
    """A node, an ephemeral, a data and a child watch; the client stays connected."""
    zk = KazooClient(hosts=hosts, timeout=10.0)
    zk.start(timeout=30)
    zk.create("/admin-check", b"x")
    zk.create("/admin-check/eph", b"y", ephemeral=True)
    for i in range(20):
        zk.set("/admin-check", str(i).encode())
    zk.get("/admin-check", watch=lambda e: None)
    zk.get_children("/admin-check", watch=lambda e: None)
    return zk


def metric_checks(metrics_text, monitor, zk_monitor):
    families = {f.name: f for f in text_string_to_metric_families(metrics_text)}
    # prometheus_client drops a counter's _total suffix and keeps names as they are otherwise.
    summaries = set()
    for key in zk_monitor:
        for prefix in ("avg_", "min_", "max_", "cnt_", "sum_", "p50_", "p95_", "p99_", "p999_"):
            name = key[len(prefix):]
            if key.startswith(prefix) and f"cnt_{name}" in zk_monitor and not per_namespace(name):
                summaries.add(name)
    for name in sorted(summaries):
        f = families.get(name)
        if f is None or f.type != "summary":
            fail(f"/metrics: ZooKeeper's summary {name} missing or not a summary ({f and f.type})")
            continue
        quantiles = {s.labels.get("quantile") for s in f.samples if s.name == name}
        if not {"0.5", "0.9", "0.99"} <= quantiles:
            fail(f"/metrics: {name} lacks quantiles 0.5/0.9/0.99: {sorted(quantiles)}")
    flat = {
        k
        for k in zk_monitor
        if not any(k == f"{p}{s}" for s in summaries for p in ("avg_", "min_", "max_", "cnt_", "sum_", "p50_", "p95_", "p99_", "p999_"))
    }
    for key in sorted(flat):
        if per_namespace(key):
            continue
        value = zk_monitor[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue  # version, server_state: text, not exported
        if key not in families:
            fail(f"/metrics: ZooKeeper's monitor key {key} is not a metric family")
    # Values agree with corral's own monitor (ones that do not move between the two reads).
    for key in ("znode_count", "ephemerals_count", "watch_count", "num_alive_connections"):
        f = families.get(key)
        got = f.samples[0].value if f else None
        if got != monitor.get(key):
            fail(f"/metrics: {key} = {got}, monitor says {monitor.get(key)}")
    # The writes went through the group commit and the log device.
    for name in ("corral_group_commit_txns", "corral_log_write_seconds"):
        f = families.get(name)
        if f is None or f.type != "histogram":
            fail(f"/metrics: {name} missing or not a histogram")
            continue
        count = next((s.value for s in f.samples if s.name == f"{name}_count"), 0)
        inf = next(
            (s.value for s in f.samples if s.name == f"{name}_bucket" and s.labels["le"] == "+Inf"),
            None,
        )
        if count < 1 or inf != count:
            fail(f"/metrics: {name} count {count}, +Inf bucket {inf}")
    txns = families.get("corral_group_commit_txns")
    if txns:
        total = next((s.value for s in txns.samples if s.name == "corral_group_commit_txns_sum"), 0)
        if total < 22:  # create, create ephemeral, 20 sets (and the session)
            fail(f"/metrics: corral_group_commit_txns_sum {total} < the 22 writes made")
    shard = families.get("corral_shard_connections")
    conns = sum(s.value for s in shard.samples) if shard else None
    if conns != monitor.get("num_alive_connections"):
        fail(f"/metrics: corral_shard_connections sum {conns}, monitor {monitor.get('num_alive_connections')}")
    readlat = families.get("readlatency")
    count = next((s.value for s in readlat.samples if s.name == "readlatency_count"), 0) if readlat else 0
    if count < 2:
        fail(f"/metrics: readlatency_count {count} after the reads made")
    update = families.get("updatelatency")
    count = next((s.value for s in update.samples if s.name == "updatelatency_count"), 0) if update else 0
    if count < 22:
        fail(f"/metrics: updatelatency_count {count} after 22 writes")


def ensemble(corral_bin, work, procs):
    """Two Apache ZooKeeper members and a corral member in one ensemble: the commands that
    answer differently in an ensemble (leader, voting_view, zabstate, observers, monitor,
    server_stats, configuration) have the same shapes on a corral member as on an Apache
    member of the same role."""
    ids = (1, 2, 3)  # 3 is corral: the highest id, so it leads the first election
    ports = {i: {n: free_port() for n in ("client", "quorum", "election", "admin")} for i in ids}
    servers = "".join(
        f"server.{i}=127.0.0.1:{ports[i]['quorum']}:{ports[i]['election']};127.0.0.1:{ports[i]['client']}\n"
        for i in ids
    )
    urls = {}
    for i in ids:
        d = f"{work}/ens{i}"
        os.makedirs(f"{d}/data")
        with open(f"{d}/data/myid", "w") as f:
            f.write(f"{i}\n")
        zoo_cfg(f"{d}/zoo.cfg", f"{d}/data", ports[i]["client"], ports[i]["admin"],
                f"initLimit=10\nsyncLimit=5\n{servers}")
        log = open(f"{d}/member.log", "w")
        if i == 3:
            cmd = [corral_bin, "serve", f"{d}/zoo.cfg"]
        else:
            cmd = ["java", "-Xmx256m", "-cp", ZK_CP,
                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", f"{d}/zoo.cfg"]
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL))
        urls[i] = f"http://127.0.0.1:{ports[i]['admin']}/commands"
    roles = {}
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and len(roles) < len(ids):
        for i in ids:
            try:
                state = json.loads(get(f"{urls[i]}/monitor")[1]).get("server_state")
            except (OSError, ValueError):
                state = None
            if state in ("leader", "follower"):
                roles[i] = state
        time.sleep(0.3)
    if len(roles) < len(ids):
        raise SystemExit(f"admin-check: the mixed ensemble did not settle within {WAIT_S}s: {roles}")
    print(f"admin-check: mixed ensemble roles {roles}", flush=True)
    # Compare corral's member with an Apache member of the same role when there is one, else
    # with any Apache member for the commands whose shape does not depend on the role.
    corral_role = roles[3]
    same = next((i for i in (1, 2) if roles[i] == corral_role), None)
    for cmd in ("leader", "voting_view", "zabstate", "observers", "configuration"):
        other = same or 1
        zk_json = json.loads(get(f"{urls[other]}/{cmd}")[1])
        c_json = json.loads(get(f"{urls[3]}/{cmd}")[1])
        before = len(failures)
        compare(f"ensemble {cmd}", shape(zk_json), shape(c_json))
        if len(failures) > before:
            print(f"admin-check: ZooKeeper's {cmd}: {json.dumps(zk_json)}\n"
                  f"admin-check: corral's {cmd}: {json.dumps(c_json)}", flush=True)
        if cmd == "voting_view" and set(zk_json["current_config"]) != set(c_json["current_config"]):
            fail(f"ensemble voting_view: members {sorted(c_json['current_config'])}, "
                 f"ZooKeeper {sorted(zk_json['current_config'])}")
        if cmd == "leader":
            for key in ("leader_id", "leader_ip"):
                if zk_json.get(key) != c_json.get(key):
                    fail(f"ensemble leader.{key}: corral {c_json.get(key)!r}, "
                         f"ZooKeeper {zk_json.get(key)!r}")
            if c_json.get("is_leader") != (corral_role == "leader"):
                fail(f"ensemble leader.is_leader {c_json.get('is_leader')} on a {corral_role}")
        if cmd == "zabstate" and c_json.get("zabstate") != zk_json.get("zabstate"):
            fail(f"ensemble zabstate: corral {c_json.get('zabstate')!r}, ZooKeeper {zk_json.get('zabstate')!r}")
    if same is not None:
        for cmd in ("monitor", "server_stats"):
            zk_json = json.loads(get(f"{urls[same]}/{cmd}")[1])
            c_json = json.loads(get(f"{urls[3]}/{cmd}")[1])
            compare(f"ensemble {cmd}" if cmd != "monitor" else "monitor", shape(zk_json), shape(c_json))


def main():
    corral_bin = sys.argv[1]
    work = tempfile.mkdtemp(prefix="corral-admin-check.")
    procs = []
    clients = []
    try:
        ports = {n: free_port() for n in ("zk", "zk_admin", "c", "c_admin", "c_metrics")}
        os.makedirs(f"{work}/zk/data")
        os.makedirs(f"{work}/corral/data")
        zoo_cfg(f"{work}/zk/zoo.cfg", f"{work}/zk/data", ports["zk"], ports["zk_admin"])
        zoo_cfg(
            f"{work}/corral/zoo.cfg",
            f"{work}/corral/data",
            ports["c"],
            ports["c_admin"],
            f"metricsProvider.className={PROMETHEUS_PROVIDER}\n"
            f"metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={ports['c_metrics']}\n",
        )
        zk_log = open(f"{work}/zk/zk.log", "w")
        procs.append(
            subprocess.Popen(
                ["java", "-Xmx256m", "-cp", ZK_CP,
                 "org.apache.zookeeper.server.ZooKeeperServerMain", f"{work}/zk/zoo.cfg"],
                stdout=zk_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        )
        c_log = open(f"{work}/corral/corral.log", "w")
        procs.append(
            subprocess.Popen(
                [corral_bin, "serve", f"{work}/corral/zoo.cfg"],
                stdout=c_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        )
        zk_url = f"http://127.0.0.1:{ports['zk_admin']}/commands"
        c_url = f"http://127.0.0.1:{ports['c_admin']}/commands"
        wait_http(f"{zk_url}/ruok", procs[0], "Apache ZooKeeper")
        wait_http(f"{c_url}/ruok", procs[1], "corral")
        clients.append(give_state(f"127.0.0.1:{ports['zk']}"))
        clients.append(give_state(f"127.0.0.1:{ports['c']}"))

        # 1. The command lists.
        names = {}
        for who, url in (("zk", zk_url), ("corral", c_url)):
            status, html = get(url)
            names[who] = sorted(
                part.split('"')[0].rsplit("/", 1)[-1] for part in html.split('href="')[1:]
            )
            if status != 200:
                fail(f"{who}: GET /commands answered {status}")
        if names["zk"] != names["corral"]:
            fail(
                f"command lists differ: only ZooKeeper {sorted(set(names['zk']) - set(names['corral']))}, "
                f"only corral {sorted(set(names['corral']) - set(names['zk']))}"
            )
        print(f"admin-check: {len(names['zk'])} commands listed by both", flush=True)

        # 2. Every command's answer.
        answers = {}
        for cmd in names["zk"]:
            if cmd in ("connection_stat_reset", "stat_reset", "observer_connection_stat_reset"):
                continue  # run last: they reset what the others report
            zk_status, zk_body = get(f"{zk_url}/{cmd}")
            c_status, c_body = get(f"{c_url}/{cmd}")
            if zk_status != c_status:
                fail(f"{cmd}: HTTP {c_status}, ZooKeeper {zk_status}")
                continue
            zk_json, c_json = json.loads(zk_body), json.loads(c_body)
            answers[cmd] = (zk_json, c_json)
            if c_json.get("command") != cmd or (zk_json.get("error") is None) != (c_json.get("error") is None):
                fail(f"{cmd}: command/error {c_json.get('command')!r}/{c_json.get('error')!r}, "
                     f"ZooKeeper {zk_json.get('command')!r}/{zk_json.get('error')!r}")
            compare(cmd, shape(zk_json), shape(c_json))
        for cmd in ("connection_stat_reset", "stat_reset", "observer_connection_stat_reset"):
            for who, url in (("ZooKeeper", zk_url), ("corral", c_url)):
                status, body = get(f"{url}/{cmd}")
                if status != 200 or json.loads(body) != {"command": cmd, "error": None}:
                    fail(f"{cmd} on {who}: {status} {body!r}")
        # Aliases answer as their command.
        for alias, cmd in (("mntr", "monitor"), ("srvr", "server_stats"), ("wchp", "watches_by_path")):
            status, body = get(f"{c_url}/{alias}")
            got = json.loads(body) if status == 200 else {}
            if got.get("command") != alias or set(got) != set(answers[cmd][1]):
                fail(f"alias {alias}: {status} keys {sorted(got)}")

        # 3. Errors, answered alike.
        for path in ("/no_such_command", "/set_trace_mask", "/set_trace_mask?traceMask=x"):
            zk_status, zk_body = get(zk_url + path)
            c_status, c_body = get(c_url + path)
            if (zk_status, json.loads(zk_body)) != (c_status, json.loads(c_body)):
                fail(f"{path}: corral {c_status} {c_body!r}, ZooKeeper {zk_status} {zk_body!r}")
        for base, who in ((zk_url, "ZooKeeper"), (c_url, "corral")):
            status, _ = get(base.rsplit("/commands", 1)[0] + "/elsewhere")
            if status != 404:
                fail(f"{who}: /elsewhere answered {status}, not 404")

        # Bad input on the HTTP port: an answer and a close, and the server goes on.
        for raw, want in ((b"garbage\r\n\r\n", b"HTTP/1.1 400"),
                          (b"GET /commands HTTP/1.1\r\n" + b"X: y\r\n" * 2000, b"HTTP/1.1 431"),
                          (b"POST /commands/ruok HTTP/1.1\r\n\r\n", b"HTTP/1.1 405")):
            with socket.create_connection(("127.0.0.1", ports["c_admin"]), timeout=10) as s:
                s.sendall(raw)
                got = s.recv(64)
            if not got.startswith(want):
                fail(f"bad request {raw[:20]!r}...: answered {got!r}, wanted {want!r}")
        if get(f"{c_url}/ruok")[0] != 200:
            fail("the AdminServer stopped answering after bad requests")

        # 4. /metrics.
        status, text = get(f"http://127.0.0.1:{ports['c_metrics']}/metrics")
        if status != 200:
            fail(f"/metrics answered {status}")
        else:
            monitor = json.loads(get(f"{c_url}/monitor")[1])
            metric_checks(text, monitor, answers["monitor"][0])
        print(f"admin-check: {len(text.splitlines())} lines of /metrics parsed", flush=True)
        ensemble(corral_bin, work, procs)
    finally:
        for c in clients:
            try:
                c.stop()
                c.close()
            except Exception:
                pass
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if failures:
            for name in ("zk/zk.log", "corral/corral.log", "ens1/member.log", "ens3/member.log"):
                print(f"---- {name} (last 15 lines)")
                try:
                    with open(f"{work}/{name}") as f:
                        print("".join(f.readlines()[-15:]))
                except OSError:
                    pass
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"admin-check: FAILED, {len(failures)} difference(s)")
        sys.exit(1)
    print("admin-check: OK: the AdminServer answers as ZooKeeper 3.8's; /metrics parses with "
          "ZooKeeper's names")


if __name__ == "__main__":
    main()
