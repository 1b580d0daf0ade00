//! `kmemdbg restart`: the guided restart of the proxy as it runs (the
//! shared plan/confirm/report steps are in [`super::guided`]).

use super::guided::{guided, target};
use crate::cli::RestartArgs;
use crate::convert::runtime_pairs;
use crate::probe;
use crate::service::discover;
use crate::service::plan::{self, Desired};
use crate::service::restart;
use crate::ExitStatus;
use anyhow::Result;

pub fn run(args: &RestartArgs) -> Result<ExitStatus> {
    let old = discover::discover(&target(&args.target))?;
    let mut desired = Desired::default();
    if !args.as_is {
        let binary = restart::resolve_binary(&old);
        let build = probe::run_probe(&binary, probe::PROBE_TIMEOUT)?;
        desired.options = runtime_pairs(&probe::verdict::verdict(&build));
    }
    let p = plan::plan(&old, &desired)?;
    guided(
        &old,
        &p.new_setup,
        &p.settings,
        &p.file_changes,
        &args.guided,
        args.dry_run,
    )
}
