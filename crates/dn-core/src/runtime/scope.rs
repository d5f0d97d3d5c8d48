//! Shared machinery of the three ways into a span: guard, closure and
//! future. Anything that can be "closed" with a success, an error or a panic
//! is a [`Scope`]; [`Instrumented`] drives a future inside one.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::context::{Context, with_entered};

/// Something a span form closes when its body finishes. Implemented by task
/// scopes and light spans; not meant to be implemented outside this crate.
#[doc(hidden)]
pub trait Scope: Send {
    /// The body failed with `message` (an `Err` or a panic).
    fn fail(&mut self, type_name: &str, message: &str, escaped: bool);
    /// End the span(s).
    fn close(self);
}

/// Checks a body's output for failure (set for the `try_*` forms).
pub type OutcomeCheck<T> = fn(&T) -> Option<(String, String)>;

/// The check used for `Result` bodies: `Err(e)` fails the span with `e`'s message.
pub fn result_check<T, E: std::fmt::Display>(r: &Result<T, E>) -> Option<(String, String)> {
    r.as_ref().err().map(|e| (std::any::type_name::<E>().to_string(), e.to_string()))
}

/// Text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs a closure inside a scope whose context is already entered: records an
/// `Err` or a panic on the scope, closes it, and hands the result (or the
/// panic) back unchanged. The closure borrows the scope (a task's body
/// reads its handle from there: no second handle to clone and drop).
pub(crate) fn run_in_scope<S: Scope, R>(mut scope: S, check: Option<OutcomeCheck<R>>, f: impl FnOnce(&S) -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&scope))) {
        Ok(r) => {
            if let Some((t, m)) = check.and_then(|c| c(&r)) {
                scope.fail(&t, &m, true);
            }
            scope.close();
            r
        }
        Err(payload) => {
            scope.fail("panic", &panic_message(&*payload), true);
            scope.close();
            std::panic::resume_unwind(payload)
        }
    }
}

pin_project_lite::pin_project! {
    /// A future running inside a span: the span's context is current on every
    /// poll, and the span ends when the future completes, panics or is dropped.
    #[must_use = "futures do nothing unless you .await or poll them; the span ends when this is dropped"]
    pub struct Instrumented<F: Future, S: Scope> {
        #[pin]
        inner: F,
        ctx: Context,
        scope: Option<S>,
        check: Option<OutcomeCheck<F::Output>>,
    }
    impl<F: Future, S: Scope> PinnedDrop for Instrumented<F, S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(scope) = this.scope.take() {
                scope.close();
            }
        }
    }
}

impl<F: Future, S: Scope> Instrumented<F, S> {
    /// A future running `inner` inside `scope` with `ctx` current on every
    /// poll; `check` (for `Result` outputs) decides whether it failed.
    pub fn new(inner: F, ctx: Context, scope: S, check: Option<OutcomeCheck<F::Output>>) -> Self {
        Instrumented { inner, ctx, scope: Some(scope), check }
    }
}

impl<F: Future, S: Scope> std::fmt::Debug for Instrumented<F, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumented").field("ctx", &self.ctx).finish_non_exhaustive()
    }
}

impl<F: Future, S: Scope> Future for Instrumented<F, S> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let inner = this.inner;
        let polled =
            with_entered(this.ctx, || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                if let Some(mut scope) = this.scope.take() {
                    if let Some((t, m)) = this.check.and_then(|c| c(&out)) {
                        scope.fail(&t, &m, true);
                    }
                    scope.close();
                }
                Poll::Ready(out)
            }
            Err(payload) => {
                if let Some(mut scope) = this.scope.take() {
                    scope.fail("panic", &panic_message(&*payload), true);
                    scope.close();
                }
                std::panic::resume_unwind(payload)
            }
        }
    }
}
