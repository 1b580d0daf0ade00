//! The `kmemdbg` binary: parses the command line, runs the command, and is
//! the only place that turns an error into an exit status (2).

use clap::Parser;

fn main() {
    kmemdbg::interrupt::quiet_on_closed_pipe();
    let cli = kmemdbg::cli::Cli::parse();
    let code = match kmemdbg::commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("kmemdbg: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            2
        }
    };
    std::process::exit(code);
}
