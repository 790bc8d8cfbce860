//! A keyboard-wedge magnetic stripe reader types a swipe as keystrokes at
//! scanner speed: `%B…?` (track 1) and `;…=…?` (track 2), then Enter.
//! [`Wedge`] tells those keystrokes from typing before any field sees
//! them, so track data is never shown in a field, never put in a message
//! that prints it, and never logged: a start sentinel is held back, and
//! what follows it within [`GAP`] of the key before is held too, up to
//! the reader's Enter (or a pause); what turns out not to be a swipe is
//! given back to the field in order.

use iced::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Longest pause between two keystrokes of one swipe, as the window sees
/// them. Readers type a character every few milliseconds, but the window
/// takes keys in batches, one per frame, and a busy frame (a debug build
/// redrawing the sale screen) can take well over 100 ms: measured under
/// Xvfb, a 4 ms-per-key swipe reached the window in gaps of up to 150 ms,
/// so the gap is far wider than the reader's. A person's `;` or `%` is
/// then held a little longer before it appears; nothing typed is lost.
pub const GAP: Duration = Duration::from_millis(400);

/// Longest swipe held: both tracks, their sentinels and check characters.
const MAX_HELD: usize = 128;

/// The tracks of one swipe as the reader typed them. `Debug` shows nothing
/// of them.
#[derive(Clone, PartialEq, Eq)]
pub struct Swiped(pub Zeroizing<String>);

impl std::fmt::Debug for Swiped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Swiped(<track data>)")
    }
}

/// What to do with keys held so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Flush {
    /// A whole swipe: for the payment, never for a field.
    Swipe(Swiped),
    /// Typing after all: give these characters to the field, in order.
    Release(Zeroizing<String>),
}

/// Whether the key just pressed goes on to the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Pass,
    Held,
}

/// The keystrokes held since a start sentinel, and when the last came.
#[derive(Default)]
pub struct Wedge {
    held: Zeroizing<String>,
    last: Option<Instant>,
}

impl Wedge {
    /// Whether keys are being held (the caller asks to be woken at
    /// `deadline` to settle them if nothing follows).
    pub fn holding(&self) -> bool {
        self.last.is_some()
    }

    /// When held keys are settled if no key comes first.
    pub fn deadline(&self) -> Option<Instant> {
        self.last.map(|t| t + GAP)
    }

    /// A key press: `typed` is its character, `enter` whether it is Enter.
    pub fn key(&mut self, typed: Option<char>, enter: bool, now: Instant) -> (Option<Flush>, Step) {
        let mut flush = None;
        if self.last.is_some_and(|t| now.duration_since(t) > GAP) {
            flush = self.settle();
        }
        if self.last.is_none() {
            return match typed {
                Some('%' | ';') => {
                    self.hold(typed, now);
                    (flush, Step::Held)
                }
                _ => (flush, Step::Pass),
            };
        }
        if enter {
            let done = self.settle();
            let step = if matches!(done, Some(Flush::Swipe(_))) {
                Step::Held
            } else {
                Step::Pass
            };
            return (done, step);
        }
        match typed {
            Some(c) if self.held.len() < MAX_HELD => {
                self.held.push(c);
                self.last = Some(now);
                (flush, Step::Held)
            }
            // Longer than any swipe, or a key that types nothing: typing.
            _ => (self.settle().or(flush), Step::Pass),
        }
    }

    /// No key came within [`GAP`] of the last: a reader that sends no
    /// Enter has finished its swipe, or a person typed a sentinel.
    pub fn tick(&mut self, now: Instant) -> Option<Flush> {
        let due = self.deadline().is_some_and(|d| now >= d);
        due.then(|| self.settle()).flatten()
    }

    fn hold(&mut self, c: Option<char>, now: Instant) {
        self.held.clear();
        self.held.extend(c);
        self.last = Some(now);
    }

    fn settle(&mut self) -> Option<Flush> {
        self.last = None;
        if self.held.is_empty() {
            return None;
        }
        let held = Zeroizing::new(std::mem::take(&mut *self.held));
        Some(if looks_like_a_swipe(&held) {
            Flush::Swipe(Swiped(held))
        } else {
            Flush::Release(held)
        })
    }
}

/// A track 2 (`;` … `?`, an optional check character after it) at the end,
/// after an optional track 1: what every reader sends for a card. Whether
/// the tracks are good is the payment's to say.
fn looks_like_a_swipe(held: &str) -> bool {
    let Some(t2) = held.rfind(';') else {
        return false;
    };
    let track = &held[t2..];
    match track.find('?') {
        Some(end) => track.len() - end <= 2 && end > 2,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(
        w: &mut Wedge,
        text: &str,
        start: Instant,
        every: Duration,
    ) -> Vec<(Option<Flush>, Step)> {
        text.chars()
            .enumerate()
            .map(|(i, c)| w.key(Some(c), false, start + every * i as u32))
            .collect()
    }

    #[test]
    fn a_swipe_at_reader_speed_is_held_and_ends_with_enter() {
        let mut w = Wedge::default();
        let t0 = Instant::now();
        let swipe = "%B4761739001010119^VISA/TEST^2512201?;4761739001010119=2512201?";
        let steps = typed(&mut w, swipe, t0, Duration::from_millis(3));
        assert!(steps.iter().all(|(f, s)| f.is_none() && *s == Step::Held));
        let end = t0 + Duration::from_millis(3 * swipe.len() as u64);
        let (flush, step) = w.key(None, true, end);
        assert_eq!(step, Step::Held, "the reader's Enter is the swipe's");
        assert_eq!(
            flush,
            Some(Flush::Swipe(Swiped(Zeroizing::new(swipe.into()))))
        );
        assert!(!w.holding());
        assert_eq!(
            format!("{:?}", Swiped(Zeroizing::new(swipe.into()))),
            "Swiped(<track data>)"
        );
    }

    #[test]
    fn a_reader_without_enter_ends_at_the_pause() {
        let mut w = Wedge::default();
        let t0 = Instant::now();
        typed(
            &mut w,
            ";4761739001010119=2512201?",
            t0,
            Duration::from_millis(2),
        );
        assert_eq!(w.tick(t0 + Duration::from_millis(10)), None, "not yet");
        assert!(matches!(
            w.tick(t0 + Duration::from_millis(900)),
            Some(Flush::Swipe(_))
        ));
    }

    #[test]
    fn a_person_typing_a_sentinel_gets_it_back() {
        let mut w = Wedge::default();
        let t0 = Instant::now();
        assert_eq!(w.key(Some('%'), false, t0), (None, Step::Held));
        // The next key comes at a person's pace: the % goes to the field
        // first, then this key.
        let (flush, step) = w.key(Some('5'), false, t0 + Duration::from_millis(900));
        assert_eq!(flush, Some(Flush::Release(Zeroizing::new("%".into()))));
        assert_eq!(step, Step::Pass);
        // "10%" then Enter at once (a test's instant keys): the % is given
        // back before the Enter, which goes on to the field.
        assert_eq!(w.key(Some('%'), false, t0), (None, Step::Held));
        let (flush, step) = w.key(None, true, t0);
        assert_eq!(flush, Some(Flush::Release(Zeroizing::new("%".into()))));
        assert_eq!(step, Step::Pass);
        // Left alone, the held ; is given back at the pause.
        w.key(Some(';'), false, t0);
        assert_eq!(
            w.tick(t0 + Duration::from_secs(1)),
            Some(Flush::Release(Zeroizing::new(";".into())))
        );
    }

    #[test]
    fn garbage_after_a_sentinel_is_not_a_swipe() {
        let mut w = Wedge::default();
        let t0 = Instant::now();
        typed(&mut w, ";12", t0, Duration::ZERO);
        let (flush, _) = w.key(None, true, t0);
        assert_eq!(flush, Some(Flush::Release(Zeroizing::new(";12".into()))));
        let long = format!(";{}", "1".repeat(200));
        let steps = typed(&mut w, &long, t0, Duration::ZERO);
        assert!(steps
            .iter()
            .any(|(f, _)| matches!(f, Some(Flush::Release(_)))));
    }
}
