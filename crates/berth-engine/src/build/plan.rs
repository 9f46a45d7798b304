//! Which stages a build runs: the target (`--target`, or the last stage) and, transitively,
//! the stages it names in `FROM` and `COPY --from`; the others are skipped. A stage may only
//! name stages before it: naming itself or a later one is a cycle, refused.

use berth_build::{Dockerfile, Instruction};

use crate::error::{Error, Result};

/// One `FROM` and the instructions up to the next.
pub struct StagePlan<'a> {
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// Its instructions, `FROM` first.
    pub instructions: Vec<&'a Instruction>,
}

pub struct Plan<'a> {
    /// `ARG`s before the first `FROM`: usable in `FROM` lines.
    pub global_args: Vec<&'a Instruction>,
    pub stages: Vec<StagePlan<'a>>,
    /// The stages to run, in order.
    pub order: Vec<usize>,
}

fn bad(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

/// `FROM image [AS name]`'s words.
pub fn from_words(ins: &Instruction) -> Result<(String, Option<String>)> {
    let text = ins.text();
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [image] => Ok((image.to_string(), None)),
        [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
            Ok((image.to_string(), Some(name.to_ascii_lowercase())))
        }
        _ => Err(bad(format!(
            "line {}: FROM requires either one argument, or three: FROM <source> [AS <name>]",
            ins.line
        ))),
    }
}

impl<'a> Plan<'a> {
    pub fn new(df: &'a Dockerfile, target: Option<&str>) -> Result<Plan<'a>> {
        let mut global_args = Vec::new();
        let mut stages: Vec<StagePlan> = Vec::new();
        for ins in &df.instructions {
            match (ins.keyword.as_str(), stages.last_mut()) {
                ("FROM", _) => {
                    let (_, name) = from_words(ins)?;
                    if let Some(n) = &name
                        && stages.iter().any(|s| s.name.as_ref() == Some(n))
                    {
                        return Err(bad(format!(
                            "line {}: duplicate stage name {n:?}",
                            ins.line
                        )));
                    }
                    stages.push(StagePlan {
                        name,
                        instructions: vec![ins],
                    });
                }
                ("ARG", None) => global_args.push(ins),
                (kw, None) => {
                    return Err(bad(format!(
                        "line {}: {kw} before any FROM: the Dockerfile must begin with FROM (or ARG)",
                        ins.line
                    )));
                }
                (_, Some(s)) => s.instructions.push(ins),
            }
        }
        if stages.is_empty() {
            return Err(bad("the Dockerfile has no FROM".into()));
        }
        let target_index = match target.filter(|t| !t.is_empty()) {
            Some(t) => {
                let t = t.to_ascii_lowercase();
                stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(t.as_str()))
                    .ok_or_else(|| bad(format!("failed to reach build target {t} in Dockerfile")))?
            }
            None => stages.len() - 1,
        };
        let mut plan = Plan {
            global_args,
            stages,
            order: Vec::new(),
        };
        let mut needed = vec![false; plan.stages.len()];
        plan.mark(target_index, &mut needed)?;
        plan.order = (0..needed.len()).filter(|i| needed[*i]).collect();
        Ok(plan)
    }

    /// Steps shown as `Step n/total`.
    pub fn steps(&self) -> usize {
        self.order
            .iter()
            .map(|i| self.stages[*i].instructions.len())
            .sum()
    }

    /// The stage `name` (an `AS` name or an index) refers to, if any.
    pub fn stage_named(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.stages.len())
            })
    }

    /// The stages stage `i` reads (`FROM stage`, `COPY --from=stage`): it waits for them.
    /// A name with a variable may be any earlier stage: such a stage waits for all of them.
    pub fn deps(&self, i: usize) -> Vec<usize> {
        let variable = self.stages[i].instructions.iter().any(|ins| {
            let named = match ins.keyword.as_str() {
                "FROM" => ins.text(),
                _ => ins.flag("from").unwrap_or_default().to_string(),
            };
            named.contains('$')
        });
        if variable {
            return self.order.iter().copied().filter(|s| *s < i).collect();
        }
        let mut deps: Vec<usize> = self
            .reads(i)
            .map(|r| r.into_iter().map(|(dep, _)| dep).collect())
            .unwrap_or_default();
        deps.sort_unstable();
        deps.dedup();
        deps
    }

    /// Each stage stage `i` names, with the line naming it.
    fn reads(&self, i: usize) -> Result<Vec<(usize, &'a Instruction)>> {
        let mut out = Vec::new();
        for ins in &self.stages[i].instructions {
            let named = match ins.keyword.as_str() {
                "FROM" => from_words(ins)?.0,
                "COPY" => match ins.flag("from") {
                    Some(f) => f.to_string(),
                    None => continue,
                },
                _ => continue,
            };
            if let Some(dep) = self.stage_named(&named) {
                out.push((dep, *ins));
            }
        }
        Ok(out)
    }

    fn mark(&self, i: usize, needed: &mut [bool]) -> Result<()> {
        if needed[i] {
            return Ok(());
        }
        needed[i] = true;
        for (dep, ins) in self.reads(i)? {
            if dep >= i {
                return Err(bad(format!(
                    "line {}: stage {dep} is not before stage {i}: circular dependency",
                    ins.line
                )));
            }
            self.mark(dep, needed)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str, target: Option<&str>) -> Result<Vec<usize>> {
        let df = berth_build::parse("Dockerfile", text).unwrap();
        Plan::new(&df, target).map(|p| p.order)
    }

    const MULTI: &str = "ARG V=1\nFROM busybox AS a\nRUN a\nFROM busybox AS b\nRUN b\n\
                         FROM a AS c\nCOPY --from=b /x /x\nFROM busybox AS d\nCOPY --from=0 /y /y\n";

    #[test]
    fn only_the_stages_the_target_needs() {
        assert_eq!(plan(MULTI, None).unwrap(), [0, 3]);
        assert_eq!(plan(MULTI, Some("c")).unwrap(), [0, 1, 2]);
        assert_eq!(plan(MULTI, Some("B")).unwrap(), [1]);
        let df = berth_build::parse("Dockerfile", MULTI).unwrap();
        let p = Plan::new(&df, Some("c")).unwrap();
        assert_eq!(p.deps(2), [0, 1]);
        assert!(p.deps(1).is_empty());
        let df = berth_build::parse("Dockerfile", "FROM a AS x\nFROM b AS y\nFROM $X\n").unwrap();
        let p = Plan::new(&df, Some("x")).unwrap();
        assert_eq!(p.order, [0]);
        let p = Plan {
            order: vec![0, 1, 2],
            ..p
        };
        assert_eq!(p.deps(2), [0, 1]);
        let e = plan(MULTI, Some("nope")).unwrap_err();
        assert!(
            e.to_string().contains("failed to reach build target nope"),
            "{e}"
        );
    }

    #[test]
    fn cycles_and_bad_stages_are_refused() {
        let e = plan("FROM busybox AS a\nCOPY --from=a /x /x\n", None).unwrap_err();
        assert!(e.to_string().contains("circular dependency"), "{e}");
        let e = plan(
            "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\n",
            Some("a"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("circular dependency"), "{e}");
        let e = plan("FROM a AS x\nFROM b AS X\n", None).unwrap_err();
        assert!(e.to_string().contains("duplicate stage name"), "{e}");
        let e = plan("RUN true\nFROM busybox\n", None).unwrap_err();
        assert!(e.to_string().contains("before any FROM"), "{e}");
    }
}
