//! Sales by hour as a bar chart (iced canvas).

use iced::mouse;
use iced::widget::canvas::{self, Frame, Geometry, Path, Text};
use iced::{Color, Point, Rectangle, Renderer, Size, Theme};

/// Net takings per hour of day (24 values, minor units).
#[derive(Debug, Clone)]
pub struct HourChart {
    pub by_hour: Vec<i64>,
}

impl<M> canvas::Program<M> for HourChart {
    type State = ();

    fn draw(
        &self,
        _state: &(),
        renderer: &Renderer,
        theme: &Theme,
        bounds: Rectangle,
        _cursor: mouse::Cursor,
    ) -> Vec<Geometry> {
        let mut frame = Frame::new(renderer, bounds.size());
        let palette = theme.extended_palette();
        let max = self.by_hour.iter().copied().max().unwrap_or(0).max(1) as f32;
        let label_h = 18.0;
        let h = bounds.height - label_h;
        let w = bounds.width / 24.0;
        for (hour, v) in self.by_hour.iter().enumerate().take(24) {
            let bar = (*v).max(0) as f32 / max * (h - 4.0);
            let x = hour as f32 * w;
            if bar > 0.0 {
                frame.fill(
                    &Path::rectangle(Point::new(x + 2.0, h - bar), Size::new(w - 4.0, bar)),
                    palette.primary.base.color,
                );
            }
            if hour % 3 == 0 {
                frame.fill_text(Text {
                    content: format!("{hour:02}"),
                    position: Point::new(x + 2.0, h + 2.0),
                    color: palette.background.base.text,
                    size: 13.0.into(),
                    ..Text::default()
                });
            }
        }
        frame.stroke(
            &Path::line(Point::new(0.0, h), Point::new(bounds.width, h)),
            canvas::Stroke::default().with_color(Color {
                a: 0.5,
                ..palette.background.base.text
            }),
        );
        vec![frame.into_geometry()]
    }
}
