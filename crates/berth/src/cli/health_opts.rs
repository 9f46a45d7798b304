//! The health-check flags of `run`/`create` (`--health-*`, `--no-healthcheck`) into the
//! create body's `Healthcheck`, with docker's checks.

use berth_engine::logs::parse_go_duration;
use clap::Args;
use serde_json::{Map, Value, json};

#[derive(Args, Debug, Default)]
pub struct HealthOpts {
    /// Command to run to check health.
    #[arg(long = "health-cmd", value_name = "string")]
    pub cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s).
    #[arg(
        long = "health-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s).
    #[arg(
        long = "health-timeout",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries
    /// countdown (ms|s|m|h) (default 0s).
    #[arg(
        long = "health-start-period",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s).
    #[arg(
        long = "health-start-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
}

/// A flag's Go duration in nanoseconds; negative ones refused as docker refuses them.
fn nanos(flag: &str, value: &str) -> Result<i64, String> {
    if value.starts_with('-') {
        return Err(format!("--{flag} cannot be negative"));
    }
    let secs = if value == "0" {
        Some(0.0)
    } else {
        parse_go_duration(value)
    };
    secs.map(|s| (s * 1e9).round() as i64).ok_or_else(|| {
        format!(
            "invalid argument {value:?} for \"--{flag}\" flag: time: invalid duration {value:?}"
        )
    })
}

impl HealthOpts {
    fn any_set(&self) -> bool {
        self.cmd.as_deref().is_some_and(|c| !c.is_empty())
            || self.interval.is_some()
            || self.timeout.is_some()
            || self.retries.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
    }

    /// Sets `Healthcheck` in the create body when a flag asks for it.
    pub fn apply(&self, config: &mut Map<String, Value>) -> Result<(), String> {
        if self.no_healthcheck {
            if self.any_set() {
                return Err("--no-healthcheck conflicts with --health-* options".into());
            }
            config.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
            return Ok(());
        }
        if !self.any_set() {
            return Ok(());
        }
        let mut hc = Map::new();
        if let Some(cmd) = self.cmd.as_deref().filter(|c| !c.is_empty()) {
            hc.insert("Test".into(), json!(["CMD-SHELL", cmd]));
        }
        for (flag, key, value) in [
            ("health-interval", "Interval", &self.interval),
            ("health-timeout", "Timeout", &self.timeout),
            ("health-start-period", "StartPeriod", &self.start_period),
            (
                "health-start-interval",
                "StartInterval",
                &self.start_interval,
            ),
        ] {
            if let Some(v) = value {
                hc.insert(key.into(), json!(nanos(flag, v)?));
            }
        }
        if let Some(r) = self.retries {
            if r < 0 {
                return Err("--health-retries cannot be negative".into());
            }
            hc.insert("Retries".into(), json!(r));
        }
        config.insert("Healthcheck".into(), Value::Object(hc));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(o: HealthOpts) -> Result<Value, String> {
        let mut m = Map::new();
        o.apply(&mut m)?;
        Ok(Value::Object(m))
    }

    #[test]
    fn flags_become_the_healthcheck() {
        let b = body(HealthOpts {
            cmd: Some("true".into()),
            interval: Some("200ms".into()),
            retries: Some(2),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            b["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 200_000_000, "Retries": 2})
        );
        let none = body(HealthOpts {
            no_healthcheck: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(none["Healthcheck"], json!({"Test": ["NONE"]}));
        assert_eq!(body(HealthOpts::default()).unwrap(), json!({}));
    }

    #[test]
    fn bad_flags_are_refused() {
        let err = |o: HealthOpts| body(o).unwrap_err();
        assert!(
            err(HealthOpts {
                no_healthcheck: true,
                cmd: Some("true".into()),
                ..Default::default()
            })
            .contains("conflicts")
        );
        assert_eq!(
            err(HealthOpts {
                timeout: Some("-1s".into()),
                ..Default::default()
            }),
            "--health-timeout cannot be negative"
        );
        assert!(
            err(HealthOpts {
                interval: Some("soon".into()),
                ..Default::default()
            })
            .contains("invalid duration")
        );
    }
}
