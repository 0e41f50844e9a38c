//! sluice-openwire: ActiveMQ's native OpenWire protocol.

pub mod wire;
