//! What an `update` asks for besides changing its own state: work on the
//! till's service (off the window's thread, its result coming back as the
//! asking screen's own message), a focus change, or leaving. Updates never
//! call the service themselves, so a test can run them without a till and
//! see exactly which work each message asks for.

use tillpoint_app::service::Service;

type Call<M> = Box<dyn FnOnce(&Service) -> Option<M> + Send>;
type Stream<M> = Box<dyn FnOnce(&Service, &mut dyn FnMut(M)) -> Option<M> + Send>;

/// One side effect of an update, producing messages of type `M`.
pub enum Effect<M> {
    /// Work on the service; its answer (if any) comes back as a message.
    Call(Call<M>),
    /// Work that reports progress on the way (a card payment), then ends
    /// with an answer.
    Stream(Stream<M>),
    /// Moves the keyboard focus to the widget with this id.
    Focus(&'static str),
    /// Takes the keyboard focus from every field, so the screen's own
    /// keys (+, −, Enter on a list) reach it; Tab gives a field it back.
    Unfocus,
    /// Moves the keyboard focus to the next field (Tab), or the previous
    /// one (Shift+Tab).
    FocusNext { back: bool },
    /// Gives the keyboard to this window (the cashier's, when the
    /// customer's took it: nobody types on the customer's screen).
    FocusWindow(iced::window::Id),
    /// Closes the window (the cold-start benchmark).
    Exit,
    /// Work done at once, in order, on the window's own thread: only what
    /// never waits (a key of the on-screen PIN pad onto its channel), where
    /// order matters. Work on threads may finish in any order, and PIN
    /// digits reordered that way made a wrong PIN.
    Now(Box<dyn FnOnce(&Service) + Send>),
}

impl<M> std::fmt::Debug for Effect<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Call(_) => f.write_str("Call"),
            Effect::Stream(_) => f.write_str("Stream"),
            Effect::Focus(id) => write!(f, "Focus({id})"),
            Effect::Unfocus => f.write_str("Unfocus"),
            Effect::FocusNext { back } => write!(f, "FocusNext {{ back: {back} }}"),
            Effect::FocusWindow(id) => write!(f, "FocusWindow({id:?})"),
            Effect::Exit => f.write_str("Exit"),
            Effect::Now(_) => f.write_str("Now"),
        }
    }
}

impl<M: Send + 'static> Effect<M> {
    /// Work whose answer comes back as the message `f` makes of it.
    pub fn call(f: impl FnOnce(&Service) -> M + Send + 'static) -> Self {
        Effect::Call(Box::new(move |s| Some(f(s))))
    }

    /// Work done at once and in order on the window's thread (see
    /// [`Effect::Now`]).
    pub fn now(f: impl FnOnce(&Service) + Send + 'static) -> Self {
        Effect::Now(Box::new(f))
    }

    /// Work with no answer to wait for (cancelling a payment, giving back
    /// an approval).
    pub fn run(f: impl FnOnce(&Service) + Send + 'static) -> Self {
        Effect::Call(Box::new(move |s| {
            f(s);
            None
        }))
    }

    /// The refusal beep on the printer's buzzer, where it has one (see
    /// [`Service::beep_refusal`]): what a till sounds when it says no.
    pub fn beep() -> Self {
        Effect::run(|s| {
            s.beep_refusal();
        })
    }

    /// Work that reports progress through `emit` before its answer.
    pub fn stream(f: impl FnOnce(&Service, &mut dyn FnMut(M)) -> M + Send + 'static) -> Self {
        Effect::Stream(Box::new(move |s, emit| Some(f(s, emit))))
    }

    /// The same effect, its messages wrapped by `f` (a screen's `Msg` into
    /// the application's `Message`).
    pub fn map<N: Send + 'static>(self, f: fn(M) -> N) -> Effect<N> {
        match self {
            Effect::Call(c) => Effect::Call(Box::new(move |s| c(s).map(f))),
            Effect::Stream(c) => Effect::Stream(Box::new(move |s, emit| {
                let mut inner = |m: M| emit(f(m));
                c(s, &mut inner).map(f)
            })),
            Effect::Focus(id) => Effect::Focus(id),
            Effect::Unfocus => Effect::Unfocus,
            Effect::FocusNext { back } => Effect::FocusNext { back },
            Effect::FocusWindow(id) => Effect::FocusWindow(id),
            Effect::Exit => Effect::Exit,
            Effect::Now(w) => Effect::Now(w),
        }
    }

    /// Runs the work on this thread, handing each message to `out` (the
    /// tests, and the window's worker threads).
    pub fn perform(self, service: &Service, out: &mut dyn FnMut(M)) {
        match self {
            Effect::Call(c) => {
                if let Some(m) = c(service) {
                    out(m);
                }
            }
            Effect::Stream(c) => {
                if let Some(m) = c(service, out) {
                    out(m);
                }
            }
            Effect::Now(w) => w(service),
            Effect::Focus(_)
            | Effect::Unfocus
            | Effect::FocusNext { .. }
            | Effect::FocusWindow(_)
            | Effect::Exit => {}
        }
    }

    /// Whether this is a focus change to `id` (for tests of updates).
    pub fn is_focus(&self, id: &str) -> bool {
        matches!(self, Effect::Focus(f) if *f == id)
    }

    /// Whether this is work on the service (for tests of updates).
    pub fn is_work(&self) -> bool {
        matches!(self, Effect::Call(_) | Effect::Stream(_) | Effect::Now(_))
    }
}

/// What a screen's `update` returns: its effects, and an event for the
/// application when something outside the screen must change.
pub struct Update<M, E> {
    pub effects: Vec<Effect<M>>,
    pub event: Option<E>,
}

impl<M, E> Update<M, E> {
    pub fn none() -> Self {
        Update {
            effects: Vec::new(),
            event: None,
        }
    }

    pub fn effect(e: Effect<M>) -> Self {
        Update {
            effects: vec![e],
            event: None,
        }
    }

    pub fn event(e: E) -> Self {
        Update {
            effects: Vec::new(),
            event: Some(e),
        }
    }

    pub fn with(mut self, e: Effect<M>) -> Self {
        self.effects.push(e);
        self
    }
}

impl<M, E> Default for Update<M, E> {
    fn default() -> Self {
        Update::none()
    }
}
