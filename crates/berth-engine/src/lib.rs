//! The container manager. Today: the json-file log driver that container monitors write and the
//! API's `logs` reads; containers, images, networks and volumes services follow.

pub mod logs;
