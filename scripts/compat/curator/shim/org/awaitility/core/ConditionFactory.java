/* Part of corral's minimal Awaitility stand-in; see org.awaitility.Awaitility. */
package org.awaitility.core;

import java.time.Duration;
import java.util.concurrent.Callable;

public final class ConditionFactory
{
    private final String alias;
    private Duration atMost = Duration.ofSeconds(10);
    private Duration pollInterval = Duration.ofMillis(100);

    public ConditionFactory(String alias)
    {
        this.alias = alias;
    }

    public ConditionFactory atMost(Duration timeout)
    {
        this.atMost = timeout;
        return this;
    }

    public ConditionFactory pollInterval(Duration interval)
    {
        this.pollInterval = interval;
        return this;
    }

    public ConditionFactory pollInSameThread()
    {
        return this;  // this stand-in always polls in the calling thread
    }

    public void until(Callable<Boolean> condition)
    {
        long deadline = System.nanoTime() + atMost.toNanos();
        Throwable last = null;
        while ( true )
        {
            try
            {
                if ( Boolean.TRUE.equals(condition.call()) )
                {
                    return;
                }
            }
            catch ( Exception e )
            {
                last = e;
            }
            if ( System.nanoTime() >= deadline )
            {
                throw new ConditionTimeoutException(describe(), last);
            }
            sleep();
        }
    }

    public void untilAsserted(ThrowingRunnable assertion)
    {
        long deadline = System.nanoTime() + atMost.toNanos();
        while ( true )
        {
            try
            {
                assertion.run();
                return;
            }
            catch ( Throwable t )
            {
                if ( System.nanoTime() >= deadline )
                {
                    throw new ConditionTimeoutException(describe(), t);
                }
            }
            sleep();
        }
    }

    private String describe()
    {
        return (alias == null ? "Condition" : alias) + " not met within " + atMost;
    }

    private void sleep()
    {
        try
        {
            Thread.sleep(pollInterval.toMillis());
        }
        catch ( InterruptedException e )
        {
            Thread.currentThread().interrupt();
            throw new ConditionTimeoutException("interrupted", e);
        }
    }
}
