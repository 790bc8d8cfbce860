//! The command line: parses arguments (clap) and runs each command against
//! an open [`Till`]. `src/main.rs` only calls [`main`].

pub mod acquirer;
pub mod card;
pub mod hq;
pub mod pinpad;
pub mod printer;
pub mod text;

use crate::bench;
use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use tillpoint_app::check;
use tillpoint_app::demo_shop;
use tillpoint_app::service::{Denied, Service};
use tillpoint_app::till::{Paths, Till};
use tillpoint_core::cashier::{Action, Approval, Cashier, Role, Target};

#[derive(Debug, Parser)]
#[command(
    name = "tillpoint",
    version,
    about = "Cashier application for countertop tills"
)]
pub struct Cli {
    /// Config file (default: the platform config dir's tillpoint.toml).
    #[arg(long, global = true, env = tillpoint_app::till::ENV_CONFIG)]
    pub config: Option<PathBuf>,
    /// Data directory with the database and logs (default: the platform data dir).
    #[arg(long, global = true, env = tillpoint_app::till::ENV_DATA_DIR)]
    pub data_dir: Option<PathBuf>,
    /// Kiosk mode for a dedicated till: full screen without window
    /// decorations; the window manager's close request is refused unless a
    /// manager is logged in.
    #[arg(long, global = true)]
    pub kiosk: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Demo mode: a sample shop with simulated devices, on a temporary database
    /// unless --data-dir is given.
    Demo {
        /// No window: ring sample sales, run the self-check and print an X report.
        #[arg(long)]
        text: bool,
        /// Language of the screens: en-US or zh-CN (default: the config's).
        #[arg(long, value_parser = ["en-US", "zh-CN"])]
        lang: Option<String>,
        /// Open at a screen with sample content (for screenshots): startup,
        /// login, sale, weigh, tender, receipt, refund, parked, cash, reports,
        /// settings, help.
        #[arg(long, hide = true)]
        tour: Option<String>,
    },
    /// Product catalog.
    #[command(subcommand)]
    Catalog(CatalogCmd),
    /// Cashier accounts.
    #[command(subcommand)]
    Cashier(CashierCmd),
    /// X report (period so far) or Z report (closes the day).
    Report {
        #[arg(value_parser = ["x", "z"])]
        kind: String,
        /// Supervisor number approving a Z report; the PIN is read from
        /// TILLPOINT_PIN or standard input.
        #[arg(long)]
        supervisor: Option<u32>,
        /// Reprint an earlier Z report by number (marked as a copy).
        #[arg(long)]
        reprint: Option<i64>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export data as CSV.
    #[command(subcommand)]
    Export(ExportCmd),
    /// The till's keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Power-on self-check: one line per check; exit status 1 if any fails.
    Check {
        /// A Z report's journal anchor (16 hex digits, printed on it):
        /// proves the journal still holds it with that Z after it.
        #[arg(long)]
        anchor: Option<String>,
    },
    /// Benchmarks with baselines measured in the same run.
    Bench {
        /// A smaller run that finishes in under a minute.
        #[arg(long)]
        quick: bool,
        /// Print a JSON array of figures.
        #[arg(long)]
        json: bool,
    },
    /// List PC/SC card readers.
    Readers,
    /// Run the virtual EMV card on the vsmartcard vpcd socket (pcscd must run).
    CardSim {
        /// A card profile (PROFILE.md): visa-online-pin, unionpay-online-pin,
        /// offline-approve, declining, expired, two-apps, broken-*, silent;
        /// contactless: tap-visa, tap-unionpay, tap-mastercard, phone-wallet,
        /// tap-over-limit, tap-two-cards, tap-removed. An unknown name lists
        /// them all.
        #[arg(long, default_value = "visa-online-pin")]
        profile: String,
        /// vpcd's socket: 127.0.0.1:35963 is "Virtual PCD 00 00" (the contact
        /// reader), 127.0.0.1:35964 "Virtual PCD 00 01" (contactless).
        #[arg(long, default_value = "127.0.0.1:35963")]
        vpcd: std::net::SocketAddr,
    },
    /// One test purchase through a card reader with the simulated issuer.
    CardTest {
        #[arg(long)]
        reader: Option<String>,
        /// Card profile the simulated issuer assumes (its issuer master key).
        #[arg(long, default_value = "visa-online-pin")]
        profile: String,
        /// Amount in minor units.
        #[arg(long, default_value_t = 2500)]
        amount: u64,
        /// The card is tapped on a contactless reader (PPSE, the kernel its
        /// directory names), not inserted.
        #[arg(long)]
        tap: bool,
    },
    /// Run the PIN pad simulator (Abecs over a serial port or a pty end).
    PinpadSim {
        #[arg(long)]
        port: PathBuf,
        /// File that keeps the DUKPT counters across restarts.
        #[arg(long, default_value = "pinpad-sim.state")]
        state: PathBuf,
        /// A PIN to enter at the next request (repeat for later ones); also
        /// CANCEL, CLEAR, TIMEOUT.
        #[arg(long = "pin")]
        pins: Vec<String>,
        /// Read key presses from standard input instead.
        #[arg(long)]
        stdin: bool,
        /// Faults to inject: noise[:N], bad-crc, drop-ack, nak, slow:MS, split, disconnect[:MS].
        #[arg(long = "fault")]
        faults: Vec<String>,
        #[arg(long, default_value_t = 19200)]
        baud: u32,
    },
    /// ESC/POS printer emulator: listens like a network receipt printer (TCP 9100),
    /// answers status requests and writes one PNG per receipt into --out.
    PrinterSim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: std::net::SocketAddr,
        /// Directory for the receipt PNGs.
        #[arg(long)]
        out: PathBuf,
        /// Paper roll width in mm.
        #[arg(long, default_value = "80", value_parser = ["58", "80"])]
        paper: String,
        /// Start with paper out (until restarted; use --control to switch at run time).
        #[arg(long)]
        paper_out: bool,
        /// Control file read on every status request: words paper-out, cover-open, near-end.
        #[arg(long)]
        control: Option<PathBuf>,
        /// Directory with the fonts (DejaVuSansMono.ttf, wqy-microhei.ttc); default: system fonts.
        #[arg(long)]
        fonts: Option<PathBuf>,
    },
    /// Prints the receipts waiting in the print queue once, on the printer in [printer],
    /// and says why any are still waiting (exit status 1 while receipts wait).
    Print {
        /// Queue a reprint of this receipt number first.
        #[arg(long)]
        reprint: Option<String>,
        /// Only say what waits and why; print nothing.
        #[arg(long)]
        status: bool,
    },
    /// The acquirer host simulator: ISO 8583 on a loopback TCP port, its own
    /// SQLite ledger, EMV (ARQC/ARPC) and DUKPT PIN checks, fault knobs.
    AcquirerSim(acquirer::SimArgs),
    /// QR payment provider simulator: the gateway's signed JSON over HTTPS on
    /// --listen, with the demo's keys and certificate (assets/demo/qr), its own
    /// ledger and fault knobs. Runs until stopped.
    QrSim {
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
        /// A paid code order first answers USERPAYING for this many queries.
        #[arg(long, default_value_t = 0)]
        userpaying: u32,
        /// The customer scans a shown code after this many queries (0: never).
        #[arg(long, default_value_t = 3)]
        auto_scan: u32,
        /// Wait this long before every answer.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Act on requests but never answer.
        #[arg(long)]
        no_answer: bool,
        /// Answer bodies that are not JSON.
        #[arg(long)]
        garbled: bool,
        /// Sign answers with the wrong key.
        #[arg(long)]
        bad_signature: bool,
    },
    /// The till's acquirer link (host in [acquirer]): status, sync, settle, echo.
    #[command(subcommand)]
    Acquirer(acquirer::AcquirerCmd),
    /// Head office: `serve` and `till add|revoke` on the head-office
    /// machine (PostgreSQL); `enrol` and `sync` on a till.
    #[command(subcommand)]
    Hq(hq::HqCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    /// for the commands above; the packages install it.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) made from these commands' help; the
    /// packages install it as tillpoint(1).
    Man,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCmd {
    /// Import products from CSV (sku,name,price,tax_class,category,unit,barcodes).
    Import { file: PathBuf },
    /// Search products by name.
    Search { query: String },
}

#[derive(Debug, Subcommand)]
pub enum CashierCmd {
    /// Add a cashier or change one's name, role or PIN, approved by a
    /// manager (--manager NUMBER; their PIN from TILLPOINT_PIN or the first
    /// line of standard input). The new PIN comes from TILLPOINT_NEW_PIN or
    /// the next line. A till with no cashiers starts with its manager:
    /// `--role manager` without --manager, once.
    Add {
        #[arg(long)]
        number: u32,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "cashier", value_parser = ["cashier", "supervisor", "manager"])]
        role: String,
        #[arg(long)]
        manager: Option<u32>,
    },
    /// List active cashiers.
    List,
    /// Lift a number's lockout after too many wrong PINs; needs a manager
    /// (--manager NUMBER, the PIN read like `add`'s).
    Unlock {
        #[arg(long)]
        number: u32,
        #[arg(long)]
        manager: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// A new outbox key, with every offline advice that waits sealed again
    /// under it (run with the till stopped; safe to run again if stopped
    /// half-way).
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum ExportCmd {
    /// Sales and refunds completed between two dates (shop time, --to exclusive).
    Sales {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn read_pin(prompt: &str) -> anyhow::Result<String> {
    if let Ok(pin) = std::env::var("TILLPOINT_PIN") {
        return Ok(pin);
    }
    read_line(prompt)
}

/// One line of standard input, after a prompt on standard error.
pub(crate) fn read_line(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the PIN")?;
    Ok(line.trim().to_string())
}

fn open(cli: &Cli) -> anyhow::Result<(Till, Option<tracing_appender::non_blocking::WorkerGuard>)> {
    let paths = Paths::resolve(cli.config.clone(), cli.data_dir.clone())?;
    let till = Till::open(paths)?;
    let guard = crate::logging::init(
        &till.paths.logs(),
        &till.config.log_level,
        till.config.log_max_files,
    );
    for w in &till.warnings {
        tracing::warn!("config: {w}");
    }
    Ok((till, guard))
}

/// A supervisor's or manager's approval of `action`, their PIN read like
/// every PIN the command line takes; each refusal said plainly.
fn approve(
    service: &Service,
    number: u32,
    who: &str,
    action: Action,
    target: Target,
) -> anyhow::Result<Approval> {
    let pin = read_pin(&format!("PIN for {who} {number}"))?;
    service
        .approve(number, &pin, action, target)
        .map_err(|why| match why {
            Denied::WrongPin => anyhow!("wrong {who} number or PIN"),
            Denied::Locked { until_ms } => anyhow!(
                "number {number} is locked after too many wrong PINs until {}; a manager can unlock it (tillpoint cashier unlock)",
                service.with_till(|t| t.clock.format(until_ms))
            ),
            Denied::NotAllowed(w) | Denied::Failed(w) => anyhow!(w),
        })
}

/// The till behind the service every command's use cases go through.
pub(crate) fn open_service(
    cli: &Cli,
) -> anyhow::Result<(Service, Option<tracing_appender::non_blocking::WorkerGuard>)> {
    let (till, guard) = open(cli)?;
    Ok((Service::new(till), guard))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        None => {
            let (till, _g) = open(&cli)?;
            let start = tillpoint_ui::Start {
                kiosk: cli.kiosk,
                ..tillpoint_ui::Start::default()
            };
            tillpoint_ui::run(till, start)
                .map_err(|e| anyhow!("the window could not open: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Demo { text, lang, tour }) => {
            run_demo(&cli, *text, lang.as_deref(), tour.as_deref())
        }
        Some(Command::Check { anchor }) => {
            let (service, _g) = open_service(&cli)?;
            let lines = match anchor {
                Some(a) => service.check_anchored(a),
                None => service.check(),
            };
            Ok(print_lines(&lines))
        }
        Some(Command::Catalog(CatalogCmd::Import { file })) => {
            let (service, _g) = open_service(&cli)?;
            let f = std::fs::File::open(file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let sum = service.import_catalog(f)?;
            println!(
                "imported {}: {} added, {} updated",
                file.display(),
                sum.added,
                sum.updated
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Catalog(CatalogCmd::Search { query })) => {
            let (service, _g) = open_service(&cli)?;
            for p in service.search(query).map_err(|e| anyhow!(e))? {
                println!(
                    "{:<10} {:<40} {:>10} {}",
                    p.sku,
                    p.name,
                    p.price.to_string(),
                    p.unit.as_str()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Cashier(CashierCmd::Add {
            number,
            name,
            role,
            manager,
        })) => {
            let (service, _g) = open_service(&cli)?;
            let role = Role::parse(role).ok_or_else(|| anyhow!("unknown role {role}"))?;
            // The manager's PIN first, then the new one: both from standard
            // input (or TILLPOINT_PIN) in that order.
            let approval = match manager {
                Some(m) => Some(approve(
                    &service,
                    *m,
                    "manager",
                    Action::ManageCashiers,
                    Target::Cashier(*number),
                )?),
                None => None,
            };
            let pin = match std::env::var("TILLPOINT_NEW_PIN") {
                Ok(pin) => pin,
                Err(_) if approval.is_some() => read_line(&format!("new PIN for {number}"))?,
                Err(_) => read_pin(&format!("PIN for {number}"))?,
            };
            service
                .save_cashier(
                    &Cashier {
                        number: *number,
                        name: name.clone(),
                        role,
                    },
                    &pin,
                    approval.as_ref(),
                )
                .map_err(|e| anyhow!(e))?;
            println!("cashier {number} ({}) saved", role.as_str());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Cashier(CashierCmd::Unlock { number, manager })) => {
            let (service, _g) = open_service(&cli)?;
            let approval = approve(
                &service,
                *manager,
                "manager",
                Action::ManageCashiers,
                Target::Cashier(*number),
            )?;
            if service
                .unlock_login(*number, &approval)
                .map_err(|e| anyhow!(e))?
            {
                println!("number {number} unlocked");
            } else {
                println!("number {number} was not locked");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Cashier(CashierCmd::List)) => {
            let (service, _g) = open_service(&cli)?;
            for c in service.cashiers().map_err(|e| anyhow!(e))? {
                println!("{:>6}  {:<24} {}", c.number, c.name, c.role.as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report {
            kind,
            supervisor,
            reprint,
            json,
        }) => {
            // The same use cases, and the same approval rule, as the window's.
            let (service, _g) = open_service(&cli)?;
            let clock = service.with_till(|t| t.clock);
            let (view, is_copy) = match (kind.as_str(), reprint) {
                ("z", Some(n)) => (service.z_copy(*n).map_err(|e| anyhow!(e))?, true),
                ("z", None) => {
                    let number = supervisor
                        .ok_or_else(|| anyhow!("a Z report needs --supervisor NUMBER"))?;
                    let approval = approve(
                        &service,
                        number,
                        "supervisor",
                        Action::ZReport,
                        Target::Till,
                    )?;
                    (
                        service.report(Some(&approval)).map_err(|e| anyhow!(e))?,
                        false,
                    )
                }
                _ => (service.report(None).map_err(|e| anyhow!(e))?, false),
            };
            let (report, card) = (view.report, view.card);
            if let Some(p) = view.problem {
                eprintln!("{p}");
            }
            if *json {
                let out = acquirer::ReportJson {
                    report: &report,
                    card: card.as_ref(),
                };
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", text::report(&report, &clock, is_copy));
                if let Some(c) = &card {
                    print!("{}", text::card_summary(c, &clock));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Keys(KeysCmd::Rotate)) => {
            let (service, _g) = open_service(&cli)?;
            let r = service.rotate_outbox_key().map_err(|e| anyhow!(e))?;
            println!(
                "outbox key {} replaced by {}; {} waiting advice(s) sealed again",
                r.old_id, r.new_id, r.resealed
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Export(ExportCmd::Sales { from, to, out })) => {
            let (service, _g) = open_service(&cli)?;
            let clock = service.with_till(|t| t.clock);
            let from_ms = clock
                .parse_date(from)
                .ok_or_else(|| anyhow!("--from {from:?} is not a date like 2026-11-21"))?;
            let to_ms = clock
                .parse_date(to)
                .ok_or_else(|| anyhow!("--to {to:?} is not a date like 2026-11-22"))?;
            if to_ms <= from_ms {
                bail!("--to must be after --from");
            }
            let rows = service
                .sales_between(from_ms, to_ms)
                .map_err(|e| anyhow!(e))?;
            let sink: Box<dyn Write> = match out {
                Some(p) => Box::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot write {}", p.display()))?,
                ),
                None => Box::new(std::io::stdout()),
            };
            let mut w = csv::Writer::from_writer(sink);
            w.write_record(text::EXPORT_HEADER)?;
            for (r, voided) in &rows {
                w.write_record(text::export_row(r, *voided, &clock))?;
            }
            w.flush()?;
            eprintln!("{} sale(s) exported", rows.len());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Bench { quick, json }) => {
            let size = if *quick {
                bench::Size::quick()
            } else {
                bench::Size::full()
            };
            let dir =
                tempfile::tempdir().context("cannot make a temporary directory for the bench")?;
            let quiet = *json;
            let progress = move |s: &str| {
                if !quiet {
                    eprintln!("bench: {s}");
                }
            };
            let figures = bench::store::run(dir.path(), size, &progress)?;
            let mut figures = bench::acquirer::with_forwarding(figures, &progress)?;
            figures.push(bench::emv::run(size, &progress)?);
            figures.push(bench::emv::tap(size, &progress)?);
            figures.extend(bench::gui::run(dir.path(), size, &progress)?);
            if *json {
                println!("{}", serde_json::to_string_pretty(&figures)?);
            } else {
                print!("{}", bench::table(&figures));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::PrinterSim {
            listen,
            out,
            paper,
            paper_out,
            control,
            fonts,
        }) => printer::printer_sim(*listen, out, paper, *paper_out, control, fonts.as_deref()),
        Some(Command::Print { reprint, status }) => {
            printer::print_queue(&cli, reprint.as_deref(), *status)
        }
        Some(Command::AcquirerSim(args)) => acquirer::acquirer_sim(args),
        Some(Command::QrSim {
            listen,
            userpaying,
            auto_scan,
            delay_ms,
            no_answer,
            garbled,
            bad_signature,
        }) => {
            use tillpoint_sim::qr::{start_qr_sim, Faults, QrSimConfig};
            let sim = start_qr_sim(QrSimConfig::demo(*listen)?)?;
            {
                let mut l = sim.ledger();
                l.userpaying_polls = *userpaying;
                l.auto_scan_after = (*auto_scan > 0).then_some(*auto_scan);
            }
            sim.set_faults(Faults {
                delay: std::time::Duration::from_millis(*delay_ms),
                no_answer: *no_answer,
                garbled: *garbled,
                bad_signature: *bad_signature,
            });
            println!(
                "QR provider simulator on {} (merchant {}); Ctrl+C stops it",
                sim.url(),
                tillpoint_sim::qr::demo_keys::MCHID
            );
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        Some(Command::Acquirer(cmd)) => acquirer::acquirer(&cli, cmd),
        Some(Command::Hq(cmd)) => hq::hq(&cli, cmd),
        Some(Command::Readers) => card::readers(),
        Some(Command::PinpadSim {
            port,
            state,
            pins,
            stdin,
            faults,
            baud,
        }) => pinpad::pinpad_sim(
            port.clone(),
            state.clone(),
            pins.clone(),
            *stdin,
            faults.clone(),
            *baud,
        ),
        Some(Command::CardSim { profile, vpcd }) => card::card_sim(profile, *vpcd),
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "tillpoint", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::CardTest {
            reader,
            profile,
            amount,
            tap,
        }) => card::card_test(reader.as_deref(), profile, *amount, *tap),
    }
}

fn print_check(service: &Service) -> ExitCode {
    print_lines(&service.check())
}

fn print_lines(lines: &[check::CheckLine]) -> ExitCode {
    print!("{}", check::render(lines));
    if lines.iter().all(|l| l.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_demo(
    cli: &Cli,
    text_only: bool,
    lang: Option<&str>,
    tour: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let temp;
    let data_dir = match &cli.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("tillpoint-demo-")
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    demo_shop::claim_data_dir(&data_dir)?;
    let config = match &cli.config {
        Some(c) => c.clone(),
        None => {
            let p = data_dir.join("tillpoint.toml");
            if !p.exists() {
                tillpoint_config::private::write(&p, demo_shop::CONFIG_TOML.as_bytes())?;
            }
            p
        }
    };
    let mut till = Till::open(Paths {
        config_file: config,
        data_dir: data_dir.clone(),
    })?;
    let _g = crate::logging::init(
        &till.paths.logs(),
        &till.config.log_level,
        till.config.log_max_files,
    );
    if demo_shop::seed_till(&mut till)? {
        println!("demo shop set up in {}", data_dir.display());
    }
    println!("demo cashiers (number / PIN):");
    for (c, pin) in demo_shop::cashiers() {
        println!(
            "  {:>5} / {}  {} ({})",
            c.number,
            pin,
            c.name,
            c.role.as_str()
        );
    }
    let _printer = demo_shop::start_printer(&mut till)?;
    if let Some(p) = &_printer {
        println!(
            "demo printer at {} prints to {}",
            p.addr,
            data_dir.join("receipts").display()
        );
    }
    if !text_only {
        tillpoint_ui::run(
            till,
            tillpoint_ui::Start {
                demo: true,
                lang: lang.map(str::to_string),
                tour: tour.map(str::to_string),
                exit_when_ready: std::env::var_os("TILLPOINT_EXIT_WHEN_READY").is_some(),
                kiosk: cli.kiosk,
            },
        )
        .map_err(|e| anyhow!("the window could not open: {e}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let receipts = demo_shop::ring_samples(&mut till)?;
    println!("sample receipts: {}", receipts.join(", "));
    let clock = till.clock;
    let service = Service::new(till);
    let code = print_check(&service);
    let x = service.report(None).map_err(|e| anyhow!(e))?;
    print!("{}", text::report(&x.report, &clock, false));
    Ok(code)
}
