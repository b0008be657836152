//! CPU and memory readings from `/proc`: this process, the server (`--server-pid`) and the whole
//! machine, sampled at the edges of the measured window. `None` where `/proc` is unavailable.

use std::time::Instant;

/// Clock ticks per second of the CPU times in `/proc`. The kernel reports them in USER_HZ, which
/// is part of the userspace ABI and 100 on every Linux architecture.
const USER_HZ: f64 = 100.0;
const KIB_PER_MIB: f64 = 1024.0;

/// CPU counters at one moment.
#[derive(Debug, Clone)]
pub struct CpuSample {
    at: Instant,
    tool_secs: Option<f64>,
    /// The server's user and system CPU seconds.
    server_secs: Option<(f64, f64)>,
    /// Busy and total ticks over all cores since boot.
    machine: Option<(u64, u64)>,
}

/// CPU used between two samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    /// This process, % of one core.
    pub tool_pct: Option<f64>,
    /// The server's time in its own code and in the kernel (system calls: the sockets, the
    /// journal's syncs), % of one core; [`CpuUse::server_pct`] is their sum.
    pub server_user_pct: Option<f64>,
    pub server_system_pct: Option<f64>,
    /// The whole machine, % of all cores.
    pub machine_busy_pct: Option<f64>,
}

impl CpuSample {
    pub fn take(server_pid: Option<u32>) -> Self {
        let read = |path: String| std::fs::read_to_string(path).ok();
        Self {
            at: Instant::now(),
            tool_secs: read("/proc/self/stat".into())
                .and_then(|s| process_cpu_secs(&s))
                .map(|(user, system)| user + system),
            server_secs: server_pid
                .and_then(|pid| read(format!("/proc/{pid}/stat")))
                .and_then(|s| process_cpu_secs(&s)),
            machine: read("/proc/stat".into()).and_then(|s| machine_ticks(&s)),
        }
    }

    pub fn since(&self, before: &CpuSample) -> CpuUse {
        let wall = self.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let pct = |now: Option<f64>, then: Option<f64>| Some((now? - then?) / wall * 100.0);
        let server = |part: fn((f64, f64)) -> f64| {
            pct(self.server_secs.map(part), before.server_secs.map(part))
        };
        CpuUse {
            tool_pct: pct(self.tool_secs, before.tool_secs),
            server_user_pct: server(|(user, _)| user),
            server_system_pct: server(|(_, system)| system),
            machine_busy_pct: self
                .machine
                .zip(before.machine)
                .and_then(|((b1, t1), (b0, t0))| {
                    let total = t1.checked_sub(t0).filter(|&t| t > 0)?;
                    Some(b1.saturating_sub(b0) as f64 / total as f64 * 100.0)
                }),
        }
    }
}

impl CpuUse {
    /// The server process, % of one core.
    pub fn server_pct(&self) -> Option<f64> {
        Some(self.server_user_pct? + self.server_system_pct?)
    }
}

/// Resident memory of `pid` in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(rss_kib(&status)? as f64 / KIB_PER_MIB)
}

/// User and system CPU seconds from the text of `/proc/<pid>/stat`.
fn process_cpu_secs(stat: &str) -> Option<(f64, f64)> {
    // The command name (field 2) is in parentheses and may contain spaces: count from the last
    // ')'. After it come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime as f64 / USER_HZ, stime as f64 / USER_HZ))
}

/// `VmRSS` in KiB from the text of `/proc/<pid>/status`.
fn rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// (busy, total) ticks from the first line of `/proc/stat`:
/// `cpu user nice system idle iowait irq softirq steal ...`; idle and iowait are not busy.
fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .take(8)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_cpu_counts_from_the_last_parenthesis() {
        let stat = "1234 (tessera (x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9";
        assert_eq!(process_cpu_secs(stat), Some((2.5, 0.5)));
        assert_eq!(process_cpu_secs("garbage"), None);
    }

    #[test]
    fn rss_is_read_from_status() {
        let status = "Name:\ttessera\nVmPeak:\t  9999 kB\nVmRSS:\t   20480 kB\n";
        assert_eq!(rss_kib(status), Some(20_480));
        assert_eq!(rss_kib("Name: x\n"), None);
    }

    #[test]
    fn machine_busy_excludes_idle_and_iowait() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n";
        assert_eq!(machine_ticks(stat), Some((150, 1000)));
    }

    #[test]
    fn this_process_can_be_sampled_on_linux() {
        let a = CpuSample::take(Some(std::process::id()));
        let b = CpuSample::take(Some(std::process::id()));
        let used = b.since(&a);
        if cfg!(target_os = "linux") {
            assert!(used.tool_pct.is_some() && used.server_pct().is_some());
            assert!(rss_mib(std::process::id()).is_some_and(|m| m > 0.0));
        }
    }
}
