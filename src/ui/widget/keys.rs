//! The window's own keys, seen before any field: Escape (which a focused
//! text field would otherwise swallow to drop its focus), Tab and the
//! F-keys. The wrapper sits around the whole window, so a key means the same
//! on every screen and in iced's emulator as in the real window (a keyboard
//! subscription sees only keys no widget took, and the emulator feeds
//! subscriptions no keys at all).

use iced::advanced::layout;
use iced::advanced::mouse;
use iced::advanced::overlay;
use iced::advanced::renderer;
use iced::advanced::widget::{tree, Operation, Tree};
use iced::advanced::{Clipboard, Layout, Shell, Widget};
use iced::keyboard::{self, key::Named, Modifiers};
use iced::{Element, Event, Length, Rectangle, Size, Vector};

use super::wedge::{Flush, Step, Swiped, Wedge};

/// A key for the window: a named key with Shift or Ctrl held or not, or a
/// character no field took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Named {
        named: Named,
        shift: bool,
        ctrl: bool,
    },
    Char(char),
}

/// Whether the window takes `named` before the fields see it. Enter,
/// arrows and Backspace stay with the field that has the focus.
pub fn is_window_key(named: Named) -> bool {
    use Named as K;
    matches!(
        named,
        K::Escape
            | K::Tab
            | K::F1
            | K::F2
            | K::F3
            | K::F4
            | K::F5
            | K::F6
            | K::F7
            | K::F8
            | K::F9
            | K::F10
            | K::F11
            | K::F12
    )
}

/// Wraps `content`; the window's keys become `on_key(key)` and go no
/// further, any other key or character no widget took becomes `on_key` too
/// (Enter on a screen without a field, a digit choosing a card's
/// application), and everything else passes through.
///
/// A magnetic stripe swipe typed by a keyboard-wedge reader is taken out
/// before the fields too ([`super::wedge`]) and becomes `on_swipe`.
pub fn catch<'a, Message: 'a>(
    content: impl Into<Element<'a, Message>>,
    on_key: fn(Key) -> Message,
    on_swipe: fn(Swiped) -> Message,
) -> Element<'a, Message> {
    Element::new(Catch {
        content: content.into(),
        on_key,
        on_swipe,
    })
}

struct Catch<'a, Message> {
    content: Element<'a, Message>,
    on_key: fn(Key) -> Message,
    on_swipe: fn(Swiped) -> Message,
}

fn is_modifier(named: Named) -> bool {
    matches!(
        named,
        Named::Shift | Named::Control | Named::Alt | Named::AltGraph | Named::Super | Named::Meta
    )
}

/// The swipe being held, and how the window gets its characters.
#[derive(Default)]
struct CatchState {
    wedge: Wedge,
    /// Characters come as input-method commits (else as key presses).
    via_ime: bool,
}

/// `c` typed, as the fields get characters now (held keys given back).
fn typed_event(c: char, via_ime: bool) -> Event {
    let s = c.to_string();
    if via_ime {
        return Event::InputMethod(iced::advanced::input_method::Event::Commit(s));
    }
    Event::Keyboard(keyboard::Event::KeyPressed {
        key: keyboard::Key::Character(s.as_str().into()),
        modified_key: keyboard::Key::Character(s.as_str().into()),
        physical_key: keyboard::key::Physical::Unidentified(
            keyboard::key::NativeCode::Unidentified,
        ),
        location: keyboard::Location::Standard,
        modifiers: Modifiers::empty(),
        text: Some(s.as_str().into()),
        repeat: false,
    })
}

fn pressed(event: &Event) -> Option<(Named, Modifiers)> {
    match event {
        Event::Keyboard(keyboard::Event::KeyPressed {
            key: keyboard::Key::Named(named),
            modifiers,
            ..
        }) => Some((*named, *modifiers)),
        _ => None,
    }
}

/// The one character a key press typed, if it typed exactly one.
fn typed(event: &Event) -> Option<char> {
    match event {
        Event::Keyboard(keyboard::Event::KeyPressed {
            text: Some(t),
            modifiers,
            ..
        }) if !modifiers.control() && !modifiers.alt() => {
            let mut chars = t.chars();
            let c = chars.next()?;
            chars
                .next()
                .is_none()
                .then_some(c)
                .filter(|c| !c.is_control())
        }
        _ => None,
    }
}

impl<Message> Widget<Message, iced::Theme, iced::Renderer> for Catch<'_, Message> {
    fn tag(&self) -> tree::Tag {
        tree::Tag::of::<CatchState>()
    }

    fn state(&self) -> tree::State {
        tree::State::new(CatchState::default())
    }

    fn children(&self) -> Vec<Tree> {
        vec![Tree::new(&self.content)]
    }

    fn diff(&self, tree: &mut Tree) {
        tree.diff_children(std::slice::from_ref(&self.content));
    }

    fn size(&self) -> Size<Length> {
        self.content.as_widget().size()
    }

    fn layout(
        &mut self,
        tree: &mut Tree,
        renderer: &iced::Renderer,
        limits: &layout::Limits,
    ) -> layout::Node {
        self.content
            .as_widget_mut()
            .layout(&mut tree.children[0], renderer, limits)
    }

    fn operate(
        &mut self,
        tree: &mut Tree,
        layout: Layout<'_>,
        renderer: &iced::Renderer,
        operation: &mut dyn Operation,
    ) {
        self.content
            .as_widget_mut()
            .operate(&mut tree.children[0], layout, renderer, operation);
    }

    fn update(
        &mut self,
        tree: &mut Tree,
        event: &Event,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        renderer: &iced::Renderer,
        clipboard: &mut dyn Clipboard,
        shell: &mut Shell<'_, Message>,
        viewport: &Rectangle,
    ) {
        let now = iced::time::Instant::now();
        let state = tree.state.downcast_mut::<CatchState>();
        let mut flushed = state.wedge.tick(now);
        let mut step = Step::Pass;
        match event {
            // With an input method (X11 and Wayland, once a field has the
            // focus) the characters come as commits, their key presses
            // without text: those presses are held with the swipe.
            Event::InputMethod(iced::advanced::input_method::Event::Commit(text)) => {
                state.via_ime = true;
                for c in text.chars() {
                    let (flush, s) = state.wedge.key(Some(c), false, now);
                    flushed = flushed.or(flush);
                    step = s;
                }
            }
            Event::Keyboard(keyboard::Event::KeyPressed {
                key: keyboard::Key::Character(_),
                text: None,
                ..
            }) if state.wedge.holding() => step = Step::Held,
            // A reader types `%`, `^` and `?` with Shift held, as a person
            // does: the modifier keys neither end a swipe nor start one.
            Event::Keyboard(keyboard::Event::KeyPressed {
                key: keyboard::Key::Named(named),
                ..
            }) if is_modifier(*named) && state.wedge.holding() => step = Step::Held,
            Event::Keyboard(keyboard::Event::KeyPressed { key, .. }) => {
                let enter = matches!(key, keyboard::Key::Named(Named::Enter));
                let c = typed(event);
                if c.is_some() {
                    state.via_ime = false;
                }
                let (flush, s) = state.wedge.key(c, enter, now);
                flushed = flushed.or(flush);
                step = s;
            }
            _ => {}
        }
        let via_ime = state.via_ime;
        match flushed {
            Some(Flush::Swipe(swiped)) => shell.publish((self.on_swipe)(swiped)),
            Some(Flush::Release(held)) => {
                for c in held.chars() {
                    self.content.as_widget_mut().update(
                        &mut tree.children[0],
                        &typed_event(c, via_ime),
                        layout,
                        cursor,
                        renderer,
                        clipboard,
                        shell,
                        viewport,
                    );
                }
            }
            None => {}
        }
        if let Some(at) = tree.state.downcast_ref::<CatchState>().wedge.deadline() {
            shell.request_redraw_at(at);
        }
        if step == Step::Held {
            shell.capture_event();
            return;
        }
        if let Some((named, modifiers)) = pressed(event) {
            if is_window_key(named) {
                shell.publish((self.on_key)(Key::Named {
                    named,
                    shift: modifiers.shift(),
                    ctrl: modifiers.control(),
                }));
                shell.capture_event();
                return;
            }
        }
        self.content.as_widget_mut().update(
            &mut tree.children[0],
            event,
            layout,
            cursor,
            renderer,
            clipboard,
            shell,
            viewport,
        );
        if shell.is_event_captured() {
            return;
        }
        if let Some((named, modifiers)) = pressed(event) {
            shell.publish((self.on_key)(Key::Named {
                named,
                shift: modifiers.shift(),
                ctrl: modifiers.control(),
            }));
        } else if let Some(c) = typed(event) {
            shell.publish((self.on_key)(Key::Char(c)));
        }
    }

    fn mouse_interaction(
        &self,
        tree: &Tree,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        viewport: &Rectangle,
        renderer: &iced::Renderer,
    ) -> mouse::Interaction {
        self.content.as_widget().mouse_interaction(
            &tree.children[0],
            layout,
            cursor,
            viewport,
            renderer,
        )
    }

    fn draw(
        &self,
        tree: &Tree,
        renderer: &mut iced::Renderer,
        theme: &iced::Theme,
        style: &renderer::Style,
        layout: Layout<'_>,
        cursor: mouse::Cursor,
        viewport: &Rectangle,
    ) {
        self.content.as_widget().draw(
            &tree.children[0],
            renderer,
            theme,
            style,
            layout,
            cursor,
            viewport,
        );
    }

    fn overlay<'b>(
        &'b mut self,
        tree: &'b mut Tree,
        layout: Layout<'b>,
        renderer: &iced::Renderer,
        viewport: &Rectangle,
        translation: Vector,
    ) -> Option<overlay::Element<'b, Message, iced::Theme, iced::Renderer>> {
        self.content.as_widget_mut().overlay(
            &mut tree.children[0],
            layout,
            renderer,
            viewport,
            translation,
        )
    }
}
