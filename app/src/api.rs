//! Server functions the dashboard calls, with fixed endpoints so the WASM and
//! the server agree on URLs whatever the checkout path (the default URL
//! carries a hash of the crate path).

use crate::model::{MqttStatus, OutletAction, OutletCommandResult, PduSnapshot};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the server renders with and the browser hydrates from: both sides
/// must start from the same values for hydration to line up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InitialState {
    pub snapshots: Vec<PduSnapshot>,
    pub mqtt: MqttStatus,
    /// The server's clock at render time, unix milliseconds, so data ages
    /// render identically on both sides until the browser's clock takes over.
    pub now_ms: u64,
}

/// Called by `SharedValue` on the server only; in the browser the value is
/// read back from the page.
pub fn initial_state() -> InitialState {
    #[cfg(feature = "ssr")]
    {
        let backend = use_context::<crate::backend::BackendHandle>();
        let snapshots = backend.as_ref().map(|b| b.0.snapshots()).unwrap_or_default();
        let mqtt = backend.as_ref().map(|b| b.0.mqtt()).unwrap_or_default();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        InitialState { snapshots, mqtt, now_ms }
    }
    #[cfg(not(feature = "ssr"))]
    {
        InitialState::default()
    }
}

#[server(prefix = "/fn", endpoint = "outlet_command")]
pub async fn outlet_command(
    device_id: String,
    outlet: u32,
    action: OutletAction,
) -> Result<OutletCommandResult, ServerFnError> {
    let backend = expect_context::<crate::backend::BackendHandle>();
    backend
        .0
        .outlet_command(Some(device_id), outlet, action)
        .await
        .map_err(|e| ServerFnError::ServerError(e.to_string()))
}
