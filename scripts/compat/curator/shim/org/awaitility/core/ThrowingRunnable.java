/* Part of corral's minimal Awaitility stand-in; see org.awaitility.Awaitility. */
package org.awaitility.core;

@FunctionalInterface
public interface ThrowingRunnable
{
    void run() throws Throwable;
}
