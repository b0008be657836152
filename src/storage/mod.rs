//! Durable board snapshots (being written).
