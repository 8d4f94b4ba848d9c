//! The wall-clock timeline of window faults: at every moment a window opens or closes (a
//! portal goes down or up, a logout request is due, a port group changes its ALUA state, a
//! transport goes down), the target acts and every connection re-reads the faults on its
//! portal. Faults added through the control socket wake it.
//!
//! Owns the edge loop only; what holds at a moment is `faults`' answer.

use std::sync::Arc;
use std::time::Duration;

use tracing::debug;

use crate::registry::Control;
use crate::server::Shared;

/// The longest sleep between looks at the faults (a bound, in case an edge is missed).
const MAX_SLEEP: Duration = Duration::from_secs(1);

pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut last_us = 0;
    apply(&shared, 0, 0);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let next = shared.engine().faults().next_edge_us(last_us);
        let now = shared.clock.now_us();
        let wake = match next {
            Some(at) => shared
                .clock
                .instant(at)
                .min(tokio::time::Instant::now() + MAX_SLEEP),
            None => tokio::time::Instant::now() + MAX_SLEEP,
        };
        let _ = now;
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = shared.faults_changed.notified() => {}
            _ = shutdown.changed() => return,
        }
        let now = shared.clock.now_us();
        apply(&shared, last_us, now);
        last_us = now;
    }
}

/// Carries out what changed in `(after_us, now_us]`.
fn apply(shared: &Shared, after_us: u64, now_us: u64) {
    let (logouts, alua_changed, down, transport) = {
        let mut engine = shared.engine();
        let logouts = engine.faults().logout_requests(after_us, now_us);
        let alua_changed = engine.refresh_alua(now_us);
        let down: Vec<bool> = (0..shared.bound.len())
            .map(|portal| engine.faults().portal_window(now_us, portal).down)
            .collect();
        let transport = engine.faults().transport_down_selectors(now_us);
        (logouts, alua_changed, down, transport)
    };
    if alua_changed {
        debug!("ALUA states changed");
    }
    let registry = shared.registry();
    for (portal, down) in down.iter().enumerate() {
        let was_up = *shared.portal_up[portal].borrow();
        if was_up == *down {
            let _ = shared.portal_up[portal].send(!down);
            if *down {
                registry.broadcast(Control::Reset, |at, _| at == portal);
            }
        }
    }
    for selector in transport {
        let layout = &shared.layout;
        registry.broadcast(Control::Reset, |portal, target| {
            target.is_some_and(|target| {
                layout.targets[target].luns.iter().any(|lun| {
                    layout
                        .address(portal, target, *lun)
                        .is_some_and(|address| selector.matches(&address))
                })
            })
        });
    }
    for (portal, within_s) in logouts {
        registry.broadcast(Control::LogoutRequest { within_s }, |at, target| {
            target.is_some() && portal.is_none_or(|only| usize::from(only) == at)
        });
    }
    registry.broadcast(Control::Reevaluate, |_, _| true);
}
