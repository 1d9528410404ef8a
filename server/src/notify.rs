//! The systemd service protocol (`sd_notify`): readiness, a watchdog that
//! proves the runtime is alive, and the stop. Nothing happens unless systemd
//! set `NOTIFY_SOCKET` (a `Type=notify` unit); a send that fails is ignored,
//! the bridge never depends on it.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Send one state (`READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=…`) to
/// systemd; whether it was sent.
pub fn notify(state: &str) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::net::UnixDatagram;
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return false };
        let Ok(socket) = UnixDatagram::unbound() else { return false };
        let bytes = path.as_encoded_bytes();
        // `@name` is a socket in the abstract namespace (Linux).
        #[cfg(target_os = "linux")]
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            return std::os::unix::net::SocketAddr::from_abstract_name(name)
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
                .is_ok();
        }
        socket.send_to(state.as_bytes(), std::path::Path::new(&path)).is_ok()
    }
    #[cfg(not(unix))]
    {
        let _ = state;
        false
    }
}

/// How often systemd wants to hear from us (`WATCHDOG_USEC`, for this process).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Ping the watchdog at half its interval until `shutdown`: a runtime that
/// stops making progress stops pinging, and systemd restarts the bridge.
pub async fn watchdog(shutdown: CancellationToken) {
    let Some(interval) = watchdog_interval() else { return };
    let mut ticks = tokio::time::interval(interval / 2);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => { notify("WATCHDOG=1"); }
        }
    }
}
