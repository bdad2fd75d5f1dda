//! Drivers: each owns one core's state machine and carries out what it decides (moves bytes,
//! wakes its timers, writes what it says to keep).

pub mod client_traffic;
pub mod packet_path;
