//! Card profiles for the virtual EMV card: what is on the chip and how its
//! own risk management answers. Each profile mirrors a kind of card a till
//! meets (scheme style, CVM, offline behaviour) or a kind of broken card.

use tillpoint_payment::emv::crypto::DesKey;
use tillpoint_payment::emv::cvn::Cvn;

/// Which offline data authentication the card supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oda {
    /// None (AIP bits clear).
    None,
    /// Static data authentication.
    Sda,
    /// Dynamic data authentication.
    Dda,
    /// Combined DDA / application cryptogram generation (the AIP also
    /// says DDA, as CDA cards do).
    Cda,
}

/// A deliberate defect, for testing how the kernel copes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A well-behaved card.
    None,
    /// GPO answers with an AFL whose length is not a multiple of 4.
    WrongLength,
    /// A record declares more bytes than it holds.
    BadTlv,
    /// READ RECORD fails with 6F00.
    UnexpectedStatus,
    /// The card never answers GENERATE AC.
    Silence,
    /// The CDA signature is corrupted (one byte of 9F4B flipped).
    CdaBadSignature,
    /// The CDA transaction data hash leaves out the PDOL data.
    CdaWrongHash,
}

/// How the card's own risk management answers the first GENERATE AC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardPolicy {
    /// Always asks to go online (ARQC) unless the terminal asks for AAC.
    AlwaysOnline,
    /// Grants a TC when asked, up to this amount (minor units).
    OfflineUpTo(u64),
    /// Always declines (AAC), e.g. a blocked or fraud-flagged account.
    Decline,
}

/// How a contactless application answers a tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapKind {
    /// The quick-chip kind (Visa qVSDC, UnionPay qPBOC): the cryptogram
    /// in the GPO answer, fDDA for an offline approval.
    Quick,
    /// The Mastercard kind: records, then one GENERATE AC (with CDA).
    Mastercard,
}

/// What a contactless application does beyond its contact data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contactless {
    /// Kernel kind.
    pub kind: TapKind,
    /// Kernel identifier put in the PPSE entry (9F2A), if any.
    pub kernel_id: Option<u8>,
    /// A phone wallet: it verifies its owner itself (consumer device CVM).
    /// Above the CVM limit a locked phone answers GPO with 6986 ("see
    /// phone") and is unlocked for the next tap.
    pub phone: bool,
    /// The issuer's cumulative contactless allowance is used up: the card
    /// answers GPO with 6984 (try another interface).
    pub exhausted: bool,
}

/// One application on the card.
#[derive(Debug, Clone)]
pub struct AppProfile {
    /// ADF name.
    pub aid: Vec<u8>,
    /// Application label (50).
    pub label: String,
    /// Application priority indicator (87), if any.
    pub priority: Option<u8>,
    /// PAN digits.
    pub pan: String,
    /// PAN sequence number (5F34), BCD.
    pub psn: u8,
    /// Cardholder name (5F20).
    pub cardholder: String,
    /// Expiry YYMMDD, BCD.
    pub expiry: [u8; 3],
    /// Effective date YYMMDD, BCD.
    pub effective: [u8; 3],
    /// Issuer country (ISO 3166 numeric).
    pub issuer_country: u16,
    /// Application currency (ISO 4217 numeric).
    pub currency: u16,
    /// Application version number (9F08).
    pub app_version: [u8; 2],
    /// Application usage control (9F07).
    pub auc: [u8; 2],
    /// CVM list value (8E).
    pub cvm_list: Vec<u8>,
    /// IAC default, denial, online.
    pub iac: [[u8; 5]; 3],
    /// PDOL (empty for none).
    pub pdol: Vec<u8>,
    /// CDOL1.
    pub cdol1: Vec<u8>,
    /// CDOL2.
    pub cdol2: Vec<u8>,
    /// Answer GPO with template 77 instead of 80.
    pub gpo_format2: bool,
    /// Offline data authentication.
    pub oda: Oda,
    /// Lower and upper consecutive offline limits (9F14, 9F23).
    pub offline_limits: Option<(u8, u8)>,
    /// ATC at power-on.
    pub atc: u16,
    /// Last online ATC register.
    pub last_online_atc: u16,
    /// Card risk management policy.
    pub policy: CardPolicy,
    /// Issuer master key for AC (the card holds only the derived ICC key).
    pub issuer_master_key: DesKey,
    /// Issuer master key for script integrity (secure messaging MACs).
    pub issuer_script_key: DesKey,
    /// The published cryptogram version the card computes by and names in
    /// its IAD.
    pub cvn: Cvn,
    /// Derivation key index put in the IAD.
    pub dki: u8,
    /// Language preference (5F2D).
    pub language: String,
    /// Set for an application that is tapped, not inserted.
    pub contactless: Option<Contactless>,
}

/// A whole card.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Name used on the command line.
    pub name: &'static str,
    /// One line for `--help` and the demo.
    pub description: &'static str,
    /// Answer-to-reset.
    pub atr: Vec<u8>,
    /// Whether the card has a PSE directory.
    pub pse: bool,
    /// Answer case-4 commands T=0 style (61xx, then GET RESPONSE; 6Cxx on
    /// READ RECORD with the wrong Le).
    pub t0: bool,
    /// Applications, in directory order.
    pub apps: Vec<AppProfile>,
    /// Deliberate defect.
    pub fault: Fault,
    /// A contactless card: it answers SELECT PPSE (not the PSE) and sits
    /// on the second virtual reader.
    pub contactless: bool,
    /// Two cards in the field: the reader reports a collision (simulated:
    /// PC/SC has no standard signal; see
    /// `tillpoint_payment::emv::entry::SIMULATED_COLLISION_ATR`).
    pub collision: bool,
    /// The card leaves the field after this many command APDUs.
    pub removed_after: Option<u32>,
}

/// The ATR of an ISO 14443-4 card without historical bytes, as PC/SC
/// readers report a contactless card.
const ATR_CONTACTLESS: &str = "3B80800101";

/// A typical T=0 bank-card ATR (14 historical bytes).
const ATR_T0: &str = "3B6E00008031806 6B0840C016E0183009000";

/// PDOL of the UnionPay-style card.
const PDOL_UP: &str = "9F1A029F02065F2A029A039C019F3704";
/// CDOL1 with the Book 2 Table 26 minimum set plus the terminal's view.
const CDOL1: &str = "9F02069F03069F1A0295055F2A029A039C019F37049F35019F3403";
/// CDOL2 carrying the ARC and the same transaction data.
const CDOL2: &str = "8A029F02069F03069F1A0295055F2A029A039C019F3704";
/// CDOL2 that also takes the issuer authentication data (tag 91).
const CDOL2_WITH_91: &str = "8A02910A9F02069F03069F1A0295055F2A029A039C019F3704";
/// PDOL of the quick-chip cards (Visa and UnionPay publish this one): the
/// TTQ and everything the cryptogram covers.
const PDOL_QUICK: &str = "9F66049F02069F03069F1A0295055F2A029A039C019F3704";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap_or_default()
}

fn key(s: &str) -> DesKey {
    DesKey::from_hex(s).unwrap_or_else(|| DesKey::new([0x11; 16]))
}

fn visa_app(pan: &str) -> AppProfile {
    AppProfile {
        aid: h("A0000000031010"),
        label: "VISA CREDIT".into(),
        priority: Some(1),
        pan: pan.into(),
        psn: 0x01,
        cardholder: "TEST/CARDHOLDER".into(),
        expiry: [0x30, 0x12, 0x31],
        effective: [0x20, 0x01, 0x01],
        issuer_country: 840,
        currency: 840,
        app_version: [0x00, 0x8C],
        auc: [0xFF, 0x00],
        // Online PIN if supported (apply next), signature, no CVM.
        cvm_list: h("00000000 00000000 4203 1E03 1F03"),
        // IAC default / denial / online (a common Visa issuer setting).
        iac: [h("F040008800"), h("0010000000"), h("F040009800")].map(arr5),
        pdol: Vec::new(),
        cdol1: h(CDOL1),
        cdol2: h(CDOL2),
        gpo_format2: false,
        oda: Oda::Dda,
        offline_limits: Some((3, 6)),
        atc: 0x0010,
        last_online_atc: 0x000F,
        policy: CardPolicy::AlwaysOnline,
        issuer_master_key: key("0123456789ABCDEFFEDCBA9876543210"),
        issuer_script_key: key("FEDCBA98765432100123456789ABCDEF"),
        cvn: Cvn::Visa18,
        dki: 0x01,
        language: "en".into(),
        contactless: None,
    }
}

fn arr5(v: Vec<u8>) -> [u8; 5] {
    let mut a = [0u8; 5];
    for (d, s) in a.iter_mut().zip(v) {
        *d = s;
    }
    a
}

fn unionpay_app() -> AppProfile {
    AppProfile {
        aid: h("A000000333010101"),
        label: "UnionPay Debit".into(),
        priority: Some(1),
        pan: "6212345678901232".into(),
        psn: 0x00,
        cardholder: "ZHANG/SAN".into(),
        expiry: [0x31, 0x06, 0x30],
        effective: [0x21, 0x07, 0x01],
        issuer_country: 156,
        currency: 156,
        app_version: [0x00, 0x30],
        auc: [0xFF, 0x00],
        // Online PIN (apply next), then no CVM.
        cvm_list: h("00000000 00000000 4203 1F03"),
        iac: [h("D84000A800"), h("0010000000"), h("D84004F800")].map(arr5),
        pdol: h(PDOL_UP),
        cdol1: h(CDOL1),
        cdol2: h(CDOL2_WITH_91),
        gpo_format2: true,
        oda: Oda::Sda,
        offline_limits: None,
        atc: 0x0100,
        last_online_atc: 0x00FF,
        policy: CardPolicy::AlwaysOnline,
        issuer_master_key: key("FEDCBA98765432100123456789ABCDEF"),
        issuer_script_key: key("89ABCDEF0123456776543210FEDCBA98"),
        cvn: Cvn::UnionPay01,
        dki: 0x02,
        language: "zhen".into(),
        contactless: None,
    }
}

fn mastercard_app() -> AppProfile {
    let mut app = visa_app("5413330089010434");
    app.aid = h("A0000000041010");
    app.label = "MASTERCARD".into();
    app.issuer_country = 826;
    app.currency = 826;
    app.app_version = [0x00, 0x02];
    // IAC default / denial / online as M/Chip issuers commonly set them.
    app.iac = [h("B450840000"), h("0000000000"), h("B470848000")].map(arr5);
    app.cvn = Cvn::Mastercard16;
    app.issuer_master_key = key("89ABCDEF0123456776543210FEDCBA98");
    app.issuer_script_key = key("0123456789ABCDEFFEDCBA9876543210");
    app.dki = 0x01;
    app
}

/// Every profile the simulator knows.
pub fn all() -> Vec<Profile> {
    let atr = h(ATR_T0);
    let visa = Profile {
        name: "visa-online-pin",
        description: "Visa-style credit card with DDA; online PIN, goes online for every purchase",
        atr: atr.clone(),
        pse: true,
        t0: false,
        apps: vec![visa_app("4761739001010010")],
        fault: Fault::None,
        contactless: false,
        collision: false,
        removed_after: None,
    };
    let unionpay = Profile {
        name: "unionpay-online-pin",
        description:
            "UnionPay-style debit card, no PSE, SDA, online PIN, T=0 GET RESPONSE, ARPC in CDOL2",
        atr: atr.clone(),
        pse: false,
        t0: true,
        apps: vec![unionpay_app()],
        fault: Fault::None,
        contactless: false,
        collision: false,
        removed_after: None,
    };
    let mut offline_app = visa_app("4761739001010119");
    offline_app.aid = h("A0000000032010");
    offline_app.label = "VISA ELECTRON".into();
    offline_app.cvm_list = h("00000000 00000000 1E03 1F03");
    offline_app.oda = Oda::Sda;
    offline_app.policy = CardPolicy::OfflineUpTo(10_000);
    offline_app.iac = [h("0000000000"), h("0000000000"), h("0000000000")].map(arr5);
    let offline = Profile {
        name: "offline-approve",
        description: "approves offline (TC) under the floor limit; signature or no CVM; SDA",
        atr: atr.clone(),
        pse: true,
        t0: false,
        apps: vec![offline_app.clone()],
        fault: Fault::None,
        contactless: false,
        collision: false,
        removed_after: None,
    };
    let mut decline_app = visa_app("4761739001010200");
    decline_app.policy = CardPolicy::Decline;
    decline_app.cvm_list = h("00000000 00000000 1F03");
    let declining = Profile {
        name: "declining",
        description: "card risk management declines every transaction (AAC)",
        atr: atr.clone(),
        pse: true,
        t0: false,
        apps: vec![decline_app],
        fault: Fault::None,
        contactless: false,
        collision: false,
        removed_after: None,
    };
    let mut expired_app = visa_app("4761739001010309");
    expired_app.expiry = [0x23, 0x12, 0x31];
    expired_app.cvm_list = h("00000000 00000000 1F03");
    // Issuer wants expired cards declined offline (IAC denial byte 2 bit 7).
    expired_app.iac = [h("F040008800"), h("0050000000"), h("F040009800")].map(arr5);
    let expired = Profile {
        name: "expired",
        description: "expired card; the issuer action code denies it offline",
        atr: atr.clone(),
        pse: true,
        t0: false,
        apps: vec![expired_app],
        fault: Fault::None,
        contactless: false,
        collision: false,
        removed_after: None,
    };
    let mut second = offline_app;
    second.priority = Some(2);
    second.pan = "4761739001010010".into();
    let two = Profile {
        name: "two-apps",
        description: "Visa Credit (priority 1, online PIN) and Visa Electron (priority 2, offline) on one chip",
        atr: atr.clone(),
        pse: true,
        t0: false,
        apps: vec![visa_app("4761739001010010"), second],
        fault: Fault::None,
        contactless: false,
        collision: false,
        removed_after: None,
    };
    let mut cvn10_app = visa_app("4761739001010036");
    cvn10_app.cvn = Cvn::Visa10;
    let visa_cvn10 = Profile {
        name: "visa-cvn10",
        description: "Visa-style credit card computing by CVN 10 (no session key, ARPC method 1); online PIN, DDA",
        atr: atr.clone(),
        pse: true,
        t0: false,
        apps: vec![cvn10_app],
        fault: Fault::None,
        contactless: false,
        collision: false,
        removed_after: None,
    };
    let mastercard = Profile {
        name: "mastercard-online-pin",
        description: "Mastercard M/Chip-style card, CVN 16 (Mastercard session key with the unpredictable number); online PIN, DDA",
        atr: atr.clone(),
        pse: true,
        t0: false,
        apps: vec![mastercard_app()],
        fault: Fault::None,
        contactless: false,
        collision: false,
        removed_after: None,
    };
    let mut up19_app = unionpay_app();
    up19_app.pan = "6212345678901234569".into();
    up19_app.psn = 0x01;
    let unionpay19 = Profile {
        name: "unionpay-19",
        description: "UnionPay-style debit card with a 19-digit PAN (UICS CVN 01 keys from its rightmost 16 digits)",
        atr: atr.clone(),
        pse: false,
        t0: true,
        apps: vec![up19_app],
        fault: Fault::None,
        contactless: false,
        collision: false,
        removed_after: None,
    };
    let cda = |name: &'static str, description: &'static str, fault: Fault| {
        let mut app = mastercard_app();
        app.oda = Oda::Cda;
        // A PDOL, so the transaction data hash covers GPO data too.
        app.pdol = h(PDOL_UP);
        Profile {
            name,
            description,
            atr: atr.clone(),
            pse: true,
            t0: false,
            apps: vec![app],
            fault,
            contactless: false,
            collision: false,
            removed_after: None,
        }
    };
    let cda_ok = cda(
        "mastercard-cda",
        "Mastercard-style card with CDA: the cryptogram comes signed by the card's RSA key",
        Fault::None,
    );
    let cda_bad_signature = cda(
        "cda-bad-signature",
        "CDA card whose GENERATE AC signature does not recover",
        Fault::CdaBadSignature,
    );
    let cda_wrong_hash = cda(
        "cda-wrong-hash",
        "CDA card whose signed transaction data hash leaves out the PDOL data",
        Fault::CdaWrongHash,
    );
    let broken = |name: &'static str, description: &'static str, fault: Fault| Profile {
        name,
        description,
        atr: atr.clone(),
        pse: true,
        t0: false,
        apps: vec![visa_app("4761739001010010")],
        fault,
        contactless: false,
        collision: false,
        removed_after: None,
    };
    vec![
        visa,
        unionpay,
        offline,
        declining,
        expired,
        two,
        visa_cvn10,
        mastercard,
        unionpay19,
        cda_ok,
        cda_bad_signature,
        cda_wrong_hash,
        broken(
            "broken-length",
            "GPO answers with an AFL of wrong length",
            Fault::WrongLength,
        ),
        broken(
            "broken-tlv",
            "a record with a TLV length beyond its data",
            Fault::BadTlv,
        ),
        broken(
            "broken-status",
            "READ RECORD fails with 6F00",
            Fault::UnexpectedStatus,
        ),
        broken("silent", "never answers GENERATE AC", Fault::Silence),
    ]
    .into_iter()
    .chain(contactless_profiles())
    .collect()
}

fn tap_app(mut app: AppProfile, kind: TapKind, cvn: Cvn) -> AppProfile {
    app.cvn = cvn;
    app.contactless = Some(Contactless {
        kind,
        kernel_id: None,
        phone: false,
        exhausted: false,
    });
    if kind == TapKind::Quick {
        app.pdol = h(PDOL_QUICK);
        app.gpo_format2 = true;
        app.oda = Oda::Dda;
        app.offline_limits = None;
        // Offline (fDDA) up to 50.00; the reader's floor limit decides
        // first.
        app.policy = CardPolicy::OfflineUpTo(5_000);
    } else {
        app.oda = Oda::Cda;
        app.gpo_format2 = true;
        app.offline_limits = None;
    }
    app
}

fn contactless_profile(name: &'static str, description: &'static str, app: AppProfile) -> Profile {
    Profile {
        name,
        description,
        atr: h(ATR_CONTACTLESS),
        pse: false,
        t0: false,
        apps: vec![app],
        fault: Fault::None,
        contactless: true,
        collision: false,
        removed_after: None,
    }
}

/// The contactless cards and phones (on "Virtual PCD 00 01").
fn contactless_profiles() -> Vec<Profile> {
    let mut visa = visa_app("4761739001010150");
    visa.label = "VISA CONTACTLESS".into();
    visa.cvm_list = h("00000000 00000000 4203 1E03 1F03");
    let visa = tap_app(visa, TapKind::Quick, Cvn::Visa18);
    let mut unionpay = unionpay_app();
    unionpay.pan = "6212345678901240".into();
    unionpay.label = "UnionPay QuickPass".into();
    let unionpay = tap_app(unionpay, TapKind::Quick, Cvn::UnionPay01);
    let mut mastercard = mastercard_app();
    mastercard.pan = "5413330089010442".into();
    mastercard.label = "MASTERCARD".into();
    let mut mastercard = tap_app(mastercard, TapKind::Mastercard, Cvn::Mastercard16);
    if let Some(c) = mastercard.contactless.as_mut() {
        c.kernel_id = Some(2);
    }
    let mut phone = visa_app("4761739001010168");
    phone.label = "VISA WALLET".into();
    let mut phone = tap_app(phone, TapKind::Quick, Cvn::Visa18);
    if let Some(c) = phone.contactless.as_mut() {
        c.phone = true;
        c.kernel_id = Some(3);
    }
    let mut exhausted = visa.clone();
    exhausted.pan = "4761739001010176".into();
    if let Some(c) = exhausted.contactless.as_mut() {
        c.exhausted = true;
    }
    let mut two = contactless_profile(
        "tap-two-cards",
        "two cards in the contactless field at once: the reader reports a collision",
        visa.clone(),
    );
    two.collision = true;
    two.atr = tillpoint_payment::emv::entry::SIMULATED_COLLISION_ATR.to_vec();
    let mut early = contactless_profile(
        "tap-removed",
        "a contactless card taken away after SELECT, before its records are read",
        visa.clone(),
    );
    early.removed_after = Some(3);
    vec![
        contactless_profile(
            "tap-visa",
            "Visa contactless card (qVSDC, CVN 18): fDDA offline approval under the floor limit, online PIN above the CVM limit",
            visa,
        ),
        contactless_profile(
            "tap-unionpay",
            "UnionPay QuickPass card (qPBOC, CVN 01): fDDA offline under the floor limit, online PIN above the CVM limit",
            unionpay,
        ),
        contactless_profile(
            "tap-mastercard",
            "Mastercard contactless card (kernel 2, CVN 16): one GENERATE AC with CDA, online PIN above the CVM limit",
            mastercard,
        ),
        contactless_profile(
            "phone-wallet",
            "Visa card in a phone wallet: above the CVM limit a locked phone says \"see phone\", then taps with its own verification (CDCVM)",
            phone,
        ),
        contactless_profile(
            "tap-over-limit",
            "contactless card whose cumulative contactless allowance is used up: asks for the chip (GPO 6984)",
            exhausted,
        ),
        two,
        early,
    ]
}

/// A stripe-only card (UnionPay, no chip; service code 120: online, PIN
/// required) as a keyboard-wedge reader types its track 2, for the demo.
pub const STRIPE_ONLY: &str = ";6212345678901232=30121200000000000000?";

impl Profile {
    /// The magnetic stripe of this card (its first application's PAN and
    /// expiry, service code 201: a chip card) as a keyboard-wedge reader
    /// types track 2, for the demo's swipe.
    pub fn stripe(&self) -> Option<String> {
        let app = self.apps.first()?;
        let yymm = hex::encode(&app.expiry[..2]);
        Some(format!(";{}={yymm}2010000000000?", app.pan))
    }
}

/// A profile by name.
pub fn by_name(name: &str) -> Option<Profile> {
    all().into_iter().find(|p| p.name == name)
}

/// Names of all profiles, for help text.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name).collect()
}
