//! A strict Abecs 2.12 host against the PIN pad simulator over a real
//! pseudo-terminal. Everything on the host side is written from the
//! specification's tables, not from the project's codec: the packet framing
//! (SYN, DC3 escaping, ETB, CRC-16 with polynomial 1021h and initial value
//! 0000h over the data and ETB, most significant byte first), the command
//! bytes typed out literally, and the responses checked byte by byte. A pad
//! that passes is one a host written to the specification can drive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};
use tillpoint_payment::abecs::link::PortLine;
use tillpoint_payment::pin::CancelToken;
use tillpoint_sim::pinpad::{PinPadSim, PinSource, ServeEnd, SimEvent, SimOptions};

const SYN: u8 = 0x16;
const ETB: u8 = 0x17;
const DC3: u8 = 0x13;
const ACK: u8 = 0x06;
const NAK: u8 = 0x15;
const EOT: u8 = 0x04;
const CAN: u8 = 0x18;

/// CRC-16, polynomial 1021h, initial value 0000h, no reflection.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// `SYN data' ETB CRC`, where data' escapes DC3, SYN and ETB as DC3 + (b + 20h).
fn packet(data: &[u8]) -> Vec<u8> {
    let mut p = vec![SYN];
    for &b in data {
        if matches!(b, DC3 | SYN | ETB) {
            p.extend_from_slice(&[DC3, b + 0x20]);
        } else {
            p.push(b);
        }
    }
    p.push(ETB);
    let mut covered = data.to_vec();
    covered.push(ETB);
    p.extend_from_slice(&crc16(&covered).to_be_bytes());
    p
}

struct Host {
    port: TTYPort,
    _pad: TTYPort,
    stop: CancelToken,
    sim: Option<JoinHandle<(PinPadSim, ServeEnd)>>,
    events: mpsc::Receiver<SimEvent>,
    _dir: tempfile::TempDir,
}

impl Host {
    fn new(configure: impl FnOnce(&mut SimOptions)) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let (master, slave) = TTYPort::pair().expect("pty pair");
        let path = PathBuf::from(slave.name().unwrap());
        let (tx, events) = mpsc::channel();
        let mut opts = SimOptions::new("unused", dir.path().join("ksn.toml"));
        opts.pin_source = PinSource::Script(vec!["1234".into(), "1234".into()]);
        opts.events = Some(tx);
        configure(&mut opts);
        let stop = opts.stop.clone();
        let mut sim = PinPadSim::new(opts).unwrap();
        let s = stop.clone();
        let handle = thread::spawn(move || {
            let mut line = PortLine::new(Box::new(master));
            let end = sim.serve(&mut line, &s);
            (sim, end)
        });
        let mut port = TTYPort::open(
            &serialport::new(path.to_str().unwrap(), 19_200).timeout(Duration::from_millis(50)),
        )
        .unwrap();
        port.set_exclusive(false).ok();
        Host {
            port,
            _pad: slave,
            stop,
            sim: Some(handle),
            events,
            _dir: dir,
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes).unwrap();
        self.port.flush().unwrap();
    }

    /// Reads one byte within `within`.
    fn byte(&mut self, within: Duration) -> Option<u8> {
        let deadline = Instant::now() + within;
        let mut b = [0u8; 1];
        while Instant::now() < deadline {
            match self.port.read(&mut b) {
                Ok(1) => return Some(b[0]),
                _ => continue,
            }
        }
        None
    }

    /// Reads a whole packet (after its SYN), checks its CRC, unescapes it.
    fn packet(&mut self, within: Duration) -> Vec<u8> {
        let deadline = Instant::now() + within;
        loop {
            let b = self
                .byte(deadline.saturating_duration_since(Instant::now()))
                .expect("a packet from the pad");
            if b == SYN {
                break;
            }
        }
        self.body()
    }

    /// The rest of a packet whose SYN was read.
    fn body(&mut self) -> Vec<u8> {
        let mut data = Vec::new();
        loop {
            let b = self.byte(Duration::from_secs(1)).expect("packet body");
            match b {
                ETB => break,
                DC3 => {
                    let e = self.byte(Duration::from_secs(1)).unwrap();
                    assert!(matches!(e, 0x33 | 0x36 | 0x37), "escape {e:02X}");
                    data.push(e - 0x20);
                }
                SYN => panic!("SYN inside a packet"),
                other => data.push(other),
            }
        }
        let hi = self.byte(Duration::from_secs(1)).unwrap();
        let lo = self.byte(Duration::from_secs(1)).unwrap();
        let mut covered = data.clone();
        covered.push(ETB);
        assert_eq!(u16::from_be_bytes([hi, lo]), crc16(&covered), "pad's CRC");
        data
    }

    /// Sends a command, expects ACK and reads the response (a good
    /// response is not acknowledged: the host answers only NAK to a damaged
    /// one). During a blocking command the pad may first send notifications,
    /// `NTM` with status 000 and a message of up to 32 characters.
    fn command(&mut self, body: &[u8]) -> Vec<u8> {
        self.send_raw(&packet(body));
        assert_eq!(
            self.byte(Duration::from_secs(2)),
            Some(ACK),
            "ACK for {body:?}"
        );
        loop {
            let r = self.packet(Duration::from_secs(5));
            if r.starts_with(b"NTM") {
                assert_eq!(&r[..6], b"NTM000", "notification status");
                let len: usize = std::str::from_utf8(&r[6..9]).unwrap().parse().unwrap();
                assert!(len <= 32 && r.len() == 9 + len, "notification length");
                continue;
            }
            return r;
        }
    }

    fn wait(&self, want: impl Fn(&SimEvent) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Ok(e) = self.events.recv_timeout(left) {
                if want(&e) {
                    return;
                }
            }
        }
        panic!("the pad never reported the event");
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(h) = self.sim.take() {
            let _ = h.join();
        }
    }
}

/// GPN_METHOD GPN_KEYIDX(2) GPN_WKENC(32) GPN_PANLEN(2) GPN_PAN(19, left
/// aligned, space padded) GPN_ENTRIES(1), then per entry GPN_MIN(2)
/// GPN_MAX(2) GPN_MSG(32), all in one block after `GPN` and its length.
fn gpn(method: u8, entries: usize) -> Vec<u8> {
    gpn_with_key(method, entries, &[b'0'; 32])
}

/// [`gpn`] with GPN_WKENC set (32 hex digits).
fn gpn_with_key(method: u8, entries: usize, wkenc: &[u8]) -> Vec<u8> {
    let mut block = vec![method];
    block.extend_from_slice(b"00");
    block.extend_from_slice(wkenc);
    block.extend_from_slice(b"164761739001010010   ");
    block.push(b'0' + entries as u8);
    for i in 0..entries {
        block.extend_from_slice(b"0412");
        block.extend_from_slice(format!("{:<32}", format!("ENTRY {i}")).as_bytes());
    }
    let mut body = b"GPN".to_vec();
    body.extend_from_slice(format!("{:03}", block.len()).as_bytes());
    body.extend_from_slice(&block);
    body
}

#[test]
fn gin_00_is_the_specifications_one_100_byte_block() {
    let mut h = Host::new(|_| {});
    assert_eq!(h.command(b"OPN"), b"OPN000");
    let r = h.command(b"GIN00200");
    assert_eq!(&r[..9], b"GIN000100", "ID, status 000, one block of 100");
    assert_eq!(r.len(), 9 + 100, "nothing after the block");
    let info = &r[9..];
    assert!(info.iter().all(|b| (0x20..=0x7E).contains(b)), "printable");
    // GIN_MNAME 20, GIN_MODEL 19, GIN_CTLSSUP 1, GIN_SOVER 20,
    // GIN_SPECVER 4, GIN_MANVER 16, GIN_SERNUM 20.
    assert!(matches!(info[39], b'C' | b' '), "GIN_CTLSSUP is C or space");
    assert_eq!(&info[60..64], b"2.12", "GIN_SPECVER");
    // An acquirer index the pad has no application for: status, no data.
    let r = h.command(b"GIN00207");
    assert_eq!(&r[..3], b"GIN");
    assert_ne!(&r[3..6], b"000");
}

#[test]
fn unknown_commands_and_extensions_on_a_strict_pad_answer_err_010() {
    let mut h = Host::new(|o| o.announce_aes = false);
    assert_eq!(h.command(b"XYZ"), b"ERR010");
    assert_eq!(h.command(b"TXI"), b"ERR010");
    // GPN_METHOD 9 is not in the specification: invalid parameter.
    let mut body = gpn(b'9', 1);
    assert_eq!(h.command(&body), b"GPN011");
    body[..3].copy_from_slice(b"TXP");
    assert_eq!(h.command(&body), b"ERR010");
}

#[test]
fn gpn_method_3_answers_a_16_hex_pin_block_and_a_20_hex_ksn() {
    let mut h = Host::new(|_| {});
    let r = h.command(&gpn(b'3', 1));
    assert_eq!(&r[..9], b"GPN000036", "{}", String::from_utf8_lossy(&r));
    assert!(r[9..].iter().all(u8::is_ascii_hexdigit));
    // Methods 0-2 name keys this pad does not hold: a status, no data.
    for m in [b'0', b'1', b'2'] {
        let r = h.command(&gpn(m, 1));
        assert_eq!(r.len(), 6, "{}", String::from_utf8_lossy(&r));
        assert_eq!(&r[..3], b"GPN");
        assert_ne!(&r[3..6], b"000");
    }
    // A method outside 0-3, and a field of the wrong length: 011.
    assert_eq!(h.command(&gpn(b'7', 1)), b"GPN011");
    let mut short = gpn(b'3', 1);
    short.truncate(short.len() - 1);
    let len = format!("{:03}", short.len() - 6);
    short[3..6].copy_from_slice(len.as_bytes());
    assert_eq!(h.command(&short), b"GPN011");
}

/// Method 1 (MK/WK TDES): GPN_WKENC is the working PIN key under the
/// master key in GPN_KEYIDX; the answer is a format 0 block under the clear
/// working key (16 hex digits) and a KSN of 20 zeros, as the spec's field
/// table says for master/session keys.
#[test]
fn gpn_method_1_uses_the_working_key_under_the_master_key() {
    use tillpoint_payment::pin::master_session;
    let pin_key = [0x13u8; 16];
    let wkenc = hex::encode_upper(master_session::wrap(
        &tillpoint_sim::acquirer::host_keys::DEMO_TMK,
        &pin_key,
    ));
    let mut h = Host::new(|_| {});
    let r = h.command(&gpn_with_key(b'1', 1, wkenc.as_bytes()));
    assert_eq!(&r[..9], b"GPN000036", "{}", String::from_utf8_lossy(&r));
    assert_eq!(&r[25..45], &[b'0'; 20], "no KSN under master/session keys");
    let block: [u8; 8] = hex::decode(&r[9..25]).unwrap().try_into().unwrap();
    let pin = master_session::decrypt_pin(&pin_key, &block, "4761739001010010").unwrap();
    assert_eq!(pin.as_str(), "1234");
}

/// The specification's field table fixes GPN_ENTRIES at 1, but its own
/// example sends three entries and real pads take several: the simulator
/// takes each in turn.
#[test]
fn gpn_with_two_entries_takes_the_pin_twice() {
    let mut h = Host::new(|_| {});
    let r = h.command(&gpn(b'3', 2));
    assert_eq!(&r[..9], b"GPN000036", "{}", String::from_utf8_lossy(&r));
    let prompts = h
        .events
        .try_iter()
        .filter(|e| matches!(e, SimEvent::PinEntryStarted { .. }))
        .count();
    assert_eq!(prompts, 2, "one prompt per GPN entry");
}

#[test]
fn a_damaged_packet_is_naked_and_a_naked_response_is_sent_again() {
    let mut h = Host::new(|_| {});
    let mut bad = packet(b"OPN");
    let n = bad.len();
    bad[n - 1] ^= 0xFF;
    h.send_raw(&bad);
    assert_eq!(
        h.byte(Duration::from_secs(2)),
        Some(NAK),
        "bad CRC is NAKed"
    );
    // The good packet then goes through; the host NAKs the answer once and
    // gets the same answer again.
    h.send_raw(&packet(b"OPN"));
    assert_eq!(h.byte(Duration::from_secs(2)), Some(ACK));
    let first = h.packet(Duration::from_secs(2));
    h.send_raw(&[NAK]);
    let again = h.packet(Duration::from_secs(2));
    assert_eq!(first, again);
    assert_eq!(first, b"OPN000");
}

#[test]
fn can_during_a_blocking_gpn_is_answered_with_eot() {
    let mut h = Host::new(|o| o.pin_source = PinSource::Script(vec!["TIMEOUT".into()]));
    h.send_raw(&packet(&gpn(b'3', 1)));
    assert_eq!(h.byte(Duration::from_secs(2)), Some(ACK));
    h.wait(|e| matches!(e, SimEvent::PinEntryStarted { .. }));
    h.send_raw(&[CAN]);
    // Notifications may come first; then EOT, and no GPN response.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let b = h
            .byte(deadline.saturating_duration_since(Instant::now()))
            .expect("EOT after CAN");
        if b == EOT {
            break;
        }
        assert_eq!(b, SYN, "only a notification packet may precede EOT");
        let n = h.body();
        assert_eq!(&n[..6], b"NTM000");
    }
    // The pad is idle again.
    assert_eq!(h.command(b"OPN"), b"OPN000");
}

#[test]
fn the_hosts_crc_matches_the_specifications_examples() {
    // Abecs 2.12, section 7.2: OPN + ETB gives A8 A9, DSP000 + ETB gives 39 63.
    assert_eq!(crc16(b"OPN\x17"), 0xA8A9);
    assert_eq!(crc16(b"DSP000\x17"), 0x3963);
}
