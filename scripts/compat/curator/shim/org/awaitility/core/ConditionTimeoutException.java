/* Part of corral's minimal Awaitility stand-in; see org.awaitility.Awaitility. */
package org.awaitility.core;

public class ConditionTimeoutException extends RuntimeException
{
    public ConditionTimeoutException(String message, Throwable cause)
    {
        super(message, cause);
    }
}
