//! The bench's results: one [`Summary`] per run, printed as a human table and
//! as one JSON line (written by hand: flat keys, numbers and strings only).

use super::driver::Measured;
use super::workload::OpKind;
use hdrhistogram::Histogram;
use std::fmt::Write as _;

/// Latency percentiles in µs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            count: h.len(),
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// Everything one run measured, plus the settings that produced it.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub label: String,
    pub target: String,
    pub mode: String,
    pub sessions: usize,
    pub inflight: usize,
    pub threads: usize,
    pub ratio: String,
    pub mix: String,
    pub value_size: usize,
    pub keys: usize,
    pub rate_target: Option<f64>,
    pub duration_s: f64,
    pub ops: u64,
    pub errors: u64,
    pub events: u64,
    pub ops_per_s: f64,
    pub all: Latency,
    pub read: Latency,
    pub write: Latency,
    pub per_kind: Vec<(OpKind, u64)>,
    pub client_cpu_us_per_op: Option<f64>,
    pub server_cpu_us_per_op: Option<f64>,
    /// Server CPU over the interval in cores (1.0 = one core busy).
    pub server_cpu_cores: Option<f64>,
    pub client_cpu_cores: Option<f64>,
    pub server_rss_kib: Option<u64>,
    pub first_error: Option<String>,
}

impl Summary {
    pub fn fill_from(&mut self, m: &Measured, duration_s: f64) {
        self.duration_s = duration_s;
        self.ops = m.ops;
        self.errors = m.errors;
        self.events = m.events;
        self.ops_per_s = if duration_s > 0.0 {
            m.ops as f64 / duration_s
        } else {
            0.0
        };
        self.all = Latency::of(&m.all);
        self.read = Latency::of(&m.read);
        self.write = Latency::of(&m.write);
        self.per_kind = OpKind::ALL
            .iter()
            .zip(m.per_kind)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (*k, n))
            .collect();
        self.first_error.clone_from(&m.first_error);
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let opt = |v: Option<f64>, prec: usize| match v {
            Some(v) => format!("{v:.prec$}"),
            None => "-".into(),
        };
        let _ = writeln!(
            s,
            "corral bench {}: {} | {} | {} sessions x {} in flight, {} threads | {} | value {} B, {} keys",
            self.label,
            self.target,
            self.mode,
            self.sessions,
            self.inflight,
            self.threads,
            self.mix,
            self.value_size,
            self.keys
        );
        let _ = writeln!(
            s,
            "  ops {} in {:.2} s = {:.0} ops/s, errors {}, watch events {}",
            self.ops, self.duration_s, self.ops_per_s, self.errors, self.events
        );
        let _ = writeln!(
            s,
            "  {:<7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "latency", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "mean µs", "count"
        );
        for (name, l) in [
            ("all", &self.all),
            ("reads", &self.read),
            ("writes", &self.write),
        ] {
            if l.count == 0 {
                continue;
            }
            let _ = writeln!(
                s,
                "  {:<7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10}",
                name, l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us, l.count
            );
        }
        let _ = writeln!(
            s,
            "  cpu µs/op: server {} ({} cores), client {} ({} cores); server RSS {} MiB",
            opt(self.server_cpu_us_per_op, 2),
            opt(self.server_cpu_cores, 2),
            opt(self.client_cpu_us_per_op, 2),
            opt(self.client_cpu_cores, 2),
            match self.server_rss_kib {
                Some(k) => format!("{:.1}", k as f64 / 1024.0),
                None => "-".into(),
            }
        );
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "  first error: {e}");
        }
        s
    }

    pub fn json(&self) -> String {
        let mut j = Json::default();
        j.str("label", &self.label);
        j.str("target", &self.target);
        j.str("mode", &self.mode);
        j.num("sessions", self.sessions as f64);
        j.num("inflight", self.inflight as f64);
        j.num("threads", self.threads as f64);
        j.str("ratio", &self.ratio);
        j.str("mix", &self.mix);
        j.num("value_size", self.value_size as f64);
        j.num("keys", self.keys as f64);
        j.opt("rate_target", self.rate_target);
        j.num("duration_s", self.duration_s);
        j.num("ops", self.ops as f64);
        j.num("errors", self.errors as f64);
        j.num("events", self.events as f64);
        j.num("ops_per_s", self.ops_per_s);
        for (prefix, l) in [
            ("lat", &self.all),
            ("read", &self.read),
            ("write", &self.write),
        ] {
            j.num(&format!("{prefix}_us_mean"), l.mean_us);
            j.num(&format!("{prefix}_us_p50"), l.p50_us);
            j.num(&format!("{prefix}_us_p90"), l.p90_us);
            j.num(&format!("{prefix}_us_p99"), l.p99_us);
            j.num(&format!("{prefix}_us_p999"), l.p999_us);
            j.num(&format!("{prefix}_us_max"), l.max_us);
        }
        for (k, n) in &self.per_kind {
            j.num(&format!("ops_{}", k.name()), *n as f64);
        }
        j.opt("client_cpu_us_per_op", self.client_cpu_us_per_op);
        j.opt("client_cpu_cores", self.client_cpu_cores);
        j.opt("server_cpu_us_per_op", self.server_cpu_us_per_op);
        j.opt("server_cpu_cores", self.server_cpu_cores);
        j.opt("server_rss_kib", self.server_rss_kib.map(|v| v as f64));
        if let Some(e) = &self.first_error {
            j.str("first_error", e);
        }
        j.finish()
    }
}

#[derive(Default)]
struct Json {
    out: String,
}

impl Json {
    fn key(&mut self, k: &str) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        crate::admin::json::write_str(&mut self.out, k);
        self.out.push(':');
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        crate::admin::json::write_str(&mut self.out, v);
    }
    fn num(&mut self, k: &str, v: f64) {
        self.key(k);
        if !v.is_finite() {
            self.out.push_str("null");
        } else if v.fract() == 0.0 && v.abs() < 1e15 {
            let _ = write!(self.out, "{}", v as i64);
        } else {
            let _ = write!(self.out, "{v:.3}");
        }
    }
    fn opt(&mut self, k: &str, v: Option<f64>) {
        match v {
            Some(v) => self.num(k, v),
            None => {
                self.key(k);
                self.out.push_str("null");
            }
        }
    }
    fn finish(mut self) -> String {
        if self.out.is_empty() {
            self.out.push('{');
        }
        self.out.push('}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_is_flat_and_escaped() {
        let s = Summary {
            label: "a\"b".into(),
            ops: 12,
            ops_per_s: 1.5,
            ..Summary::default()
        };
        let j = s.json();
        assert!(j.starts_with("{\"label\":\"a\\\"b\""));
        assert!(j.contains("\"ops\":12,"));
        assert!(j.contains("\"ops_per_s\":1.500"));
        assert!(j.contains("\"server_cpu_us_per_op\":null"));
        assert!(j.ends_with('}') && !j.contains('\n'));
    }
}
