//! Card-reader commands: list PC/SC readers, run the virtual EMV card on
//! vpcd, and run one test transaction through a reader.

use anyhow::{anyhow, Context};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tillpoint_devices::reader::{list_readers, Reader};
use tillpoint_payment::emv::kernel::{Decision, HostResponse, Kernel, KernelError};
use tillpoint_payment::emv::{entry, TerminalConfig};
use tillpoint_sim::card::{issuer_approval, run_card_sim, sample_purchase, ScriptedCardholder};

/// `tillpoint readers`
pub fn readers() -> anyhow::Result<ExitCode> {
    let names = list_readers()?;
    if names.is_empty() {
        println!("no card reader connected");
        return Ok(ExitCode::FAILURE);
    }
    for n in names {
        println!("{n}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `tillpoint card-sim --profile P --vpcd ADDR`: serves the virtual card to
/// vpcd until killed (reconnecting when pcscd restarts).
pub fn card_sim(profile: &str, vpcd: SocketAddr) -> anyhow::Result<ExitCode> {
    if !vpcd.ip().is_loopback() {
        return Err(anyhow!(
            "the virtual card connects to vpcd on loopback only, not {vpcd}"
        ));
    }
    let stop = AtomicBool::new(false);
    eprintln!("virtual card {profile:?} connecting to vpcd at {vpcd}");
    let summary = run_card_sim(profile, vpcd, &stop)?;
    println!("{summary:?}");
    Ok(ExitCode::SUCCESS)
}

/// `tillpoint card-test`: one purchase through the named (or first) reader,
/// inserted or (`--tap`) tapped, with the simulated issuer answering,
/// printing the masked APDU trace.
pub fn card_test(
    reader: Option<&str>,
    profile: &str,
    amount_minor: u64,
    tap: bool,
) -> anyhow::Result<ExitCode> {
    let reader = Reader::open(reader)?;
    println!("reader: {}", reader.name());
    let atr = reader
        .wait_for_card(Duration::from_secs(10))
        .context("waiting for a card")?;
    println!("ATR {}", hex::encode_upper(&atr));
    let mut card = reader.connect()?;
    let paths = tillpoint_app::till::Paths::resolve(None, None).ok();
    let config = paths
        .and_then(|p| tillpoint_config::Config::load(&p.config_file).ok())
        .map(|(c, _)| c)
        .unwrap_or_default();
    let mut warnings = Vec::new();
    let cfg = TerminalConfig::from_till_config(&config, &mut warnings);
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let mut kernel = Kernel::new(&mut card, &cfg);
    kernel.enable_trace();
    let txn = sample_purchase(amount_minor);
    let mut holder = ScriptedCardholder::default();
    // A PC/SC contactless reader builds its card's ATR by Part 3's rule.
    let tap = tap || entry::is_contactless_atr(&atr);
    let started = if tap {
        kernel.tap(&txn, &mut holder)
    } else {
        kernel.start(&txn, &mut holder)
    };
    let mut first = match started {
        Ok(first) => first,
        Err(KernelError::Tap(outcome)) => {
            // Not a failure of the reader: the card asks for something else.
            println!("final: {outcome:?}");
            for t in kernel.take_trace() {
                println!("{t}");
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let decision = if first.decision == Decision::GoOnline {
        let secrets = first
            .take_card_secrets()
            .ok_or_else(|| anyhow!("the kernel kept no card data"))?;
        let field55 = first
            .online
            .as_ref()
            .map(|o| o.field55.clone())
            .ok_or_else(|| anyhow!("no ARQC"))?;
        let host = issuer_approval(
            profile,
            &secrets.pan,
            secrets.pan_sequence.as_deref(),
            &field55,
        )
        .unwrap_or(HostResponse::Unavailable);
        let done = kernel.complete(host)?;
        println!(
            "final: {:?}, {}, {}, TVR {}, TSI {}",
            done.decision,
            done.receipt.masked_pan,
            done.receipt.app_label,
            hex::encode_upper(done.receipt.tvr),
            hex::encode_upper(done.receipt.tsi)
        );
        done.decision
    } else {
        println!("final: {:?}, {}", first.decision, first.receipt.masked_pan);
        first.decision
    };
    for t in kernel.take_trace() {
        println!("{t}");
    }
    Ok(match decision {
        Decision::ApprovedOffline
        | Decision::ApprovedOnline
        | Decision::ApprovedUnableToGoOnline => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}
