//! The current context: which span, task, run and session are "current".
//!
//! Sync code uses a thread-local stack, pushed by a guard and popped on drop
//! (the guard is `!Send`). Async code wraps futures so the context is entered
//! on every poll and left after it, like `tracing::Instrument`. To cross
//! `tokio::spawn` or a thread, capture [`Context::current`] and enter it
//! there, or use [`ContextExt::in_current_context`].

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use crate::ids::{SpanId, TraceId};
use crate::task::TaskSpan;

/// The identity of the innermost span, used as the OTel parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLink {
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Whether the span lives in another process.
    pub remote: bool,
}

/// A snapshot of what is current: cheap to clone (a few `Arc`s), `Send`.
#[derive(Clone, Default)]
pub struct Context {
    pub(crate) span: Option<SpanLink>,
    pub(crate) task: Option<TaskSpan>,
    pub(crate) run: Option<TaskSpan>,
    pub(crate) session: Option<Arc<str>>,
    /// What of this frame is its own (always `Frame::Full` outside the
    /// stack): a light span's frame or a task body's inherit from the
    /// frames below, so entering them clones fewer `Arc`s.
    pub(crate) frame: Frame,
}

/// Which fields of a stack frame are its own; the others are those of the
/// nearest frame below that has them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Every field (any context entered as a value).
    #[default]
    Full,
    /// Only `span`: an entered light span.
    Span,
    /// `span` and `task`: a task's body, entered by its builder under the
    /// run and session it belongs to (see [`enter_task`]).
    Task,
}

/// What is current, borrowed from the stack (see [`pick_current`]).
#[derive(Clone, Copy, Default)]
pub(crate) struct View<'a> {
    pub(crate) span: Option<SpanLink>,
    pub(crate) task: Option<&'a TaskSpan>,
    pub(crate) run: Option<&'a TaskSpan>,
    pub(crate) session: Option<&'a Arc<str>>,
}

impl View<'_> {
    /// As an owned context (clones the handles).
    pub(crate) fn to_context(self) -> Context {
        Context {
            span: self.span,
            task: self.task.cloned(),
            run: self.run.cloned(),
            session: self.session.cloned(),
            frame: Frame::Full,
        }
    }
}

/// Enters a light span's frame under what is current, in one visit to the
/// stack: `make` sees the current view and returns the new span's link
/// (which becomes the innermost span, keeping the current task, run and
/// session: no handle cloned) and what else its caller takes from the view.
///
/// One visit rather than a look followed by a push: a light span is the
/// hottest path, and the second borrow of the stack with the values passed
/// between them was about a tenth of its instructions. While thread-local
/// storage is being torn down, `make` sees an empty view and the guard
/// enters nothing.
#[inline]
pub(crate) fn enter_light<T>(make: impl Fn(View<'_>) -> (SpanLink, T)) -> (ContextGuard, T) {
    let entered = STACK.try_with(|s| {
        let mut s = s.try_borrow_mut().ok()?;
        let (link, taken) = make(view_of(&s));
        s.push(Context { span: Some(link), frame: Frame::Span, ..Context::default() });
        Some((s.len(), taken))
    });
    match entered {
        Ok(Some((depth, taken))) => (ContextGuard { depth, _not_send: PhantomData }, taken),
        _ => (ContextGuard { depth: 0, _not_send: PhantomData }, make(View::default()).1),
    }
}

/// What is current, borrowed from a stack: the span is the top frame's;
/// the task the nearest task or full frame's; run and session the nearest
/// full frame's.
#[inline]
fn view_of(s: &[Context]) -> View<'_> {
    let Some(top) = s.last() else { return View::default() };
    let mut task = None;
    for c in s.iter().rev() {
        match c.frame {
            Frame::Span => {}
            Frame::Task => task = task.or(c.task.as_ref()),
            Frame::Full => {
                return View {
                    span: top.span,
                    task: task.or(c.task.as_ref()),
                    run: c.run.as_ref(),
                    session: c.session.as_ref(),
                };
            }
        }
    }
    View { span: top.span, task, ..View::default() }
}

/// Enters `task` for its body, as `task.context().enter()` would, in one
/// visit to the stack. When the run and session current below are the
/// task's own (a task started under the current run: the usual case), the
/// frame holds only the task (`Frame::Task`): no upgrade of the run's weak
/// handle, no clone of the run and session, and none to drop after.
pub(crate) fn enter_task(task: &TaskSpan) -> ContextGuard {
    let depth = STACK.try_with(|s| {
        let mut s = s.try_borrow_mut().ok()?;
        let below = view_of(&s);
        let same_run = matches!((task.run_ptr(), below.run), (Some(run), Some(b)) if std::ptr::eq(run, b.inner_ptr()));
        let same_session = below.session.map(|s| &**s) == task.session_id();
        if same_run && same_session {
            s.push(Context {
                span: Some(task.link()),
                task: Some(task.clone()),
                frame: Frame::Task,
                ..Context::default()
            });
        } else {
            s.push(task.context());
        }
        Some(s.len())
    });
    ContextGuard { depth: depth.ok().flatten().unwrap_or(0), _not_send: PhantomData }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("span", &self.span)
            .field("task", &self.task.as_ref().map(|t| t.name().to_string()))
            .field("run", &self.run.as_ref().map(|t| t.name().to_string()))
            .field("session", &self.session)
            .finish()
    }
}

thread_local! {
    static STACK: RefCell<Vec<Context>> = const { RefCell::new(Vec::new()) };
}

impl Context {
    /// The context current on this thread (empty outside any span).
    pub fn current() -> Context {
        pick_current(|v| Some(v.to_context())).unwrap_or_default()
    }
    /// Borrowed, as [`pick_current`] passes it.
    pub(crate) fn view(&self) -> View<'_> {
        View { span: self.span, task: self.task.as_ref(), run: self.run.as_ref(), session: self.session.as_ref() }
    }
    /// The innermost span.
    pub fn span(&self) -> Option<SpanLink> {
        self.span
    }
    /// The innermost task.
    pub fn task(&self) -> Option<&TaskSpan> {
        self.task.as_ref()
    }
    /// The run (root task).
    pub fn run(&self) -> Option<&TaskSpan> {
        self.run.as_ref()
    }
    /// The bound session id.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_deref()
    }
    /// This context with `session` bound.
    pub fn with_session(mut self, session: Option<Arc<str>>) -> Context {
        self.session = session;
        self
    }
    /// This context with `span` as the innermost span (used to continue a
    /// remote parent).
    pub fn with_span(mut self, span: Option<SpanLink>) -> Context {
        self.span = span;
        self
    }

    /// Makes this context current on this thread until the guard drops.
    /// While the thread's storage is being torn down (in a thread-local
    /// destructor) there is no stack to enter: the guard enters nothing.
    pub fn enter(self) -> ContextGuard {
        let depth = STACK
            .try_with(|s| {
                let mut s = s.try_borrow_mut().ok()?;
                s.push(self);
                Some(s.len())
            })
            .ok()
            .flatten()
            .unwrap_or(0);
        ContextGuard { depth, _not_send: PhantomData }
    }

    /// Makes this context current, as [`Context::enter`] does with a clone
    /// of it, but where the task, run and session current here are already
    /// its own (a bridged `tracing` span entered where it was opened) the
    /// frame holds only its span, as an entered light span's does: no
    /// handle cloned now, none dropped when the guard is.
    pub fn enter_ref(&self) -> ContextGuard {
        let same = |a: Option<&TaskSpan>, b: Option<&TaskSpan>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => std::ptr::eq(a.inner_ptr(), b.inner_ptr()),
            _ => false,
        };
        let depth = STACK
            .try_with(|s| {
                let mut s = s.try_borrow_mut().ok()?;
                let below = view_of(&s);
                let inherits = same(self.task.as_ref(), below.task)
                    && same(self.run.as_ref(), below.run)
                    && self.session.as_deref() == below.session.map(|s| &**s);
                s.push(if inherits {
                    Context { span: self.span, frame: Frame::Span, ..Context::default() }
                } else {
                    Context { frame: Frame::Full, ..self.clone() }
                });
                Some(s.len())
            })
            .ok()
            .flatten()
            .unwrap_or(0);
        ContextGuard { depth, _not_send: PhantomData }
    }

    /// Runs `f` with this context current.
    pub fn in_scope<R>(self, f: impl FnOnce() -> R) -> R {
        let _g = self.enter();
        f()
    }

    /// Wraps a future so that this context is current on every poll.
    pub fn wrap<F: Future>(self, fut: F) -> WithContext<F> {
        WithContext { inner: fut, ctx: self }
    }
}

/// Picks from the current context without cloning all of it; `None`
/// outside any span (or while thread-local storage is torn down). The span
/// is the top frame's; task, run and session the nearest full frame's.
pub(crate) fn pick_current<T>(pick: impl Fn(View<'_>) -> Option<T>) -> Option<T> {
    STACK
        .try_with(|s| {
            let s = s.try_borrow().ok()?;
            if s.is_empty() {
                return None;
            }
            pick(view_of(&s))
        })
        .ok()
        .flatten()
}

/// Restores the previous context when dropped. Not `Send`: a guard cannot
/// leave the thread that entered it, so dropping it on another thread is a
/// compile error rather than a corrupted context:
///
/// ```compile_fail,E0277
/// let guard = dn_core::Context::default().enter();
/// std::thread::spawn(move || drop(guard));
/// ```
#[must_use = "the context is left as soon as the guard is dropped"]
pub struct ContextGuard {
    depth: usize,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextGuard").field("depth", &self.depth).finish()
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let _ = STACK.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                // Out-of-order drops pop everything entered after this guard
                // too; depth 0 is a guard that entered nothing.
                if self.depth > 0 && s.len() >= self.depth {
                    s.truncate(self.depth - 1);
                }
            }
        });
    }
}

/// Pushes `ctx` for the duration of `f`, moving it in and out of the stack
/// without cloning. Panic-safe: the context is restored on unwind.
pub(crate) fn with_entered<R>(ctx: &mut Context, f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        slot: &'a mut Context,
        depth: usize,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let _ = STACK.try_with(|s| {
                if let Ok(mut s) = s.try_borrow_mut() {
                    if s.len() >= self.depth {
                        s.truncate(self.depth);
                        if let Some(c) = s.pop() {
                            *self.slot = c;
                        }
                    }
                }
            });
        }
    }
    let depth = STACK.try_with(|s| {
        let mut s = s.try_borrow_mut().ok()?;
        s.push(std::mem::take(ctx));
        Some(s.len())
    });
    let Ok(Some(depth)) = depth else {
        // No stack to enter (thread-local storage torn down): run as is.
        return f();
    };
    let _restore = Restore { slot: ctx, depth };
    f()
}

pin_project_lite::pin_project! {
    /// A future that enters a [`Context`] on every poll.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct WithContext<F> {
        #[pin]
        inner: F,
        ctx: Context,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let inner = this.inner;
        with_entered(this.ctx, || inner.poll(cx))
    }
}

/// Extension methods to carry the current context into spawned futures.
///
/// ```
/// # use dn_core as dn;
/// use dn::ContextExt as _;
/// # async fn demo() {
/// // tokio::spawn(async { dn::current_task(); }.in_current_context());
/// let fut = async { dn::current_task().is_none() }.in_current_context();
/// assert!(fut.await);
/// # }
/// ```
pub trait ContextExt: Future + Sized {
    /// Wraps `self` so the context current *now* is current on every poll.
    fn in_current_context(self) -> WithContext<Self> {
        Context::current().wrap(self)
    }
    /// Wraps `self` so `ctx` is current on every poll.
    fn in_context(self, ctx: Context) -> WithContext<Self> {
        ctx.wrap(self)
    }
}

impl<F: Future> ContextExt for F {}

/// Binds a session id until the guard drops: every span created meanwhile
/// carries `dreadnode.session.id` and is written to the session's file.
/// Nested binds restore the outer one. Ids that could leave the local
/// directory are rejected.
///
/// An id that could leave the local directory binds nothing and warns
/// (rate-limited); [`try_bind_session_id`] returns the error instead.
///
/// ```
/// # use dn_core as dn;
/// let g = dn::bind_session_id("chat-42");
/// assert_eq!(dn::current_session_id().as_deref(), Some("chat-42"));
/// drop(g);
/// assert!(dn::current_session_id().is_none());
/// assert!(dn::try_bind_session_id("../escape").is_err());
/// ```
pub fn bind_session_id(id: &str) -> ContextGuard {
    session_context(id).enter()
}

/// [`bind_session_id`], returning the error for an id that cannot be used.
pub fn try_bind_session_id(id: &str) -> Result<ContextGuard, crate::Error> {
    crate::clean::validate_component("session id", id)?;
    Ok(Context::current().with_session(Some(id.into())).enter())
}

/// Wraps a future so that session `id` is bound on every poll (on top of the
/// context current when this is called). An id that cannot be used binds
/// nothing and warns.
pub fn with_session_id<F: Future>(id: &str, fut: F) -> WithContext<F> {
    session_context(id).wrap(fut)
}

/// [`with_session_id`], returning the error for an id that cannot be used.
pub fn try_with_session_id<F: Future>(id: &str, fut: F) -> Result<WithContext<F>, crate::Error> {
    crate::clean::validate_component("session id", id)?;
    Ok(Context::current().with_session(Some(id.into())).wrap(fut))
}

fn session_context(id: &str) -> Context {
    static BAD_IDS: crate::WarnLimit = crate::WarnLimit::new(20);
    match crate::clean::validate_component("session id", id) {
        Ok(()) => Context::current().with_session(Some(id.into())),
        Err(e) => {
            BAD_IDS.warn(format_args!("{e}; no session was bound"));
            Context::current()
        }
    }
}

/// The innermost current task, if any.
pub fn current_task() -> Option<TaskSpan> {
    pick_current(|c| c.task.cloned())
}

/// Runs `f` on the innermost current task by reference, without cloning
/// its handle (two atomic operations fewer than [`current_task`], a fifth
/// of a metric point logged through `dn::log_metric`); `None` outside any
/// task. `f` runs while the current context is borrowed, so a context it
/// entered would not be entered: it must not run code that starts or
/// enters spans (user code among it) — use [`current_task`] there.
pub fn with_current_task<R>(f: impl FnOnce(&TaskSpan) -> R) -> Option<R> {
    STACK
        .try_with(|s| {
            let s = s.try_borrow().ok()?;
            if s.is_empty() {
                return None;
            }
            view_of(&s).task.map(f)
        })
        .ok()
        .flatten()
}

/// The current run (the root task of the current tree), if any.
pub fn current_run() -> Option<TaskSpan> {
    pick_current(|c| c.run.cloned())
}

/// The bound session id, if any.
pub fn current_session_id() -> Option<Arc<str>> {
    pick_current(|c| c.session.cloned())
}
