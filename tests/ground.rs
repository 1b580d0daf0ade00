//! The ground modules against a real proxy: kamcmd RPC and the SIP OPTIONS probe.

mod common;
use common::*;
use kmemdbg::kamcmd::Kamcmd;
use std::time::Duration;

#[test]
fn real_proxy_kamcmd_and_options_probe() {
    let Some(bin) = debian_kamailio("real_proxy_kamcmd_and_options_probe") else {
        return;
    };
    let (_dir, mut proxy) = start_qm_proxy(&bin, |port, ctl| minimal_cfg(port, ctl, ""));
    let (port, ctl) = (proxy.port, proxy.ctl.clone());
    let code = kmemdbg::sip::options(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(code, 200);
    let k = Kamcmd::new(Some(ctl.to_str().unwrap())).unwrap();
    assert!(wait_for(Duration::from_secs(10), || ctl.exists()));
    let procs = k.processes().unwrap();
    assert_eq!(procs[0].pid, proxy.pid, "{procs:?}");
    assert_eq!(
        procs.iter().filter(|p| p.is_receiver()).count(),
        2,
        "{procs:?}"
    );
    assert_eq!(k.cfg_get_int("core", "memlog").unwrap(), 5);
    k.cfg_set_now_int("core", "memlog", 1).unwrap();
    assert_eq!(k.cfg_get_int("core", "memlog").unwrap(), 1);
    let err = k.call(&["no.such.method"]).unwrap_err().to_string();
    assert!(err.contains("not found"), "{err}");
    proxy.stop();
    assert!(!proxy.alive());
}
