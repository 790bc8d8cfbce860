//! The scale adapter against the MT-SICS emulator on a real
//! pseudo-terminal: stable, moving, overloaded and underloaded pans, a
//! garbled line, a silent scale and an unplugged one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use tillpoint_devices::scale::{Ask, Reading, ScaleConfig, ScaleError, SerialScale};
use tillpoint_sim::scale::{Pan, ScaleSim};

fn scale_on(sim: &ScaleSim) -> SerialScale {
    SerialScale::new(ScaleConfig {
        port: sim.path.display().to_string(),
        timeout_ms: 400,
        ..ScaleConfig::default()
    })
}

#[test]
fn every_answer_of_the_scale_over_a_real_pty() {
    let sim = ScaleSim::start(Pan::Stable(1250)).unwrap();
    let mut scale = scale_on(&sim);
    let r = scale.read(Ask::Stable).unwrap();
    assert_eq!(
        r,
        Reading {
            milligrams: 1_250_000,
            stable: true
        }
    );
    assert_eq!(r.grams(), 1250);

    sim.control.set_settling(Pan::Moving(735), 5);
    let r = scale.read(Ask::Immediate).unwrap();
    assert!(!r.stable && r.grams() == 735, "{r:?}");
    assert_eq!(scale.read(Ask::Stable), Err(ScaleError::NotStable));

    sim.control.set(Pan::Overload);
    assert_eq!(scale.read(Ask::Stable), Err(ScaleError::Overload));
    sim.control.set(Pan::Underload);
    assert_eq!(scale.read(Ask::Immediate), Err(ScaleError::Underload));
    sim.control.set(Pan::Garbage);
    assert!(matches!(
        scale.read(Ask::Stable),
        Err(ScaleError::Garbled(_))
    ));
    sim.control.set(Pan::Silent);
    assert_eq!(scale.read(Ask::Stable), Err(ScaleError::Timeout));
    // A late answer is not taken for the next one.
    sim.control.set(Pan::Stable(2000));
    assert_eq!(scale.read(Ask::Stable).unwrap().grams(), 2000);

    sim.unplug();
    let e = scale.read(Ask::Stable).unwrap_err();
    assert!(matches!(e, ScaleError::Port { .. }), "{e:?}");
    let e = scale.read(Ask::Stable).unwrap_err();
    assert!(
        matches!(&e, ScaleError::Port { .. }) && e.to_string().contains("scale port"),
        "the next read tries the port again and says why it cannot: {e}"
    );
}

#[test]
fn a_scale_on_a_missing_port_says_so() {
    let mut scale = SerialScale::new(ScaleConfig {
        port: "/dev/tillpoint-no-such-scale".into(),
        ..ScaleConfig::default()
    });
    let e = scale.read(Ask::Stable).unwrap_err();
    assert!(
        e.to_string().contains("/dev/tillpoint-no-such-scale"),
        "{e}"
    );
}
