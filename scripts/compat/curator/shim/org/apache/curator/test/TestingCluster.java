/*
 * corral's stand-in for Curator's org.apache.curator.test.TestingCluster.
 *
 * Written for corral (not copied from Curator). The compatibility run compares
 * standalone servers (corral and ZooKeeper 3.8, each in its own process); an
 * ensemble test would otherwise start Debian's embedded ZooKeeper ensemble and
 * say nothing about corral. Every constructor aborts the calling test, which
 * JUnit reports as "aborted" (skipped) under both servers, with this reason.
 */
package org.apache.curator.test;

import java.io.Closeable;
import java.util.Collection;
import java.util.Map;
import org.opentest4j.TestAbortedException;

public class TestingCluster implements Closeable
{
    static final String REASON = "needs a ZooKeeper ensemble (TestingCluster); "
        + "the Curator compatibility run uses one standalone server";

    public TestingCluster(int instanceQty)
    {
        throw new TestAbortedException(REASON);
    }

    public TestingCluster(InstanceSpec... specs)
    {
        throw new TestAbortedException(REASON);
    }

    public TestingCluster(Collection<InstanceSpec> specs)
    {
        throw new TestAbortedException(REASON);
    }

    public TestingCluster(Map<InstanceSpec, Collection<InstanceSpec>> specs)
    {
        throw new TestAbortedException(REASON);
    }

    @Override
    public void close()
    {
    }
}
