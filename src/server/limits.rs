//! Process limits glommio depends on. io_uring rings and registered buffers
//! are locked memory; glommio checks RLIMIT_MEMLOCK in userland and only
//! reports a failure when the executor is joined, so check it up front.

use anyhow::bail;

pub fn ensure_memlock(needed_bytes: usize) -> anyhow::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
        bail!(
            "getrlimit(RLIMIT_MEMLOCK) failed: {}",
            std::io::Error::last_os_error()
        );
    }
    let needed = needed_bytes as libc::rlim_t;
    if lim.rlim_cur == libc::RLIM_INFINITY || lim.rlim_cur >= needed {
        return Ok(());
    }
    let want = libc::rlimit {
        rlim_cur: needed.max(lim.rlim_cur),
        rlim_max: if lim.rlim_max == libc::RLIM_INFINITY {
            lim.rlim_max
        } else {
            lim.rlim_max.max(needed)
        },
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &want) } != 0 {
        bail!(
            "RLIMIT_MEMLOCK is {} bytes (hard {}), corral needs {} for its io_uring rings; \
             raise it (ulimit -l, or LimitMEMLOCK= in a systemd unit): {}",
            lim.rlim_cur,
            lim.rlim_max,
            needed,
            std::io::Error::last_os_error()
        );
    }
    tracing::debug!(
        from = lim.rlim_cur,
        to = want.rlim_cur,
        "raised RLIMIT_MEMLOCK"
    );
    Ok(())
}
