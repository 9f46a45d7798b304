//! Timing of repeated runs, and the summary printed for each contender.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Times `runs` calls of `f` after `warmup` untimed ones.
pub fn time_runs(
    warmup: usize,
    runs: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<Vec<Duration>> {
    for i in 0..warmup {
        f(i)?;
    }
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let start = Instant::now();
        f(warmup + i)?;
        times.push(start.elapsed());
    }
    Ok(times)
}

/// Times `runs` rounds after `warmup` untimed ones. Each round calls `f(which, i)` once for
/// every `which` in `0..count`, in turn, so that a change in the machine's load touches every
/// contender alike. Returns the times per contender.
pub fn time_interleaved(
    warmup: usize,
    runs: usize,
    count: usize,
    mut f: impl FnMut(usize, usize) -> Result<()>,
) -> Result<Vec<Vec<Duration>>> {
    for i in 0..warmup {
        for which in 0..count {
            f(which, i)?;
        }
    }
    let mut times = vec![Vec::with_capacity(runs); count];
    for i in 0..runs {
        for (which, times) in times.iter_mut().enumerate() {
            let start = Instant::now();
            f(which, warmup + i)?;
            times.push(start.elapsed());
        }
    }
    Ok(times)
}

pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// Runs a command, failing with its stderr if it fails.
pub fn check(cmd: &mut std::process::Command) -> Result<()> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Prints one table row and returns the median in milliseconds.
pub fn report(name: &str, times: &[Duration]) -> f64 {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let med = ms(median(times));
    let min = ms(*times.iter().min().expect("at least one run"));
    let max = ms(*times.iter().max().expect("at least one run"));
    println!(
        "{name:<30} median {med:8.2} ms   min {min:8.2} ms   max {max:8.2} ms   ({} runs)",
        times.len()
    );
    med
}
