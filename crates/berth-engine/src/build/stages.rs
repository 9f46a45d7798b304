//! The stages a build runs, as a DAG: a stage waits only for the stages it reads (`FROM
//! stage`, `COPY --from=stage`), and stages whose inputs are ready run at once, each on a
//! thread of its own (the steps block on containers through the runtime handle). The output
//! stays as Docker's classic builder prints it: a stage's messages are held back until the
//! stages before it have printed theirs, and steps keep their `Step n/total` numbers. The
//! first failure cancels the other stages (a running RUN container is killed, the others
//! start no further step), all are awaited, and it is the build's error.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex};

use berth_image::Image;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::error::{Error, Result};

use super::step::{Build, StageState, WaitStage};

/// What the stages made: each stage's image, and the build args some ARG declared.
pub struct Built {
    pub images: HashMap<usize, Option<Image>>,
    pub used_args: HashSet<String>,
}

/// Why a stage stopped: the error that fails the build, or another stage's failure.
enum Stop {
    Failed(Error),
    Cancelled,
}

/// The stages' progress, shared by their threads.
#[derive(Default)]
struct Board {
    images: HashMap<usize, Option<Image>>,
    used_args: HashSet<String>,
    error: Option<Error>,
}

/// Runs the plan's stages (`build.plan.order`) as their dependencies allow; a failure is
/// announced to the others through `cancel` (which `build.cancel` receives).
pub fn run(build: &Build, cancel: &watch::Sender<bool>) -> Result<Built> {
    let plan = build.plan;
    let order = &plan.order;
    let out = Ordered::new(build.emit, order.len());
    let board = Mutex::new(Board::default());
    let changed = Condvar::new();
    let handle = tokio::runtime::Handle::current();
    let mut first_step = 1;
    std::thread::scope(|s| {
        for (pos, &stage) in order.iter().enumerate() {
            let step_no = first_step;
            first_step += plan.stages[stage].instructions.len();
            let (out, board, changed) = (&out, &board, &changed);
            let handle = &handle;
            s.spawn(move || {
                let _runtime = handle.enter();
                let emit = |v: Value| out.send(pos, v);
                let say = |line: String| {
                    if !build.req.quiet {
                        emit(json!({ "stream": line }));
                    }
                };
                let stage_build = Build {
                    emit: &emit,
                    say: &say,
                    ..*build
                };
                // Only earlier stages this build runs: no cycle, nothing never built.
                let wait_stage = |i: usize| {
                    if i >= stage || !order.contains(&i) {
                        return None;
                    }
                    wait_for_deps(board, changed, &[i])
                        .ok()
                        .and_then(|mut images| images.remove(&i))
                };
                // A panicking stage fails the build instead of leaving its dependents waiting.
                let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    wait_for_deps(board, changed, &plan.deps(stage)).and_then(|done| {
                        run_stage(&stage_build, stage, step_no, &done, &wait_stage)
                    })
                }))
                .unwrap_or_else(|_| {
                    Err(Stop::Failed(Error::Internal(format!(
                        "stage {stage} of the build panicked"
                    ))))
                });
                {
                    let mut b = board.lock().expect("build board");
                    match res {
                        Ok((image, used)) => {
                            b.images.insert(stage, image);
                            b.used_args.extend(used);
                        }
                        Err(Stop::Failed(e)) if b.error.is_none() => {
                            b.error = Some(e);
                            let _ = cancel.send(true);
                        }
                        Err(_) => {}
                    }
                }
                out.finish(pos);
                changed.notify_all();
            });
        }
    });
    out.flush();
    let board = board.into_inner().expect("build board");
    match board.error {
        Some(e) => Err(e),
        None => Ok(Built {
            images: board.images,
            used_args: board.used_args,
        }),
    }
}

/// Waits until the stages `deps` are built (their images then), or another stage failed.
fn wait_for_deps(
    board: &Mutex<Board>,
    changed: &Condvar,
    deps: &[usize],
) -> std::result::Result<HashMap<usize, Option<Image>>, Stop> {
    let mut b = board.lock().expect("build board");
    loop {
        if b.error.is_some() {
            return Err(Stop::Cancelled);
        }
        if deps.iter().all(|d| b.images.contains_key(d)) {
            return Ok(deps.iter().map(|d| (*d, b.images[d].clone())).collect());
        }
        b = changed.wait(b).expect("build board");
    }
}

/// One stage's steps, numbered from `step_no`; stops before a step once the build is
/// cancelled.
fn run_stage(
    b: &Build,
    stage: usize,
    mut step_no: usize,
    done: &HashMap<usize, Option<Image>>,
    wait_stage: WaitStage,
) -> std::result::Result<(Option<Image>, HashSet<String>), Stop> {
    let total = b.plan.steps();
    let mut st = StageState::new(b, done, wait_stage);
    for ins in &b.plan.stages[stage].instructions {
        if *b.cancel.borrow() {
            return Err(Stop::Cancelled);
        }
        (b.say)(format!("Step {step_no}/{total} : {}\n", ins.original));
        step_no += 1;
        st.step(ins).map_err(|e| {
            if *b.cancel.borrow() {
                Stop::Cancelled
            } else {
                Stop::Failed(e)
            }
        })?;
        if let Some(img) = &st.image {
            (b.say)(format!(" ---> {}\n", &img.id.hex()[..12]));
        }
    }
    Ok((st.image.take(), std::mem::take(&mut st.used_args)))
}

/// The build's messages in stage order: the stage at `current` streams, later ones are held
/// until every stage before them has finished.
struct Ordered<'a> {
    emit: super::Emit<'a>,
    state: Mutex<OrderedState>,
}

struct OrderedState {
    current: usize,
    held: Vec<Vec<Value>>,
    finished: Vec<bool>,
}

impl<'a> Ordered<'a> {
    fn new(emit: super::Emit<'a>, stages: usize) -> Ordered<'a> {
        Ordered {
            emit,
            state: Mutex::new(OrderedState {
                current: 0,
                held: vec![Vec::new(); stages],
                finished: vec![false; stages],
            }),
        }
    }

    fn send(&self, pos: usize, v: Value) {
        let mut s = self.state.lock().expect("build output");
        if pos == s.current {
            (self.emit)(v);
        } else {
            s.held[pos].push(v);
        }
    }

    /// Stage `pos` has said everything: the next unfinished stage's messages go out.
    fn finish(&self, pos: usize) {
        let mut s = self.state.lock().expect("build output");
        s.finished[pos] = true;
        while s.current < s.finished.len() && s.finished[s.current] {
            s.current += 1;
            let current = s.current;
            if let Some(held) = s.held.get_mut(current) {
                for v in std::mem::take(held) {
                    (self.emit)(v);
                }
            }
        }
    }

    /// Whatever is still held (after a failure), in stage order.
    fn flush(&self) {
        let mut s = self.state.lock().expect("build output");
        for held in s.held.iter_mut() {
            for v in std::mem::take(held) {
                (self.emit)(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_stages_wait_for_earlier_ones_to_print() {
        let seen = Mutex::new(Vec::new());
        let emit = |v: Value| seen.lock().unwrap().push(v.as_str().unwrap().to_string());
        let out = Ordered::new(&emit, 3);
        out.send(2, json!("c1"));
        out.send(1, json!("b1"));
        out.send(0, json!("a1"));
        out.finish(1);
        out.send(2, json!("c2"));
        out.send(0, json!("a2"));
        assert_eq!(*seen.lock().unwrap(), ["a1", "a2"]);
        out.finish(0);
        assert_eq!(*seen.lock().unwrap(), ["a1", "a2", "b1", "c1", "c2"]);
        out.send(2, json!("c3"));
        out.finish(2);
        out.flush();
        assert_eq!(seen.lock().unwrap().len(), 6);
    }
}
