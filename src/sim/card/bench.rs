//! Kernel overhead benchmark for `tillpoint bench`: a full online-PIN
//! transaction, and a tap, against the in-memory card, compared with
//! replaying the same APDUs to the same card without the kernel. The difference is what the
//! kernel itself costs (TLV, DOLs, RSA recovery for ODA, decisions).

use std::time::{Duration, Instant};

use tillpoint_payment::emv::apdu::{CardChannel, ChannelError};
use tillpoint_payment::emv::config::TerminalConfig;
use tillpoint_payment::emv::crypto::CryptogramInput;
use tillpoint_payment::emv::cvn::IssuerAuth;
use tillpoint_payment::emv::kernel::{
    Cardholder, Decision, HostResponse, Kernel, KernelError, Outcome, PinEntry, PinRequest,
    TransactionInput, TxnDate,
};
use tillpoint_payment::emv::select::{ApplicationChooser, Candidate, Choice};
use tillpoint_payment::emv::tlv;

use super::{profile, VirtualCard};

/// A cardholder that answers from a script: which candidate to pick and
/// what happens at the PIN pad. Used by tests, the demo and the benchmark.
#[derive(Debug, Clone)]
pub struct ScriptedCardholder {
    /// Index to choose when several applications are offered.
    pub choice: usize,
    /// The PIN pad result.
    pub pin: PinEntry,
    /// How often a PIN was requested.
    pub pin_requests: u32,
    /// The candidate lists shown.
    pub shown: Vec<Vec<String>>,
    /// How often a tapped card said it had been read.
    pub card_reads: u32,
    /// PINs asked for while a tapped card was still in the field.
    pub pins_before_read: u32,
}

impl Default for ScriptedCardholder {
    fn default() -> Self {
        ScriptedCardholder {
            choice: 0,
            pin: PinEntry::Entered,
            pin_requests: 0,
            shown: Vec::new(),
            card_reads: 0,
            pins_before_read: 0,
        }
    }
}

impl ApplicationChooser for ScriptedCardholder {
    fn choose(&mut self, candidates: &[Candidate]) -> Choice {
        self.shown.push(
            candidates
                .iter()
                .map(|c| c.display_name().to_string())
                .collect(),
        );
        Choice::Select(self.choice)
    }
    fn confirm(&mut self, _candidate: &Candidate) -> bool {
        true
    }
}

impl Cardholder for ScriptedCardholder {
    fn online_pin(&mut self, _request: &PinRequest<'_>) -> PinEntry {
        self.pin_requests += 1;
        if self.card_reads == 0 {
            self.pins_before_read += 1;
        }
        self.pin
    }

    fn card_read(&mut self) {
        self.card_reads += 1;
    }
}

/// A fixed purchase for tests and the benchmark.
pub fn sample_purchase(amount: u64) -> TransactionInput {
    TransactionInput {
        amount,
        amount_other: 0,
        currency: 840,
        currency_exponent: 2,
        txn_type: 0x00,
        date: TxnDate {
            year: 2025,
            month: 6,
            day: 30,
        },
        time: (12, 30, 0),
        unpredictable_number: [0x1A, 0x2B, 0x3C, 0x4D],
        random_selection: 99,
        sequence_counter: 1,
        force_online: false,
    }
}

/// The issuer side of an approval, as the acquirer simulator computes it:
/// the ARPC for the ARQC in `field55`, by the card's cryptogram version.
pub fn issuer_approval(
    profile_name: &str,
    pan: &str,
    psn: Option<&str>,
    field55: &[u8],
) -> Option<HostResponse> {
    let p = profile::by_name(profile_name)?;
    let app = p.apps.iter().find(|a| a.pan == pan)?;
    let list = tlv::parse_all(field55).ok()?;
    let arqc: [u8; 8] = tlv::find_bytes(&list, 0x9F26)?.try_into().ok()?;
    let input = CryptogramInput::from_tlv(&list).ok()?;
    let mk = app
        .cvn
        .icc_master_key(&app.issuer_master_key, pan, psn)
        .ok()?;
    let arc = *b"00";
    let auth = IssuerAuth {
        arc,
        approved: true,
    };
    let iad = app.cvn.issuer_authentication_data(&mk, &input, &arqc, auth);
    Some(HostResponse::Answered {
        arc,
        auth_code: Some("123456".into()),
        issuer_auth_data: Some(iad),
        scripts: Vec::new(),
    })
}

/// Records the commands a kernel sends.
struct Recorder {
    card: VirtualCard,
    commands: Vec<Vec<u8>>,
}

impl CardChannel for Recorder {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.commands.push(apdu.to_vec());
        self.card.transmit(apdu)
    }
}

/// Result of [`bench_kernel`] and [`bench_tap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchReport {
    /// The card profile used.
    pub profile: &'static str,
    /// Transactions timed.
    pub iterations: u32,
    /// APDUs in one transaction.
    pub apdus_per_txn: usize,
    /// Mean time of a full kernel transaction (start + complete).
    pub kernel_per_txn: Duration,
    /// Mean time of the bare APDU exchange of the same transaction.
    pub apdu_only_per_txn: Duration,
}

impl BenchReport {
    /// The kernel's own cost per transaction.
    pub fn overhead_per_txn(&self) -> Duration {
        self.kernel_per_txn.saturating_sub(self.apdu_only_per_txn)
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EMV kernel, {}, {} transactions of {} APDUs: kernel {:?}/txn, bare APDU exchange {:?}/txn, kernel overhead {:?}/txn",
            self.profile,
            self.iterations,
            self.apdus_per_txn,
            self.kernel_per_txn,
            self.apdu_only_per_txn,
            self.overhead_per_txn()
        )
    }
}

/// Times `iterations` online-PIN transactions (each on a fresh copy of the
/// same card, so every run is identical) and the bare replay of their
/// APDUs.
pub fn bench_kernel(iterations: u32) -> Result<BenchReport, KernelError> {
    bench(iterations, "visa-online-pin", false)
}

/// Times `iterations` taps of the Visa contactless card under the floor
/// limit (PPSE, quick-chip GPO, records, fDDA: the card's whole time in
/// the field) and the bare replay of their APDUs.
pub fn bench_tap(iterations: u32) -> Result<BenchReport, KernelError> {
    bench(iterations, "tap-visa", true)
}

/// One 25.00 purchase with the profile's card, inserted or tapped; online
/// when the card asks, with the simulated issuer's approval.
fn transact<C: CardChannel>(
    k: &mut Kernel<'_, C>,
    txn: &TransactionInput,
    tap: bool,
    host: Option<&HostResponse>,
) -> Result<Outcome, KernelError> {
    let mut ch = ScriptedCardholder::default();
    let first = if tap {
        k.tap(txn, &mut ch)?
    } else {
        k.start(txn, &mut ch)?
    };
    match host {
        Some(h) if first.decision == Decision::GoOnline => k.complete(h.clone()),
        _ => Ok(first),
    }
}

fn bench(iterations: u32, name: &'static str, tap: bool) -> Result<BenchReport, KernelError> {
    let iterations = iterations.max(1);
    let profile =
        profile::by_name(name).ok_or_else(|| KernelError::Input("profile missing".into()))?;
    let base = VirtualCard::new(&profile);
    let cfg = TerminalConfig::default();
    let txn = sample_purchase(25_00);

    // One recorded run gives the APDU sequence and the host's answer.
    let mut recorder = Recorder {
        card: base.clone(),
        commands: Vec::new(),
    };
    let host = {
        let mut k = Kernel::new(&mut recorder, &cfg);
        let mut out = transact(&mut k, &txn, tap, None)?;
        let host = match out.decision {
            Decision::GoOnline => {
                let secrets = out
                    .take_card_secrets()
                    .ok_or_else(|| KernelError::Input("no card data".into()))?;
                let field55 = out.online.map(|o| o.field55).unwrap_or_default();
                let host = issuer_approval(
                    name,
                    &secrets.pan,
                    secrets.pan_sequence.as_deref(),
                    &field55,
                )
                .ok_or_else(|| KernelError::Input("no issuer key for the benchmark card".into()))?;
                out = k.complete(host.clone())?;
                Some(host)
            }
            _ => None,
        };
        if !matches!(
            out.decision,
            Decision::ApprovedOnline | Decision::ApprovedOffline
        ) {
            return Err(KernelError::Input(format!(
                "benchmark transaction ended {:?}",
                out.decision
            )));
        }
        host
    };
    let commands = recorder.commands;

    let mut kernel_total = Duration::ZERO;
    for _ in 0..iterations {
        let mut card = base.clone();
        let start = Instant::now();
        let mut k = Kernel::new(&mut card, &cfg);
        transact(&mut k, &txn, tap, host.as_ref())?;
        kernel_total += start.elapsed();
    }
    let mut bare_total = Duration::ZERO;
    for _ in 0..iterations {
        let mut card = base.clone();
        let start = Instant::now();
        for c in &commands {
            card.transmit(c)
                .map_err(|e| KernelError::Input(e.to_string()))?;
        }
        bare_total += start.elapsed();
    }
    Ok(BenchReport {
        profile: name,
        iterations,
        apdus_per_txn: commands.len(),
        kernel_per_txn: kernel_total / iterations,
        apdu_only_per_txn: bare_total / iterations,
    })
}
