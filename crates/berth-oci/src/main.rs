//! `berth-oci`: the runtime's command line on its own, for runc's place (containerd's
//! `BinaryName`, Docker's `--add-runtime`). The same verbs as `berth oci`, in a binary that
//! holds nothing else: no engine, no client, so less code to map at each start.

#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    use berth_oci::startup::{Lifetime, c_main};
    // SAFETY: argc and argv as the C runtime passed them.
    unsafe {
        c_main(argc, argv, Lifetime::Short, |args| {
            berth_oci::main(berth_oci::parse(args, "berth-oci"))
        })
    }
}
