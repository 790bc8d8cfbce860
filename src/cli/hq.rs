//! `tillpoint hq …`: the head office server and its administration (on the
//! head-office machine), and the till's enrolment and sending (on a till).

use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::Subcommand;

use super::Cli;

#[derive(Debug, Subcommand)]
pub enum HqCmd {
    /// Serve the head-office API over PostgreSQL (migrating its schema
    /// first).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8600.
        #[arg(long, default_value = "127.0.0.1:8600")]
        listen: std::net::SocketAddr,
        /// PostgreSQL, e.g. postgres://tillpoint@127.0.0.1:5432/hq.
        #[arg(long, env = "TILLPOINT_HQ_DATABASE")]
        database: String,
    },
    /// Head office's tills: add one (printing its one-time enrolment
    /// code) or revoke one.
    #[command(subcommand)]
    Till(TillCmd),
    /// Stock at head office: goods received, adjustments, reorder points
    /// and the levels (sales, refunds and voids move it as tills report
    /// them).
    #[command(subcommand)]
    Stock(StockCmd),
    /// On a till: enrol with head office at URL using the code head office
    /// gave for this till; the credential is kept sealed in the data
    /// directory.
    Enrol { url: String, code: String },
    /// On a till: send head office every journal entry it does not hold
    /// yet (exit status 1 when it cannot).
    Sync,
    /// Ingest ENTRIES journal entries from TILLS simulated tills through
    /// head office's ingest path, against a bare batched insert of the same
    /// rows into the same table in the same run (goal: at least half its
    /// rate). Writes into the database it is given: use a scratch one.
    Bench {
        #[arg(long, env = "TILLPOINT_HQ_DATABASE")]
        database: String,
        #[arg(long, default_value_t = 1_000_000)]
        entries: usize,
        #[arg(long, default_value_t = 100)]
        tills: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum TillCmd {
    /// Name a till of a shop and print a one-time enrolment code for it.
    Add {
        #[arg(long, env = "TILLPOINT_HQ_DATABASE")]
        database: String,
        #[arg(long)]
        shop: String,
        #[arg(long)]
        till: String,
    },
    /// Revoke a till's credential (it must enrol again to send).
    Revoke {
        #[arg(long, env = "TILLPOINT_HQ_DATABASE")]
        database: String,
        #[arg(long)]
        shop: String,
        #[arg(long)]
        till: String,
    },
}

/// Which shop, product and quantity a stock entry is about.
#[derive(Debug, clap::Args)]
pub struct StockLine {
    #[arg(long, env = "TILLPOINT_HQ_DATABASE")]
    database: String,
    #[arg(long)]
    shop: String,
    #[arg(long)]
    sku: String,
    /// In the product's unit: 24 pieces, 1.250 kg.
    #[arg(long, allow_hyphen_values = true)]
    qty: String,
    /// What it was: a delivery note, "count 2026-12-01", "broken".
    #[arg(long)]
    note: String,
}

#[derive(Debug, Subcommand)]
pub enum StockCmd {
    /// Goods delivered to a shop.
    Receive(StockLine),
    /// A correction to a shop's level (negative takes stock away).
    Adjust(StockLine),
    /// The level at or below which a product counts as low in a shop.
    Reorder {
        #[arg(long, env = "TILLPOINT_HQ_DATABASE")]
        database: String,
        #[arg(long)]
        shop: String,
        #[arg(long)]
        sku: String,
        #[arg(long)]
        at: String,
    },
    /// The levels (of one shop, or all), or with --low only those at or
    /// below their reorder point.
    List {
        #[arg(long, env = "TILLPOINT_HQ_DATABASE")]
        database: String,
        #[arg(long)]
        shop: Option<String>,
        #[arg(long)]
        low: bool,
    },
}

/// A quantity as typed, signed, in thousandths.
fn qty_milli(text: &str) -> anyhow::Result<i64> {
    let (sign, digits) = match text.trim().strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.trim()),
    };
    let q = tillpoint_core::catalog::Qty::parse(digits)
        .ok_or_else(|| anyhow!("{text:?} is not a quantity (at most three decimals)"))?;
    Ok(sign * q.milli())
}

fn stock(cmd: &StockCmd) -> anyhow::Result<ExitCode> {
    use tillpoint_hq::stock::{self, Entered};
    runtime()?.block_on(async {
        match cmd {
            StockCmd::Receive(l) | StockCmd::Adjust(l) => {
                let what = match cmd {
                    StockCmd::Receive(_) => Entered::Received,
                    _ => Entered::Adjusted,
                };
                let mut client = database(&l.database).await?;
                let q = qty_milli(&l.qty)?;
                stock::enter(&mut client, &l.shop, &l.sku, q, what, &l.note).await?;
                println!("shop {} {}: {} booked", l.shop, l.sku, l.qty);
            }
            StockCmd::Reorder {
                database: url,
                shop,
                sku,
                at,
            } => {
                let client = database(url).await?;
                stock::set_reorder(&client, shop, sku, qty_milli(at)?).await?;
            }
            StockCmd::List {
                database: url,
                shop,
                low,
            } => {
                let client = database(url).await?;
                let rows = if *low {
                    stock::low(&client, shop.as_deref()).await?
                } else {
                    stock::levels(&client, shop.as_deref()).await?
                };
                for l in rows {
                    println!(
                        "{}  {}  {}  (reorder at {})",
                        l.shop,
                        l.sku,
                        tillpoint_core::catalog::Qty(l.qty_milli),
                        tillpoint_core::catalog::Qty(l.reorder_at_milli)
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

async fn database(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let mut client = tillpoint_hq::connect(url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(url)))?;
    tillpoint_hq::migrate(&mut client).await?;
    Ok(client)
}

/// A connection string without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

pub fn hq(cli: &Cli, cmd: &HqCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        HqCmd::Serve { listen, database: url } => runtime()?.block_on(async {
            crate::logging::init_stderr("info");
            let client = database(url).await?;
            let projector = database(url).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            eprintln!("head office listening on http://{}", listener.local_addr()?);
            let state = tillpoint_hq::HqState::new(client);
            tokio::spawn(tillpoint_hq::project::run(projector, state.clone()));
            tillpoint_hq::serve(listener, state).await?;
            Ok(ExitCode::SUCCESS)
        }),
        HqCmd::Till(TillCmd::Add {
            database: url,
            shop,
            till,
        }) => runtime()?.block_on(async {
            let mut client = database(url).await?;
            let code = tillpoint_hq::tills::add_till(&mut client, shop, till).await?;
            println!("{code}");
            eprintln!(
                "enrolment code for shop {shop} till {till}, good for {} hours: on the till run\n  tillpoint hq enrol URL {code}",
                tillpoint_hq::tills::CODE_HOURS
            );
            Ok(ExitCode::SUCCESS)
        }),
        HqCmd::Till(TillCmd::Revoke {
            database: url,
            shop,
            till,
        }) => runtime()?.block_on(async {
            let client = database(url).await?;
            if tillpoint_hq::tills::revoke(&client, shop, till).await? {
                println!("shop {shop} till {till} revoked");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(anyhow!("head office has no till {till} in shop {shop}"))
            }
        }),
        HqCmd::Bench {
            database: url,
            entries,
            tills,
        } => runtime()?.block_on(async {
            let mut client = database(url).await?;
            let run = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let f = tillpoint_hq::bench::run(&mut client, &run.to_string(), *entries, *tills).await?;
            println!("figure                         rate (entries/s)   baseline   ratio  goal        met");
            println!(
                "hq_ingest_{}_entries_{}_tills  {:>12.0}   {:>8.0}   {:.2}   ratio >= 0.5  {}",
                f.entries,
                f.tills,
                f.ingest_rate(),
                f.bare_rate(),
                f.ratio(),
                if f.ratio() >= 0.5 { "yes" } else { "NO" }
            );
            Ok(ExitCode::SUCCESS)
        }),
        HqCmd::Stock(cmd) => stock(cmd),
        HqCmd::Enrol { url, code } => {
            let paths =
                tillpoint_app::till::Paths::resolve(cli.config.clone(), cli.data_dir.clone())?;
            tillpoint_config::private::create_dir(&paths.data_dir)?;
            let info = tillpoint_app::headoffice::enrol(&paths.data_dir, url, code)?;
            println!(
                "enrolled as shop {} till {} with head office {}",
                info.shop, info.till, info.url
            );
            Ok(ExitCode::SUCCESS)
        }
        HqCmd::Sync => {
            let paths =
                tillpoint_app::till::Paths::resolve(cli.config.clone(), cli.data_dir.clone())?;
            let link = tillpoint_app::headoffice::HqLink::load(&paths.data_dir)?
                .ok_or(tillpoint_app::headoffice::HqLinkError::NotEnrolled)?;
            let r = link.sync(&paths.database())?;
            println!(
                "sent {} entries ({} already at head office); head office holds {} of {}",
                r.sent, r.duplicates, r.head_office_at, r.till_at
            );
            Ok(if r.waiting() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
