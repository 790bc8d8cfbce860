//! GUI figures: adding a line to a 500-line cart (update + view + layout,
//! against the same on an empty cart), and cold start to the login screen
//! against a bare iced window started the same way.

use super::{figure, Figure, Samples, Size};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;
use tillpoint_app::service::Service;
use tillpoint_app::till::{Paths, Till};
use tillpoint_i18n::Lang;
use tillpoint_ui::app::{App, Message, Options};
use tillpoint_ui::screen::{login, sale, startup};

fn demo_till(dir: &Path) -> anyhow::Result<Till> {
    std::fs::create_dir_all(dir)?;
    let cfg = dir.join("tillpoint.toml");
    std::fs::write(&cfg, tillpoint_app::demo_shop::CONFIG_TOML)?;
    let mut till = Till::open(Paths {
        config_file: cfg,
        data_dir: dir.to_path_buf(),
    })?;
    let classes = till.config.tax_classes();
    tillpoint_app::demo_shop::seed(&mut till.store, &classes)?;
    Ok(till)
}

fn logged_in_app(dir: &Path) -> anyhow::Result<App> {
    let mut service = Service::new(demo_till(dir)?);
    service.step_delay = std::time::Duration::ZERO;
    let (mut app, effects) = App::new(
        service.clone(),
        Options {
            demo: true,
            lang: Lang::En,
            dark: false,
            exit_when_ready: false,
            kiosk: false,
        },
    );
    for e in effects {
        let mut answers = Vec::new();
        e.perform(&service, &mut |m| answers.push(m));
        for m in answers {
            app.drive(m);
        }
    }
    app.drive(Message::Startup(startup::Msg::Continue));
    for m in [
        login::Msg::NumberChanged("1001".into()),
        login::Msg::Submit,
        login::Msg::PinChanged("1234".into()),
        login::Msg::Submit,
    ] {
        app.drive(Message::Login(m));
    }
    Ok(app)
}

/// One frame's work for a scan: update (with the catalog lookup), view and layout.
fn scan_frame(app: &mut App, code: &str) {
    app.drive(Message::Sale(sale::Msg::Entry(code.to_string())));
    app.drive(Message::Sale(sale::Msg::Submit));
    let ui =
        iced_test::Simulator::with_size(iced::Settings::default(), (1280.0, 800.0), app.view());
    drop(ui);
}

/// Both GUI figures.
pub fn run(dir: &Path, size: Size, progress: &dyn Fn(&str)) -> anyhow::Result<Vec<Figure>> {
    progress("GUI: adding a line to a 500-line cart");
    let mut app = logged_in_app(&dir.join("cart"))?;
    let skus: Vec<String> = (1..=200).map(|i| format!("{i:05}")).collect();
    let mut empty = Samples::default();
    let n = size.commits.min(100);
    for i in 0..n {
        app.sale = tillpoint_core::sale::Sale::new(app.currency, 1001);
        empty.time(|| scan_frame(&mut app, &skus[i % skus.len()]));
    }
    let products: Vec<_> = skus
        .iter()
        .filter_map(|s| {
            app.service
                .with_till(|t| t.store.product_by_sku(s).ok().flatten())
        })
        .filter(|p| p.unit == tillpoint_core::catalog::Unit::Piece)
        .collect();
    app.sale = tillpoint_core::sale::Sale::new(app.currency, 1001);
    let mut k = 0;
    while app.sale.lines.len() < 500 {
        app.sale.add(
            &products[k % products.len()],
            tillpoint_core::catalog::Qty::ONE,
        )?;
        k += 1;
    }
    let mut full = Samples::default();
    for i in 0..n {
        // Alternate products so every scan adds a new line (and remove it again).
        full.time(|| scan_frame(&mut app, &skus[(i * 7 + 3) % skus.len()]));
        app.sale.lines.truncate(500);
    }
    let mut out = vec![figure(
        "gui_add_line_500_cart",
        &full,
        Some(&empty),
        "p99 <= 16 ms (one frame)",
        |_, p99, _| p99 <= 16.0,
    )];

    progress("GUI: cold start to the login screen");
    let exe = std::env::current_exe()?;
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        out.push(Figure {
            name: "gui_cold_start_to_login".into(),
            unit: "ms".into(),
            p50: f64::NAN,
            p99: f64::NAN,
            baseline: None,
            ratio: None,
            goal: "ratio <= 1.5 (needs a display: run under xvfb-run)".into(),
            met: None,
        });
        return Ok(out);
    }
    // The baseline is its own unshipped binary, built next to this one.
    let bare = exe.with_file_name(format!(
        "tillpoint-bare-window{}",
        std::env::consts::EXE_SUFFIX
    ));
    if !bare.is_file() {
        progress(&format!(
            "GUI: cold start skipped: the baseline {} is not next to this binary (cargo build --release builds it)",
            bare.display()
        ));
        out.push(Figure {
            name: "gui_cold_start_to_login".into(),
            unit: "ms".into(),
            p50: f64::NAN,
            p99: f64::NAN,
            baseline: None,
            ratio: None,
            goal: "ratio <= 1.5 (needs tillpoint-bare-window next to tillpoint)".into(),
            met: None,
        });
        return Ok(out);
    }
    let data = dir.join("start");
    drop(demo_till(&data)?);
    let runs = if size.products >= 1_000_000 { 8 } else { 3 };
    let (mut till_start, mut bare_start) = (Samples::default(), Samples::default());
    let time = |program: &Path, args: &[&str], s: &mut Samples| -> anyhow::Result<()> {
        let t = Instant::now();
        let status = Command::new(program)
            .args(args)
            .env("TILLPOINT_EXIT_WHEN_READY", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        s.0.push(t.elapsed());
        anyhow::ensure!(status.success(), "{args:?} exited with {status}");
        Ok(())
    };
    let data_arg = data.to_string_lossy().to_string();
    for _ in 0..runs {
        time(&bare, &[], &mut bare_start)?;
        time(
            &exe,
            &["demo", "--data-dir", &data_arg, "--tour", "login"],
            &mut till_start,
        )?;
    }
    out.push(figure(
        "gui_cold_start_to_login",
        &till_start,
        Some(&bare_start),
        "ratio <= 1.5",
        |_, _, r| r.is_some_and(|r| r <= 1.5),
    ));
    Ok(out)
}
