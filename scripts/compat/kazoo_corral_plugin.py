"""pytest plugin: run kazoo's own test suite (the `kazoo.tests` package) against corral.

kazoo's harness (kazoo/testing/harness.py) builds its servers with
`kazoo.testing.common.ZookeeperCluster`, which writes a zoo.cfg and starts Apache
ZooKeeper through `java`. When CORRAL_BIN names a corral binary, this plugin puts
`CorralCluster` in that class's place, so every test of the suite talks to a corral
server started by the same harness calls (start, stop, run, reset, terminate) the
tests already make. Nothing of kazoo is edited or copied; scripts/compat/kazoo.sh and
scripts/test.sh (step kazoo-upstream) load it with `-p kazoo_corral_plugin`.

What the corral servers get (the harness's ZooKeeper gets the same, see
ManagedZooKeeper.run): tickTime=2000, maxClientCnxns=0,
authProvider.1=SASLAuthenticationProvider, the harness's JAAS configuration (written to
jaas.conf in the server's directory, empty when the harness has none, and named by
java.security.auth.login.config), a secure client port with the harness's own TLS
material (the JKS keystore and truststore that ZookeeperCluster makes with pyOpenSSL and
pyjks, written to the server's directory, password "apassword", ssl.clientAuth left at
ZooKeeper's default, need), the harness's configuration entries (4lw whitelist,
reconfigEnabled, localSessions*) and its `-Dzookeeper.*` system properties (superDigest)
as `--override key=value`. What they do not get: Kerberos (a JAAS Krb5LoginModule
section makes corral refuse to start), read-only mode, an ensemble; tests that need
those are deselected by the scripts, with the reason.

Environment:
  CORRAL_BIN            path of the corral binary (unset: the plugin does nothing)
  CORRAL_KAZOO_KEEP=1   keep each server's directory (data + corral.log) after the run:
                        one directory per harness start-to-terminate (usually per test class)
"""

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import types

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0
SASL_PROVIDER = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers_imok(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"ruok")
            return s.recv(16) == b"imok"
    except OSError:
        return False


def _overrides(configuration_entries, java_system_properties):
    """The harness's zoo.cfg lines and -D properties as corral `--override` values."""
    out = []
    for entry in configuration_entries:
        key, sep, value = entry.partition("=")
        if sep:
            out.append(f"{key.strip()}={value.strip()}")
    for prop in java_system_properties:
        if not prop.startswith("-D"):
            continue
        key, sep, value = prop[2:].partition("=")
        # JVM-only properties (krb5 config, debug switches) have no corral counterpart.
        if sep and key.startswith("zookeeper."):
            out.append(f"{key}={value}")
    return out


class ManagedCorral:
    """One corral server with the interface kazoo's tests use of ManagedZooKeeper."""

    def __init__(self, binary, server_id, overrides, jaas_config=None, ssl_configuration=None):
        self.binary = binary
        self.jaas_config = jaas_config
        self.server_id = server_id
        self.host = "127.0.0.1"
        self.client_port = _free_port()
        self.secure_client_port = _free_port()
        self.ssl_configuration = ssl_configuration or {}
        self.overrides = list(overrides)
        self.working_path = tempfile.mkdtemp(prefix="kazoo-corral-")
        self.process = None
        self.destroyed = 0

    @property
    def address(self):
        return f"{self.host}:{self.client_port}"

    @property
    def secure_address(self):
        return f"{self.host}:{self.secure_client_port}"

    @property
    def running(self):
        return self.process is not None

    @property
    def data_path(self):
        return os.path.join(self.working_path, "data")

    @property
    def log_path(self):
        return os.path.join(self.working_path, "corral.log")

    @property
    def jaas_path(self):
        return os.path.join(self.working_path, "jaas.conf")

    def run(self):
        """Start corral on this server's port and data directory; return once it serves."""
        if self.running:
            return
        os.makedirs(self.data_path, exist_ok=True)
        with open(self.jaas_path, "w") as jaas:
            jaas.write(self.jaas_config or "")
        args = [
            self.binary,
            "serve",
            "--override",
            f"clientPort={self.client_port}",
            "--override",
            f"clientPortAddress={self.host}",
            "--override",
            f"dataDir={self.data_path}",
            "--override",
            "tickTime=2000",
            "--override",
            "maxClientCnxns=0",
            "--override",
            f"authProvider.1={SASL_PROVIDER}",
            "--override",
            f"java.security.auth.login.config={self.jaas_path}",
        ]
        if self.ssl_configuration:
            # As ManagedZooKeeper.run writes them for its Java server.
            keystore = os.path.join(self.working_path, "keystore.jks")
            truststore = os.path.join(self.working_path, "truststore.jks")
            self.ssl_configuration["keystore"].save(keystore, "apassword")
            self.ssl_configuration["truststore"].save(truststore, "apassword")
            for ov in (
                f"secureClientPort={self.secure_client_port}",
                f"secureClientPortAddress={self.host}",
                "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
                f"ssl.keyStore.location={keystore}",
                "ssl.keyStore.password=apassword",
                f"ssl.trustStore.location={truststore}",
                "ssl.trustStore.password=apassword",
            ):
                args += ["--override", ov]
        for ov in self.overrides:
            args += ["--override", ov]
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        log.info("started corral pid %s on %s", self.process.pid, self.address)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _answers_imok(self.client_port):
            if self.process.poll() is not None:
                rc = self.process.returncode
                self.process = None
                raise RuntimeError(f"corral exited ({rc}) before serving; see {self.log_path}")
            if time.monotonic() >= deadline:
                raise RuntimeError(f"corral did not answer ruok within {READY_TIMEOUT_S}s")
            time.sleep(0.05)

    def stop(self):
        """Stop corral (SIGTERM), keeping its data directory."""
        if not self.running:
            return
        proc, self.process = self.process, None
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log.warning("corral pid %s ignored SIGTERM for 20s; killing it", proc.pid)
            proc.kill()
            proc.wait()
        if proc.returncode != 0:
            log.warning("corral pid %s exited with %s", proc.pid, proc.returncode)

    def reset(self):
        """Stop corral and empty its data directory."""
        self.stop()
        shutil.rmtree(self.data_path, True)
        os.makedirs(self.data_path, exist_ok=True)

    def destroy(self):
        """Stop corral and remove its directory. With CORRAL_KAZOO_KEEP=1 the directory is
        moved aside (`<dir>.<n>`) instead: the next run() still starts on an empty one."""
        self.stop()
        if os.environ.get("CORRAL_KAZOO_KEEP") == "1" and os.path.isdir(self.working_path):
            self.destroyed += 1
            kept = f"{self.working_path}.{self.destroyed}"
            os.rename(self.working_path, kept)
            log.info("kept %s", kept)
        else:
            shutil.rmtree(self.working_path, True)

    def get_logs(self, num_lines=100):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.readlines()[-num_lines:]
        except OSError:
            return []


class CorralCluster:
    """Stands in for kazoo.testing.common.ZookeeperCluster (same constructor)."""

    def __init__(
        self,
        install_path=None,
        classpath=None,
        size=3,
        port_offset=20000,
        observer_start_id=-1,
        configuration_entries=(),
        java_system_properties=(),
        jaas_config=None,
    ):
        binary = os.environ["CORRAL_BIN"]
        if size != 1:
            raise RuntimeError(
                f"corral is a standalone server: set ZOOKEEPER_CLUSTER_SIZE=1 (got {size})"
            )
        overrides = _overrides(configuration_entries, java_system_properties)
        self._ssl_configuration = {}
        if _TLS_MATERIAL:
            # The harness's own generator (pyOpenSSL + pyjks): the same CA, server and
            # client certificates and JKS stores its Java cluster would get.
            import kazoo.testing.common as common

            common.ZookeeperCluster.perform_ssl_certs_generation(self)
        self._servers = [
            ManagedCorral(binary, 1, overrides, jaas_config, dict(self._ssl_configuration))
        ]

    def __getitem__(self, k):
        return self._servers[k]

    def __iter__(self):
        return iter(self._servers)

    def start(self):
        for server in self._servers:
            server.run()

    def stop(self):
        for server in self._servers:
            server.stop()

    def terminate(self):
        for server in self._servers:
            server.destroy()

    def reset(self):
        for server in self._servers:
            server.reset()

    def get_logs(self):
        logs = []
        for server in self._servers:
            logs += server.get_logs()
        return logs

    def get_ssl_client_configuration(self):
        if not self._ssl_configuration:
            raise RuntimeError("no TLS material: pyOpenSSL and pyjks are not installed")
        import kazoo.testing.common as common

        return common.ZookeeperCluster.get_ssl_client_configuration(self)


# Whether pyOpenSSL and pyjks are there to make the TLS material (see pytest_configure).
_TLS_MATERIAL = True


def _stand_in(name):
    """kazoo.testing.common imports OpenSSL and jks (pyOpenSSL, pyjks) at module level
    for the TLS material its cluster gets. Without them the module still imports (with
    empty stand-ins) and the servers run without a secure port."""
    global _TLS_MATERIAL
    try:
        __import__(name)
    except ImportError:
        _TLS_MATERIAL = False
        log.warning("%s is not installed: corral servers get no secure client port", name)
        sys.modules[name] = types.ModuleType(name)


def pytest_configure(config):
    if not os.environ.get("CORRAL_BIN"):
        return
    _stand_in("OpenSSL")
    _stand_in("jks")
    import kazoo.testing.harness as harness

    harness.ZookeeperCluster = CorralCluster
