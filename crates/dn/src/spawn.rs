//! Work that carries the current context across `tokio::spawn`, blocking
//! pools and threads (`docs/context.md`, "Crossing tasks and threads").
//!
//! tokio and `std::thread` start their work with an empty dn context: a
//! `#[dn::task]` called there would become a run of its own. These helpers
//! capture the context current when they are called and enter it on the
//! other side, so the work's spans land under the caller's task and run.

#[cfg(feature = "tokio")]
use dn_core::{Context, ContextExt as _};

/// `tokio::spawn` carrying the current context: spans created by the spawned
/// future are children of the task current here.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// dn.run("eval").instrument(async {
///     let handle = dn::spawn(async { dn::current_run().map(|r| r.name().to_string()) });
///     assert_eq!(handle.await.unwrap().as_deref(), Some("eval"));
/// }).await;
/// # });
/// ```
#[cfg(feature = "tokio")]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_context())
}

/// `tokio::task::spawn_blocking` carrying the current context.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// # tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap().block_on(async {
/// dn.task_span("load").instrument(async {
///     let h = dn::spawn_blocking(|| dn::log_metric("rows", 250));
///     assert_eq!(h.await.unwrap(), 250.0);
/// }).await;
/// # });
/// ```
#[cfg(feature = "tokio")]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let ctx = Context::current();
    tokio::task::spawn_blocking(move || ctx.in_scope(f))
}

/// Threads that carry the current context.
pub mod thread {
    use dn_core::Context;

    /// `std::thread::spawn` carrying the current context.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
    /// dn.task_span("parent").run(|task| {
    ///     dn::thread::spawn(|| dn::log_output("from_thread", true)).join().unwrap();
    ///     assert_eq!(task.outputs()["from_thread"], true);
    /// });
    /// ```
    pub fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let ctx = Context::current();
        std::thread::spawn(move || ctx.in_scope(f))
    }

    /// `std::thread::Scope::spawn` carrying the current context, for scoped
    /// threads that borrow from the caller.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
    /// let rows = vec![1, 2, 3];
    /// dn.task_span("parent").run(|task| {
    ///     std::thread::scope(|s| {
    ///         dn::thread::spawn_scoped(s, || dn::log_metric("rows", rows.len()));
    ///     });
    ///     assert!(task.metrics().contains_key("rows"));
    /// });
    /// ```
    pub fn spawn_scoped<'scope, 'env, F, T>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        f: F,
    ) -> std::thread::ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let ctx = Context::current();
        scope.spawn(move || ctx.in_scope(f))
    }
}
