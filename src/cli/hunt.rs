//! The command line of `hunt`, declared and nothing else (kept beside
//! `cli.rs` so that file stays one screenful per subcommand).

use crate::units::parse_duration;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(
    about = "Which traffic makes memory grow? Drive each kind of SIP request with sipp and compare snapshots",
    long_about = "Finds which kind of traffic drives a growing allocation site, on a test box. For each \
class in turn: snapshot the proxy's shared memory, send --requests requests of that class with sipp at \
--rate per second, snapshot again (the peak), wait up to --settle for the proxy's own timers and expiries \
(tm's wait timer, registrations, subscriptions; the wait ends early once memory is back), snapshot a third \
time and compare.\n\n\
Classes (sipp scenarios inside kmemdbg; --classes picks and orders them):\n  \
register     REGISTER, one address of record per request\n  \
options      OPTIONS, one Call-ID per request\n  \
invite       INVITE with SDP, any final reply; ACK for a non-2xx, ACK and BYE after a 2xx\n  \
invite-fail  INVITE to a domain that never resolves (.invalid), any final reply, ACKed\n  \
message      MESSAGE with a short text body\n  \
subscribe    SUBSCRIBE Event: presence; NOTIFYs answered 200\n\
A sipp scenario file of your own is a class too (a path, or a name ending in .xml); it may use \
[expires]. REGISTER and SUBSCRIBE ask for Expires = half of --settle, so that what they create \
expires while kmemdbg waits (a registrar whose min_expires is longer keeps them longer: lower it \
on the test box).\n\n\
Snapshots: with --log, --journal or --stderr, a shm dump read from the log, as `kmemdbg dump` \
takes it (fragment counts and bytes per allocation site; the proxy needs -x qm on a DBG_SR_MEMORY \
build): a summary when the proxy prints one (memlog <= debug; mem_summary is set for it and put \
back), else the shm status over RPC. Without a log, or when the dump does not arrive, \
`mod.stats all shm` over the ctl socket (kex module): bytes per module: function(line), no \
fragment counts, and the report says so.\n\n\
Result, per class: each site that grew, with fragments (where counted), bytes and bytes per \
request. Growth that went back by the end of the settle time is \"held by design\"; the rest \
are leak candidates, listed first.\n\n\
Safety: traffic goes only to an address of this box unless --allow-remote; requests, rate and \
the whole run (--max-time) are bounded; Ctrl-C stops sipp and ends the run with what was \
measured; the proxy's settings are as they were (a summary's mem_summary is put back, also on \
Ctrl-C; mem_summary and memlog are read before and after to show it); after each class the proxy must answer SIP OPTIONS, and the report says \
after which class it stopped answering.",
    after_help = "Exit status: 0 every class ran; 1 stopped early (Ctrl-C, --max-time, the proxy \
stopped answering, a snapshot or sipp failed: said which); 2 error (bad option, remote target \
without --allow-remote, no ctl socket).\n\n\
Examples:\n  kmemdbg hunt --target 127.0.0.1:5060 --ctl /run/kamailio/kamailio_ctl --journal kamailio\n  \
kmemdbg hunt --target 127.0.0.1:5060 --ctl /run/kamailio/kamailio_ctl --classes invite,register \\\n    \
--requests 500 --rate 50 --settle 60s --log /var/log/syslog --plot hunt.svg\n  \
kmemdbg hunt --target 127.0.0.1:5060 --ctl /run/kamailio/kamailio_ctl --classes ./my-calls.xml --json"
)]
pub struct HuntArgs {
    /// The proxy's SIP address (UDP): an address of this box
    #[arg(long, value_name = "HOST:PORT")]
    pub target: String,
    /// The ctl module's binrpc socket: unix:/path, /path, udp:HOST:PORT
    #[arg(long, value_name = "SOCKET")]
    pub ctl: String,
    /// Classes to run, in order (comma-separated or repeated; a path or NAME.xml is your own sipp scenario); default all
    #[arg(long, value_name = "LIST")]
    pub classes: Vec<String>,
    /// Requests sent per class
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub requests: u32,
    /// Requests per second
    #[arg(long, value_name = "R", default_value_t = 100)]
    pub rate: u32,
    /// Longest wait after each class for timers and expiries (30s, 2m)
    #[arg(long, value_name = "S", default_value = "30s", value_parser = parse_duration)]
    pub settle: Duration,
    /// Bound on the whole run (10m, 1h); classes that would not fit are not run
    #[arg(long, value_name = "T", default_value = "10m", value_parser = parse_duration)]
    pub max_time: Duration,
    /// Read dumps from this syslog file
    #[arg(long, value_name = "FILE", group = "logsource")]
    pub log: Option<PathBuf>,
    /// Read dumps from journald for this unit
    #[arg(long, value_name = "UNIT", group = "logsource")]
    pub journal: Option<String>,
    /// Read dumps from the file kamailio's stderr goes to (kamailio -E)
    #[arg(long, value_name = "FILE", group = "logsource")]
    pub stderr: Option<PathBuf>,
    /// How long to wait for each dump
    #[arg(long, value_name = "S", default_value = "15s", value_parser = parse_duration)]
    pub dump_timeout: Duration,
    /// Send traffic to a target that is not an address of this box
    #[arg(long)]
    pub allow_remote: bool,
    /// Also draw the growth of each class as an SVG chart
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Machine-readable report (schema kmemdbg.hunt/1, see docs/commands/hunt.md)
    #[arg(long)]
    pub json: bool,
}
