//! Showing that a secret is there without showing it: what the screens'
//! `Debug` prints for a PIN being typed, so that no log, panic message or
//! test failure ever holds one.

/// Prints as `<redacted N digits>`, never the digits themselves.
pub struct Redacted<'a>(pub &'a str);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<redacted {} digits>", self.0.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use crate::screen::{approval, login};

    #[test]
    fn a_pin_being_typed_never_shows_in_debug() {
        let l = login::State {
            pin: "246813".into(),
            ..login::State::default()
        };
        let shown = format!(
            "{l:?} {:?} {:?}",
            login::Msg::PinChanged("246813".into()),
            login::Msg::Key('7')
        );
        assert!(!shown.contains("246813") && !shown.contains('7'), "{shown}");
        assert!(shown.contains("<redacted 6 digits>"), "{shown}");
        let (mut a, _) = approval::State::ask(approval::Pending::NoSale);
        a.pin = "975310".into();
        let shown = format!("{a:?} {:?}", approval::Msg::Pin("975310".into()));
        assert!(!shown.contains("975310"), "{shown}");
    }
}
