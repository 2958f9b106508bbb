//! CPU time and resident memory of processes and threads, from /proc.
//!
//! CPU is `utime + stime` of `/proc/<pid>/stat` (fields 14 and 15, in clock
//! ticks), so a server's CPU per op is measured the same way for corral and
//! for a JVM, from the outside, over exactly the measured interval.

use std::fs;

fn ticks_per_s() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// `utime + stime` in µs from the text of a `stat` file.
fn cpu_us_from_stat(text: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces.
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / ticks_per_s())
}

/// CPU time a process has used, µs.
pub fn process_cpu_us(pid: u32) -> Option<u64> {
    cpu_us_from_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU time this process has used, µs.
pub fn self_cpu_us() -> Option<u64> {
    cpu_us_from_stat(&fs::read_to_string("/proc/self/stat").ok()?)
}

/// CPU time one thread of this process has used, µs.
pub fn thread_cpu_us(tid: i32) -> Option<u64> {
    cpu_us_from_stat(&fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?)
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no memory effects.
    unsafe { libc::gettid() }
}

/// Resident set size of a process, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_found_after_a_command_with_spaces() {
        let line = "123 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        let t = ticks_per_s();
        assert_eq!(cpu_us_from_stat(line), Some(300 * 1_000_000 / t));
    }

    #[test]
    fn own_process_is_readable() {
        assert!(self_cpu_us().is_some());
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
