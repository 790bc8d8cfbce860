//! Integration tests: the till's Abecs link and the `SerialPinPad` adapter
//! against the PIN pad simulator over a real pseudo-terminal pair
//! (`serialport::TTYPort::pair()`): the simulator answers on the master end,
//! the till opens the slave end by path, exactly as it opens a real port.
//!
//! Link timings are shortened through `LinkConfig` so the suite stays fast;
//! the defaults (2 s ACK, 10 s response) are checked separately.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};
use tillpoint_devices::pinpad::{open_port, PinPadConfig, PinPadError, SerialPinPad};
use tillpoint_payment::abecs::command::{GetPin, Key, PinMethod, Request, Status};
use tillpoint_payment::abecs::frame::{self, Event, FrameDecoder};
use tillpoint_payment::abecs::link::{Link, LinkConfig, PortLine, SerialLine};
use tillpoint_payment::abecs::AbecsError;
use tillpoint_payment::pin::{
    recover_pin, BaseDerivationKeys, CancelToken, FormatPreference, PinBlockFormat, PinEntry,
    PinEntryError, PinRequest, Prompt,
};
use tillpoint_sim::pinpad::{
    run_pinpad_sim, Fault, FaultQueue, PadKey, PinOutcome, PinPadSim, PinSource, ServeEnd,
    SimEvent, SimOptions, TEST_AES_BDK, TEST_TDES_BDK,
};
use zeroize::Zeroizing;

const PAN: &str = "4012345678909";

fn fast_link() -> LinkConfig {
    LinkConfig {
        ack_timeout: Duration::from_millis(300),
        max_attempts: 3,
        response_timeout: Duration::from_millis(700),
        inter_byte_timeout: Duration::from_millis(300),
        eot_timeout: Duration::from_millis(300),
        poll_interval: Duration::from_millis(10),
    }
}

fn bdks() -> BaseDerivationKeys {
    BaseDerivationKeys {
        tdes: Some(Zeroizing::new(TEST_TDES_BDK)),
        aes: Some(Zeroizing::new(TEST_AES_BDK)),
    }
}

/// A simulator serving on the master end of a fresh pty pair.
struct Rig {
    slave_path: PathBuf,
    faults: FaultQueue,
    events: Receiver<SimEvent>,
    stop: CancelToken,
    sim: Option<JoinHandle<(PinPadSim, ServeEnd)>>,
    _slave: TTYPort,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn new(source: PinSource, configure: impl FnOnce(&mut SimOptions)) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let (master, slave) = TTYPort::pair().expect("pty pair");
        let slave_path = PathBuf::from(slave.name().expect("slave name"));
        let (tx, events) = mpsc::channel();
        let mut opts = SimOptions::new("unused", dir.path().join("ksn.toml"));
        opts.pin_source = source;
        opts.events = Some(tx);
        configure(&mut opts);
        let faults = opts.faults.clone();
        let stop = opts.stop.clone();
        let mut sim = PinPadSim::new(opts).unwrap();
        let s = stop.clone();
        let handle = thread::spawn(move || {
            let mut line = PortLine::new(Box::new(master));
            let end = sim.serve(&mut line, &s);
            (sim, end)
        });
        Rig {
            slave_path,
            faults,
            events,
            stop,
            sim: Some(handle),
            _slave: slave,
            _dir: dir,
        }
    }

    fn script(entries: &[&str]) -> Rig {
        Rig::new(
            PinSource::Script(entries.iter().map(|s| s.to_string()).collect()),
            |_| {},
        )
    }

    fn link(&self) -> Link<PortLine> {
        Link::new(
            open_port(self.slave_path.to_str().unwrap(), 19_200).unwrap(),
            fast_link(),
        )
    }

    fn pad(&self) -> SerialPinPad {
        let mut config = PinPadConfig::at_path(&self.slave_path);
        config.link = fast_link();
        config.reconnect_timeout = Duration::from_secs(3);
        SerialPinPad::new(config)
    }

    fn wait_event(&self, want: impl Fn(&SimEvent) -> bool) -> SimEvent {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if want(&e) => return e,
                Ok(_) => {}
                Err(_) => panic!("simulator event never came"),
            }
        }
    }

    fn finish(mut self) -> (PinPadSim, ServeEnd) {
        self.stop.cancel();
        self.sim.take().unwrap().join().unwrap()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(h) = self.sim.take() {
            let _ = h.join();
        }
    }
}

fn pin_request(formats: FormatPreference) -> PinRequest {
    let mut r = PinRequest::new(PAN, Some("EUR 12.34".into()));
    r.timeout = Duration::from_secs(3);
    r.formats = formats;
    r
}

#[test]
fn every_command_through_the_adapter() {
    let rig = Rig::script(&["1234", "246810", "F2"]);
    let mut pad = rig.pad();
    let (note_tx, notes) = mpsc::channel();
    pad.set_notice_sink(note_tx);

    let info = pad.connect().unwrap().clone();
    assert_eq!(pad.port_name(), rig.slave_path.to_str());
    assert_eq!(info.manufacturer, "TILLPOINT");
    assert_eq!(info.spec_version, "2.12");
    assert!(info.capabilities.aes_dukpt_pin);

    pad.show(&Prompt {
        amount: Some("EUR 12.34".into()),
        message: "INSERT CARD".into(),
    })
    .unwrap();
    assert_eq!(
        rig.wait_event(|e| matches!(e, SimEvent::Display(_))),
        SimEvent::Display("EUR 12.34\nINSERT CARD".into())
    );

    // Standard path: TDES DUKPT, ISO 9564 format 0.
    let tdes = pad
        .request_online_pin(&pin_request(FormatPreference::TdesOnly))
        .unwrap();
    assert_eq!(tdes.format, PinBlockFormat::Iso0TdesDukpt);
    assert_eq!(hex::encode_upper(&tdes.ksn), "FFFF9876543210E00001");
    // ANSI X9.24-1:2009 Annex A.4: PIN 1234, PAN 4012345678909, KSN ...E00001.
    assert_eq!(hex::encode_upper(&tdes.block[..]), "1B9C1845EB993A7A");
    assert_eq!(recover_pin(&bdks(), &tdes, PAN).unwrap().as_str(), "1234");
    assert_eq!(
        notes.recv_timeout(Duration::from_secs(1)).unwrap(),
        "PIN ENTRY ON PIN PAD"
    );

    // Extension: AES DUKPT, ISO 9564 format 4, because the pad announced it.
    let aes = pad
        .request_online_pin(&pin_request(FormatPreference::AesIfSupported))
        .unwrap();
    assert_eq!(aes.format, PinBlockFormat::Iso4AesDukpt);
    assert_eq!(hex::encode_upper(&aes.ksn), "123456789012345600000001");
    assert_eq!(aes.block.len(), 16);
    assert_eq!(recover_pin(&bdks(), &aes, PAN).unwrap().as_str(), "246810");

    assert_eq!(
        pad.wait_for_key(Duration::from_secs(2)).unwrap(),
        Key::Function(2)
    );
    pad.disconnect(Some("THANK YOU"));
    assert!(!pad.is_connected());
    let (sim, _) = rig.finish();
    assert_eq!(sim.counters(), (1, 1));
    assert!(!sim.is_open(), "CLO must close the pad");
}

#[test]
fn pad_without_extension_gets_format_0() {
    let rig = Rig::new(PinSource::Script(vec!["4321".into()]), |o| {
        o.announce_aes = false
    });
    let mut pad = rig.pad();
    assert!(!pad.connect().unwrap().capabilities.aes_dukpt_pin);
    let pin = pad
        .request_online_pin(&pin_request(FormatPreference::AesIfSupported))
        .unwrap();
    assert_eq!(pin.format, PinBlockFormat::Iso0TdesDukpt);
    assert_eq!(recover_pin(&bdks(), &pin, PAN).unwrap().as_str(), "4321");
}

/// Master/session keys (GPN method 1): the till hands the pad the session
/// PIN key as the host sent it under the terminal master key; the block is
/// format 0 under the clear session key, with no KSN, and the pad's DUKPT
/// counters do not move. A key under some other master key gives a block
/// the host cannot read as this PIN.
#[test]
fn session_key_pin_through_the_adapter() {
    use tillpoint_payment::pin::master_session;
    use tillpoint_sim::acquirer::host_keys::DEMO_TMK;
    let rig = Rig::script(&["1234", "5678"]);
    let mut pad = rig.pad();
    pad.connect().unwrap();
    let pin_key = [0x29u8; 16];
    let under_tmk = master_session::wrap(&DEMO_TMK, &pin_key);
    let pin = pad
        .request_online_pin(&pin_request(FormatPreference::SessionKey(under_tmk)))
        .unwrap();
    assert_eq!(pin.format, PinBlockFormat::Iso0TdesSession);
    assert_eq!(pin.ksn, vec![0; 10]);
    let block: [u8; 8] = pin.block[..].try_into().unwrap();
    assert_eq!(
        master_session::decrypt_pin(&pin_key, &block, PAN)
            .unwrap()
            .as_str(),
        "1234"
    );
    let other = master_session::wrap(&[0x44; 16], &pin_key);
    let pin = pad
        .request_online_pin(&pin_request(FormatPreference::SessionKey(other)))
        .unwrap();
    let block: [u8; 8] = pin.block[..].try_into().unwrap();
    assert!(
        master_session::decrypt_pin(&pin_key, &block, PAN).map_or(true, |p| p.as_str() != "5678")
    );
    pad.disconnect(None);
    let (sim, _) = rig.finish();
    assert_eq!(sim.counters(), (0, 0), "no DUKPT key was used");
}

#[test]
fn raw_link_commands_and_typed_errors() {
    let rig = Rig::script(&[]);
    let mut link = rig.link();
    link.open().unwrap();
    link.display_ex("LINE ONE\nLINE TWO\nLINE 3").unwrap();
    assert_eq!(
        rig.wait_event(|e| matches!(e, SimEvent::Display(_))),
        SimEvent::Display("LINE ONE\nLINE TWO\nLINE 3".into())
    );
    link.close(Some("CLOSED")).unwrap();
    // GIN for an acquirer index the simulator does not have: typed status error.
    let r = link
        .execute(
            &Request::GetInfo { index: 7 },
            None,
            &CancelToken::new(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(
        r.check("GIN"),
        Err(AbecsError::Status {
            command: "GIN".into(),
            status: Status::InvalidParameter
        })
    );
    // A key slot without keys: status 042 → KeyMissing.
    let gpn = GetPin {
        method: PinMethod::DukptTdes,
        key_index: 7,
        pan: Zeroizing::new(PAN.into()),
        min_len: 4,
        max_len: 6,
        message: "PIN".into(),
        entries: 1,
        working_key: None,
    };
    let e = link
        .get_pin(
            &gpn,
            Duration::from_secs(1),
            &CancelToken::new(),
            &mut |_| {},
        )
        .unwrap_err();
    assert_eq!(
        e,
        AbecsError::Status {
            command: "GPN".into(),
            status: Status::KeyMissing
        }
    );
    // An unknown command, written by hand: the pad answers ERR 010.
    let mut line = link.into_line();
    line.write_all(&frame::encode(b"XYZ").unwrap()).unwrap();
    let events = read_events(&mut line, 2);
    assert_eq!(events[0], Event::Control(frame::Control::Ack));
    assert_eq!(events[1], Event::Frame(b"ERR010".to_vec()));
}

fn read_events(line: &mut PortLine, count: usize) -> Vec<Event> {
    let mut dec = FrameDecoder::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 64];
    while out.len() < count && Instant::now() < deadline {
        let n = line.read(&mut buf, Duration::from_millis(20)).unwrap();
        dec.feed(&buf[..n], &mut out);
    }
    out
}

#[test]
fn crc_errors_and_nak_retries() {
    let rig = Rig::script(&[]);
    let mut link = rig.link();
    // Two commands arrive "damaged" (pad NAKs), the third attempt passes.
    rig.faults.push(Fault::NakCommand);
    rig.faults.push(Fault::NakCommand);
    link.open().unwrap();
    assert_eq!(link.stats().retransmissions, 2);
    // A response with a bad CRC: the till NAKs, the pad resends the good copy.
    rig.faults.push(Fault::BadCrc);
    link.display("CRC TEST").unwrap();
    assert_eq!(link.stats().naks_sent, 1);
    // Three NAKs in a row: the till gives up with a typed error.
    for _ in 0..3 {
        rig.faults.push(Fault::NakCommand);
    }
    assert_eq!(link.display("X"), Err(AbecsError::Rejected { attempts: 3 }));
    // ...and the link still works afterwards.
    link.display("AGAIN").unwrap();
}

#[test]
fn garbage_and_split_frames() {
    let rig = Rig::script(&[]);
    let mut link = rig.link();
    rig.faults.push(Fault::Noise(64));
    link.open().unwrap();
    assert!(link.stats().noise_bytes >= 64);
    rig.faults.push(Fault::Split);
    let info = link.device_info().unwrap();
    assert_eq!(info.model, "SIMPAD;1MB");
    // Garbage the till itself sends before a command is skipped by the pad.
    let mut line = link.into_line();
    line.write_all(&[0x00, 0x41, 0xFF, 0x7E, frame::SYN, b'G'])
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    let mut link = Link::new(line, fast_link());
    link.display("AFTER NOISE").unwrap();
}

#[test]
fn missing_ack_is_recovered_with_can_and_retransmit() {
    let rig = Rig::script(&[]);
    let mut link = rig.link();
    rig.faults.push(Fault::DropAck);
    let started = Instant::now();
    link.open().unwrap();
    assert_eq!(link.stats().retransmissions, 1);
    assert!(link.stats().cans_sent >= 1);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn response_timeout_then_recovery() {
    let rig = Rig::script(&[]);
    let mut link = rig.link();
    link.open().unwrap();
    rig.faults.push(Fault::Slow(Duration::from_millis(1200)));
    let e = link.display("SLOW").unwrap_err();
    assert!(matches!(e, AbecsError::ResponseTimeout { ref command, .. } if command == "DSP"));
    // The late answer arrives while the till waits; it is discarded before the
    // next command instead of being taken as that command's answer.
    thread::sleep(Duration::from_millis(700));
    let info = link.device_info().unwrap();
    assert_eq!(info.manufacturer, "TILLPOINT");
}

#[test]
fn pad_timeout_and_till_timeout_during_pin_entry() {
    // The pad gives up by itself (status 012).
    let rig = Rig::new(PinSource::Script(vec!["TIMEOUT".into()]), |o| {
        o.pin_timeout = Duration::from_millis(300)
    });
    let mut pad = rig.pad();
    assert_eq!(
        pad.request_online_pin(&pin_request(FormatPreference::TdesOnly)),
        Err(PinEntryError::Timeout)
    );
    rig.wait_event(|e| *e == SimEvent::PinEntryEnded(PinOutcome::TimedOut));
    drop(pad);
    drop(rig);

    // The till's own limit is shorter: it aborts with CAN and reports a timeout.
    let rig = Rig::new(PinSource::Script(vec!["TIMEOUT".into()]), |o| {
        o.pin_timeout = Duration::from_secs(30)
    });
    let mut pad = rig.pad();
    let mut req = pin_request(FormatPreference::TdesOnly);
    req.timeout = Duration::from_millis(400);
    assert_eq!(pad.request_online_pin(&req), Err(PinEntryError::Timeout));
    rig.wait_event(|e| *e == SimEvent::PinEntryEnded(PinOutcome::Aborted));
}

#[test]
fn cashier_and_cardholder_cancel() {
    let rig = Rig::script(&["TIMEOUT", "CANCEL", "5555"]);
    let mut pad = rig.pad();
    pad.connect().unwrap();
    let token = pad.cancel_token();
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(250));
        token.cancel();
    });
    let started = Instant::now();
    assert_eq!(
        pad.request_online_pin(&pin_request(FormatPreference::TdesOnly)),
        Err(PinEntryError::CancelledByCashier)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    canceller.join().unwrap();
    rig.wait_event(|e| *e == SimEvent::PinEntryEnded(PinOutcome::Aborted));
    // The cardholder presses Cancel on the pad.
    assert_eq!(
        pad.request_online_pin(&pin_request(FormatPreference::TdesOnly)),
        Err(PinEntryError::CancelledByCardholder)
    );
    // The token was reset: the next entry works.
    let pin = pad
        .request_online_pin(&pin_request(FormatPreference::TdesOnly))
        .unwrap();
    assert_eq!(recover_pin(&bdks(), &pin, PAN).unwrap().as_str(), "5555");
}

#[test]
fn on_screen_pad_channel_with_clear_key() {
    let (keys, rx) = mpsc::channel();
    let rig = Rig::new(PinSource::Channel(rx), |_| {});
    let mut pad = rig.pad();
    pad.connect().unwrap();
    let typist = {
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            for k in [
                PadKey::Digit(9),
                PadKey::Digit(9),
                PadKey::Clear,
                PadKey::Digit(1),
                PadKey::Digit(2),
                PadKey::Digit(3),
                PadKey::Enter, // too short: ignored, entry continues
                PadKey::Digit(4),
                PadKey::Enter,
            ] {
                keys.send(k).unwrap();
                thread::sleep(Duration::from_millis(10));
            }
            keys
        })
    };
    let pin = pad
        .request_online_pin(&pin_request(FormatPreference::AesIfSupported))
        .unwrap();
    assert_eq!(recover_pin(&bdks(), &pin, PAN).unwrap().as_str(), "1234");
    let started = rig.wait_event(|e| matches!(e, SimEvent::PinEntryStarted { .. }));
    assert_eq!(
        started,
        SimEvent::PinEntryStarted {
            message: "EUR 12.34\nENTER PIN".into(),
            min_len: 4,
            max_len: 12
        }
    );
    drop(typist.join().unwrap());
}

#[test]
fn reconnect_after_unplug() {
    let dir = tempfile::tempdir().unwrap();
    let link_path = dir.path().join("pinpad");
    let state = dir.path().join("ksn.toml");
    let faults = FaultQueue::new();
    let stop = CancelToken::new();
    let (swap_tx, swap_rx) = mpsc::channel::<TTYPort>();
    let (gone_tx, gone_rx) = mpsc::channel::<()>();

    let (master_a, slave_a) = TTYPort::pair().unwrap();
    std::os::unix::fs::symlink(slave_a.name().unwrap(), &link_path).unwrap();
    drop(slave_a);

    let mut opts = SimOptions::new("unused", &state);
    opts.pin_source = PinSource::Script(vec!["1111".into(), "2222".into()]);
    opts.faults = faults.clone();
    let mut sim = PinPadSim::new(opts).unwrap();
    let s = stop.clone();
    let sim_thread = thread::spawn(move || {
        let mut line = PortLine::new(Box::new(master_a));
        loop {
            match sim.serve(&mut line, &s) {
                ServeEnd::Stopped => return sim,
                ServeEnd::Disconnect(_) => {
                    drop(line); // the pad is "unplugged"
                    gone_tx.send(()).unwrap();
                    line = PortLine::new(Box::new(swap_rx.recv().unwrap()));
                }
                // The till's end was closed for a while (it is reopening): go on.
                ServeEnd::LineLost(_) => {}
            }
        }
    });

    let mut config = PinPadConfig::at_path(&link_path);
    config.link = fast_link();
    config.reconnect_timeout = Duration::from_secs(4);
    let mut pad = SerialPinPad::new(config);
    let first = pad
        .request_online_pin(&pin_request(FormatPreference::TdesOnly))
        .unwrap();
    assert_eq!(recover_pin(&bdks(), &first, PAN).unwrap().as_str(), "1111");

    // Unplug on the next command; plug a "new" pad (new pty) in behind the same
    // symlink a little later, as udev does after re-enumeration.
    faults.push(Fault::Disconnect(Duration::ZERO));
    let replug = thread::spawn(move || {
        gone_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the disconnect fault never fired");
        thread::sleep(Duration::from_millis(300));
        let (master_b, slave_b) = TTYPort::pair().unwrap();
        let tmp = link_path.with_extension("new");
        std::os::unix::fs::symlink(slave_b.name().unwrap(), &tmp).unwrap();
        std::fs::rename(&tmp, &link_path).unwrap();
        drop(slave_b);
        swap_tx.send(master_b).unwrap();
    });
    pad.show(&Prompt {
        amount: None,
        message: "AFTER REPLUG".into(),
    })
    .unwrap();
    replug.join().unwrap();
    let second = pad
        .request_online_pin(&pin_request(FormatPreference::TdesOnly))
        .unwrap();
    assert_eq!(hex::encode_upper(&second.ksn), "FFFF9876543210E00002");
    assert_eq!(recover_pin(&bdks(), &second, PAN).unwrap().as_str(), "2222");
    stop.cancel();
    let sim = sim_thread.join().unwrap();
    assert_eq!(sim.counters().0, 2);
}

#[test]
fn missing_and_busy_ports_are_named() {
    assert_eq!(
        open_port("/dev/tillpoint-missing", 19_200).err(),
        Some(PinPadError::PortMissing("/dev/tillpoint-missing".into()))
    );
    let (_master, slave) = TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    drop(slave);
    let _held = open_port(&path, 19_200).unwrap();
    assert_eq!(
        open_port(&path, 19_200).err(),
        Some(PinPadError::PortBusy(path.clone()))
    );
    let mut pad = SerialPinPad::new(PinPadConfig {
        reconnect_timeout: Duration::from_millis(200),
        ..PinPadConfig::at_path(&path)
    });
    assert_eq!(pad.connect().err(), Some(PinPadError::PortBusy(path)));
}

#[test]
fn run_pinpad_sim_on_a_path_keeps_ksn_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").join("ksn.toml");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    for (round, expected_ksn) in [(0, "FFFF9876543210E00001"), (1, "FFFF9876543210E00002")] {
        let (master, slave) = TTYPort::pair().unwrap();
        let path = slave.name().unwrap();
        drop(slave);
        let mut opts = SimOptions::new(&path, &state);
        opts.pin_source = PinSource::Script(vec![format!("{}", 7000 + round)]);
        let stop = opts.stop.clone();
        let sim = thread::spawn(move || run_pinpad_sim(opts));
        let mut link = Link::new(PortLine::new(Box::new(master)), fast_link());
        // The simulator opens the path asynchronously: retry OPN briefly.
        let deadline = Instant::now() + Duration::from_secs(3);
        while link.open().is_err() {
            assert!(Instant::now() < deadline, "simulator did not come up");
        }
        let gpn = GetPin {
            method: PinMethod::DukptTdes,
            key_index: 0,
            pan: Zeroizing::new(PAN.into()),
            min_len: 4,
            max_len: 12,
            message: "PIN".into(),
            entries: 1,
            working_key: None,
        };
        let data = link
            .get_pin(
                &gpn,
                Duration::from_secs(2),
                &CancelToken::new(),
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(hex::encode_upper(&data.ksn), expected_ksn);
        stop.cancel();
        sim.join().unwrap().unwrap();
    }
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains("tdes_counter = 2"), "{saved}");
    assert!(!Path::new(&state.with_extension("tmp")).exists());
}

#[test]
fn default_timings_are_the_specifications() {
    let d = LinkConfig::default();
    assert_eq!(d.ack_timeout, Duration::from_secs(2));
    assert_eq!(d.max_attempts, 3);
    assert_eq!(d.response_timeout, Duration::from_secs(10));
    assert_eq!(PinPadConfig::at_path("/dev/null").baud_rate, 19_200);
}
