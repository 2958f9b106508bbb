/*
 * corral's stand-in for Curator's org.apache.curator.test.TestingServer.
 *
 * Written for corral (not copied from Curator). It keeps the public API of
 * Curator 5.4's TestingServer so that Curator's own tests (BaseClassForTests
 * and the tests that build servers themselves) run unchanged, but instead of
 * an in-process ZooKeeper it starts a separate server process:
 *
 *   -Dcurator.compat.server=corral     (default) `corral serve --override ...`
 *   -Dcurator.compat.server=zookeeper  Debian's ZooKeeper 3.8 ZooKeeperServerMain
 *
 * Both get the settings Curator's QuorumConfigBuilder would give an embedded
 * server (clientPort, dataDir, tickTime, minSessionTimeout = tickTime,
 * maxClientCnxns, custom properties) plus the server-side system properties the
 * tests set before starting a server (extended types, container check
 * interval, super digest). stop() sends SIGTERM and waits; restart() starts a
 * new process on the same port and data directory; close() also deletes the
 * data directory when the InstanceSpec asks for it.
 *
 * Other knobs (system properties):
 *   curator.compat.corral.bin   path of the corral binary
 *   curator.compat.zk.cp        classpath for ZooKeeper (default Debian's jars)
 *   curator.compat.logdir       where each server's stdout/stderr goes
 */
package org.apache.curator.test;

import java.io.Closeable;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

public class TestingServer implements Closeable
{
    private enum State { LATENT, STARTED, STOPPED, CLOSED }

    /** System properties an embedded ZooKeeper would read at start; forwarded to the process. */
    private static final String[][] FORWARDED_PROPERTIES = {
        {"zookeeper.extendedTypesEnabled", "extendedTypesEnabled"},
        {"znode.container.checkIntervalMs", "znode.container.checkIntervalMs"},
        {"znode.container.maxPerMinute", "znode.container.maxPerMinute"},
        {"zookeeper.DigestAuthenticationProvider.superDigest", "DigestAuthenticationProvider.superDigest"},
    };

    private static final AtomicInteger SERIAL = new AtomicInteger();
    /** Processes still running; a JVM that exits mid-test must not leave servers behind. */
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static
    {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly)));
    }
    private static final long START_TIMEOUT_MS = 60_000;
    private static final long STOP_TIMEOUT_MS = 30_000;

    private final InstanceSpec spec;
    private final int serial = SERIAL.incrementAndGet();
    private State state = State.LATENT;
    private Process process;
    private int generation;

    public TestingServer() throws Exception
    {
        this(-1, null, true);
    }

    public TestingServer(boolean start) throws Exception
    {
        this(-1, null, start);
    }

    public TestingServer(int port) throws Exception
    {
        this(port, null, true);
    }

    public TestingServer(int port, boolean start) throws Exception
    {
        this(port, null, start);
    }

    public TestingServer(int port, File tempDirectory) throws Exception
    {
        this(port, tempDirectory, true);
    }

    public TestingServer(int port, File tempDirectory, boolean start) throws Exception
    {
        this(new InstanceSpec(tempDirectory, port, -1, -1, true, -1), start);
    }

    public TestingServer(InstanceSpec spec, boolean start) throws Exception
    {
        this.spec = spec;
        if ( start )
        {
            start();
        }
    }

    public int getPort()
    {
        return spec.getPort();
    }

    public File getTempDirectory()
    {
        return spec.getDataDirectory();
    }

    public String getConnectString()
    {
        return spec.getConnectString();
    }

    public synchronized void start() throws Exception
    {
        if ( state != State.LATENT )
        {
            return;
        }
        state = State.STARTED;
        launch();
    }

    public synchronized void stop() throws IOException
    {
        if ( state == State.STARTED )
        {
            state = State.STOPPED;
            terminate();
        }
    }

    public synchronized void restart() throws Exception
    {
        if ( state == State.CLOSED )
        {
            throw new IllegalStateException("Cannot restart a closed instance");
        }
        if ( state == State.STARTED )
        {
            stop();
        }
        state = State.STARTED;
        launch();
    }

    @Override
    public synchronized void close() throws IOException
    {
        stop();
        if ( state == State.STOPPED || state == State.LATENT )
        {
            state = State.CLOSED;
            if ( spec.deleteDataDirectoryOnClose() )
            {
                DirectoryUtils.deleteRecursively(spec.getDataDirectory());
            }
        }
    }

    private Map<String, String> settings() throws IOException
    {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("dataDir", spec.getDataDirectory().getCanonicalPath());
        s.put("clientPort", Integer.toString(spec.getPort()));
        // QuorumConfigBuilder: the spec's tick time, else Timing2's (1000 ms by default).
        String tickTime = Integer.toString(spec.getTickTime() >= 0 ? spec.getTickTime()
            : new org.apache.curator.test.compatibility.Timing2().tickTime());
        s.put("tickTime", tickTime);
        s.put("minSessionTimeout", tickTime);
        s.put("initLimit", "10");
        s.put("syncLimit", "5");
        if ( spec.getMaxClientCnxns() >= 0 )
        {
            s.put("maxClientCnxns", Integer.toString(spec.getMaxClientCnxns()));
        }
        s.put("4lw.commands.whitelist", "*");
        if ( spec.getCustomProperties() != null )
        {
            for ( Map.Entry<String, Object> e : spec.getCustomProperties().entrySet() )
            {
                s.put(e.getKey(), String.valueOf(e.getValue()));
            }
        }
        return s;
    }

    private void launch() throws Exception
    {
        String kind = System.getProperty("curator.compat.server", "corral");
        // A test may hand a new server the directory an earlier one deleted on close.
        spec.getDataDirectory().mkdirs();
        Map<String, String> settings = settings();
        List<String> cmd = new ArrayList<>();
        if ( kind.equals("corral") )
        {
            cmd.add(System.getProperty("curator.compat.corral.bin", "corral"));
            cmd.add("serve");
            for ( Map.Entry<String, String> e : settings.entrySet() )
            {
                cmd.add("--override");
                cmd.add(e.getKey() + "=" + e.getValue());
            }
            for ( String[] p : FORWARDED_PROPERTIES )
            {
                String v = System.getProperty(p[0]);
                if ( v != null )
                {
                    cmd.add("--override");
                    cmd.add(p[1] + "=" + v);
                }
            }
        }
        else if ( kind.equals("zookeeper") )
        {
            File cfg = new File(spec.getDataDirectory(), "zoo-" + (++generation) + ".cfg");
            settings.put("admin.enableServer", "false");
            try ( PrintWriter w = new PrintWriter(cfg, "UTF-8") )
            {
                for ( Map.Entry<String, String> e : settings.entrySet() )
                {
                    w.println(e.getKey() + "=" + e.getValue());
                }
            }
            cmd.add(System.getProperty("java.home") + "/bin/java");
            cmd.add("-Xmx256m");
            cmd.add("-XX:+UseSerialGC");
            cmd.add("-XX:TieredStopAtLevel=1");
            for ( String[] p : FORWARDED_PROPERTIES )
            {
                String v = System.getProperty(p[0]);
                if ( v != null )
                {
                    cmd.add("-D" + p[0] + "=" + v);
                }
            }
            cmd.add("-cp");
            cmd.add(System.getProperty("curator.compat.zk.cp",
                "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"));
            cmd.add("org.apache.zookeeper.server.ZooKeeperServerMain");
            cmd.add(cfg.getPath());
        }
        else
        {
            throw new IllegalArgumentException("curator.compat.server must be corral or zookeeper, not " + kind);
        }

        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.redirectErrorStream(true);
        String logDir = System.getProperty("curator.compat.logdir");
        if ( logDir != null )
        {
            File log = new File(logDir, "server-" + serial + ".log");
            pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log));
        }
        else
        {
            pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        }
        process = pb.start();
        LIVE.add(process);
        awaitReady();
    }

    /** Ready when the client port answers `ruok` with `imok`. */
    private void awaitReady() throws Exception
    {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_TIMEOUT_MS);
        while ( System.nanoTime() < deadline )
        {
            if ( !process.isAlive() )
            {
                throw new BindException("server process exited with " + process.exitValue()
                    + " before serving port " + spec.getPort());
            }
            if ( "imok".equals(fourLetterWord("ruok")) )
            {
                return;
            }
            Thread.sleep(25);
        }
        terminate();
        throw new FailedServerStartException("server on port " + spec.getPort() + " not ready in " + START_TIMEOUT_MS + " ms");
    }

    private String fourLetterWord(String word)
    {
        try ( Socket socket = new Socket() )
        {
            socket.connect(new InetSocketAddress("127.0.0.1", spec.getPort()), 1000);
            socket.setSoTimeout(2000);
            OutputStream out = socket.getOutputStream();
            out.write(word.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] buf = new byte[64];
            int n = 0;
            int r;
            while ( n < buf.length && (r = in.read(buf, n, buf.length - n)) > 0 )
            {
                n += r;
            }
            return new String(buf, 0, n, StandardCharsets.US_ASCII).trim();
        }
        catch ( IOException e )
        {
            return null;
        }
    }

    private void terminate() throws IOException
    {
        if ( process == null )
        {
            return;
        }
        process.destroy();  // SIGTERM
        try
        {
            if ( !process.waitFor(STOP_TIMEOUT_MS, TimeUnit.MILLISECONDS) )
            {
                process.destroyForcibly();
                process.waitFor();
            }
        }
        catch ( InterruptedException e )
        {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
        finally
        {
            LIVE.remove(process);
            process = null;
        }
    }
}
