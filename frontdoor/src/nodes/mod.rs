//! Tenants' media nodes: the driver that runs them, the registry and lease in
//! Redis, and the manager that starts them on demand and stops them when idle.

pub mod driver;
pub mod local;
pub mod manager;
pub mod registry;

pub use driver::{DriverError, NodeDriver, NodeLimits, NodeSpec, NodeStatus, RunningNode};
pub use manager::{ManagerConfig, NodeManager, Route, Unavailable};
pub use registry::NodeRegistry;
