//! A container's health check as Docker reads it: the request's `Healthcheck` over the
//! image's `HEALTHCHECK`, Docker's checks of its durations, and its defaults.

use std::time::Duration;

use bollard_stubs::models::{ContainerConfig, HealthConfig};

use crate::error::{Error, Result};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Docker's `MinimumDuration`: a set duration below it is refused.
const MINIMUM_NANOS: i64 = 1_000_000;

/// A health check ready to run: the probe's argv and the durations with Docker's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

impl Probe {
    /// The container's probe; `None` without a check or with `["NONE"]`.
    pub fn of(config: &ContainerConfig) -> Option<Probe> {
        let hc = config.healthcheck.as_ref()?;
        let test = hc.test.as_deref().unwrap_or_default();
        let argv = match test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
            Some((kind, [cmd])) if kind == "CMD-SHELL" => {
                let mut shell = config
                    .shell
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                shell.push(cmd.clone());
                shell
            }
            _ => return None,
        };
        let or = |v: Option<i64>, default: Duration| match v {
            Some(ns) if ns > 0 => Duration::from_nanos(ns as u64),
            _ => default,
        };
        Some(Probe {
            argv,
            interval: or(hc.interval, DEFAULT_INTERVAL),
            timeout: or(hc.timeout, DEFAULT_TIMEOUT),
            start_period: or(hc.start_period, Duration::ZERO),
            start_interval: or(hc.start_interval, DEFAULT_START_INTERVAL),
            retries: hc.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
        })
    }
}

/// Docker's checks at create: durations of at least a millisecond (or 0: the default),
/// retries not negative, and a test it knows how to run.
pub(crate) fn validate(hc: Option<&HealthConfig>) -> Result<()> {
    let Some(hc) = hc else { return Ok(()) };
    for (name, value) in [
        ("Interval", hc.interval),
        ("Timeout", hc.timeout),
        ("StartPeriod", hc.start_period),
        ("StartInterval", hc.start_interval),
    ] {
        if value.is_some_and(|v| v != 0 && v < MINIMUM_NANOS) {
            return Err(Error::InvalidArgument(format!(
                "{name} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if hc.retries.is_some_and(|r| r < 0) {
        return Err(Error::InvalidArgument(
            "Retries in Healthcheck cannot be negative".into(),
        ));
    }
    match hc.test.as_deref().unwrap_or_default() {
        [] => Ok(()),
        [none] if none == "NONE" => Ok(()),
        [cmd, _, ..] if cmd == "CMD" => Ok(()),
        [shell, _] if shell == "CMD-SHELL" => Ok(()),
        test => Err(Error::InvalidArgument(format!(
            "invalid Healthcheck Test {test:?}: expected [], [\"NONE\"], [\"CMD\", args...] or [\"CMD-SHELL\", command]"
        ))),
    }
}

/// The request's check over the image's, as Docker merges them: an empty test and unset
/// durations come from the image.
pub(crate) fn merge(
    user: Option<HealthConfig>,
    image: Option<HealthConfig>,
) -> Option<HealthConfig> {
    let (mut user, image) = match (user, image) {
        (Some(user), Some(image)) => (user, image),
        (user, image) => return user.or(image),
    };
    if user.test.as_ref().is_none_or(Vec::is_empty) {
        user.test = image.test;
    }
    let inherit = |mine: &mut Option<i64>, theirs: Option<i64>| {
        if mine.unwrap_or(0) == 0 {
            *mine = theirs;
        }
    };
    inherit(&mut user.interval, image.interval);
    inherit(&mut user.timeout, image.timeout);
    inherit(&mut user.start_period, image.start_period);
    inherit(&mut user.start_interval, image.start_interval);
    inherit(&mut user.retries, image.retries);
    Some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: Some(test.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    fn config(hc: HealthConfig) -> ContainerConfig {
        ContainerConfig {
            healthcheck: Some(hc),
            ..Default::default()
        }
    }

    #[test]
    fn probes_with_docker_defaults() {
        let p = Probe::of(&config(check(&["CMD-SHELL", "exit 0"]))).unwrap();
        assert_eq!(p.argv, ["/bin/sh", "-c", "exit 0"]);
        assert_eq!(p.interval, DEFAULT_INTERVAL);
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
        assert_eq!(p.start_period, Duration::ZERO);
        assert_eq!(p.start_interval, DEFAULT_START_INTERVAL);
        assert_eq!(p.retries, 3);
        let p = Probe::of(&config(check(&["CMD", "true", "x"]))).unwrap();
        assert_eq!(p.argv, ["true", "x"]);
        assert_eq!(Probe::of(&config(check(&["NONE"]))), None);
        assert_eq!(Probe::of(&ContainerConfig::default()), None);
    }

    #[test]
    fn bad_checks_are_refused() {
        let err = |hc: HealthConfig| validate(Some(&hc)).unwrap_err().to_string();
        let mut hc = check(&["CMD", "true"]);
        hc.interval = Some(10);
        assert!(err(hc).contains("Interval in Healthcheck cannot be less than 1ms"));
        let mut hc = check(&["CMD", "true"]);
        hc.retries = Some(-1);
        assert!(err(hc).contains("Retries in Healthcheck cannot be negative"));
        assert!(err(check(&["SHELL", "true"])).contains("invalid Healthcheck Test"));
        assert!(validate(Some(&check(&[]))).is_ok());
        assert!(validate(Some(&check(&["NONE"]))).is_ok());
    }

    #[test]
    fn the_request_overrides_the_image_field_by_field() {
        let mut image = check(&["CMD", "true"]);
        image.interval = Some(5_000_000_000);
        image.retries = Some(7);
        let mut user = check(&[]);
        user.retries = Some(2);
        let merged = merge(Some(user), Some(image.clone())).unwrap();
        assert_eq!(merged.test, image.test);
        assert_eq!(merged.interval, Some(5_000_000_000));
        assert_eq!(merged.retries, Some(2));
        let none = merge(Some(check(&["NONE"])), Some(image)).unwrap();
        assert_eq!(none.test.unwrap(), ["NONE"]);
    }
}
