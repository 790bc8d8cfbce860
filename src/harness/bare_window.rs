//! `tillpoint-bare-window`: the smallest iced window started the same way
//! as the till, the baseline of the bench's cold-start figure (it quits
//! after its first frame). Built next to `tillpoint`, never shipped.
#![forbid(unsafe_code)]

#[derive(Debug, Clone)]
struct Frame;

fn update(_: &mut (), _: Frame) -> iced::Task<Frame> {
    iced::exit()
}

fn view(_: &()) -> iced::Element<'_, Frame> {
    iced::widget::text("tillpoint").into()
}

fn frames(_: &()) -> iced::Subscription<Frame> {
    iced::window::frames().map(|_| Frame)
}

fn main() -> iced::Result {
    iced::application(|| (), update, view)
        .subscription(frames)
        .window_size((1280.0, 800.0))
        .run()
}
