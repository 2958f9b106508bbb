/*
 * A minimal stand-in for the Awaitility library (not packaged in Debian), written
 * for corral's Curator compatibility run. It covers only what Curator 5.4's tests
 * call: await()/await(alias), atMost, pollInterval, pollInSameThread, until,
 * untilAsserted. Defaults follow Awaitility's documented ones (10 s, 100 ms).
 */
package org.awaitility;

import org.awaitility.core.ConditionFactory;

public final class Awaitility
{
    private Awaitility()
    {
    }

    public static ConditionFactory await()
    {
        return new ConditionFactory(null);
    }

    public static ConditionFactory await(String alias)
    {
        return new ConditionFactory(alias);
    }
}
