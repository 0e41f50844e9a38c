//! Room on the stack for hostile input that is parsed recursively by code we do not own.
//!
//! lapin decodes AMQP field tables recursively on a thread of its own (`lapin-io-loop`, spawned
//! with the default stack size). A header table nested as deep as one frame allows (about
//! 18,000 levels in RabbitMQ's 128 KiB frames) overflows the default 2 MiB stack, and a stack
//! overflow aborts the process: any publisher could stop every pipe. The default size of
//! threads that do not choose one comes from `RUST_MIN_STACK`, read when the first thread
//! starts; setting the variable from inside would need `unsafe` (forbidden here), so `sluice
//! run` executes itself again, once, with it set. The size is virtual: pages are committed only
//! as they are used. 256 MiB is what a debug build needs for the deepest table a frame holds;
//! a release build needs far less.

/// Stack of every thread: Sluice's own runtime workers and, through `RUST_MIN_STACK`, threads
/// that libraries spawn.
pub(crate) const THREAD_STACK: usize = 256 << 20;

const VARIABLE: &str = "RUST_MIN_STACK";

/// Re-execute this process with `RUST_MIN_STACK` set when it is not set (or smaller). Returns
/// only when no re-execution was needed or it was not possible (then the default stays).
pub(crate) fn ensure_large_stacks() {
    let set = std::env::var(VARIABLE)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|n| n >= THREAD_STACK);
    if set {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(VARIABLE, THREAD_STACK.to_string())
            .exec();
        // Only reached when exec failed: go on with the default stack size.
        eprintln!("warning: could not re-execute with a larger stack ({err}); continuing");
    }
}
