//! What the benchmark measures about its own process: CPU time (user and system, and the
//! scheduler's nanosecond total), page faults, and heap allocations (the binary's counting
//! allocator). Read from /proc; no clock of its own.
//!
//! Owns the /proc parsing; nothing else.

use stats_alloc::Region;

/// Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the process's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub user_s: f64,
    pub system_s: f64,
    /// Sum of every thread's run time from /proc/self/task/*/schedstat (nanoseconds).
    pub cpu_ns: u64,
    pub minor_faults: u64,
    pub major_faults: u64,
}

impl Usage {
    pub fn now() -> Usage {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // The command name (field 2) may contain spaces; fields after it follow the last ')'.
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let number = |index: usize| -> u64 {
            fields
                .get(index)
                .and_then(|field| field.parse().ok())
                .unwrap_or(0)
        };
        // After the name, field 3 is index 0: minflt (10) is 7, majflt (12) 9, utime (14)
        // 11, stime (15) 12.
        Usage {
            user_s: number(11) as f64 / TICKS_PER_SECOND,
            system_s: number(12) as f64 / TICKS_PER_SECOND,
            cpu_ns: schedstat_ns(),
            minor_faults: number(7),
            major_faults: number(9),
        }
    }

    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: Usage) -> Usage {
        Usage {
            user_s: (self.user_s - earlier.user_s).max(0.0),
            system_s: (self.system_s - earlier.system_s).max(0.0),
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
            major_faults: self.major_faults.saturating_sub(earlier.major_faults),
        }
    }
}

fn schedstat_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Heap allocations since a point (the binary's counting allocator).
#[derive(Debug)]
pub struct Allocations(Region<'static, std::alloc::System>);

impl Allocations {
    pub fn start() -> Allocations {
        Allocations(Region::new(crate::GLOBAL))
    }

    pub fn count(&self) -> u64 {
        let change = self.0.change();
        (change.allocations + change.reallocations) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_and_faults_are_readable_and_monotonic() {
        let before = Usage::now();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        let pages: Vec<u8> = vec![1; 8 * 1024 * 1024];
        assert!(x != 1 && pages.iter().map(|&b| u64::from(b)).sum::<u64>() > 0);
        let used = Usage::now().since(before);
        assert!(used.cpu_ns > 0, "{used:?}");
        assert!(used.minor_faults > 0, "{used:?}");
    }
}
