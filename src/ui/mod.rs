//! The cashier GUI (iced). `app` holds the state and behaviour, `screen/`
//! one module per screen, `backend` the bridge that runs every blocking job
//! off the UI thread.

pub mod app;
pub mod backend;
pub mod ctx;
pub mod screen;
pub mod theme;
pub mod widget;

use crate::i18n::Lang;
use crate::till::Till;
use app::{App, Effect, Options};
use backend::Backend;

/// Opens the till's window and runs until it is closed.
pub fn run(till: Till, demo: bool) -> iced::Result {
    let opts = Options {
        demo,
        lang: Lang::from_code(&till.config.till.locale),
        dark: false,
    };
    let backend = Backend::new(till);
    iced::application(
        move || {
            let (mut app, effects) = App::new(backend.clone(), opts.clone());
            let task = iced::Task::batch(effects.into_iter().map(|e| match e {
                Effect::Job(job) => iced::Task::perform(app.backend.spawn(job), app::Message::Done),
                Effect::Focus(id) => iced::widget::operation::focus(id),
            }));
            app.now_ms =
                (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
            (app, task)
        },
        App::update,
        App::view,
    )
    .title(App::title)
    .theme(App::theme)
    .subscription(App::subscription)
    .window_size((1280.0, 800.0))
    .run()
}
