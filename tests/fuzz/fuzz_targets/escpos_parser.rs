//! Fuzzes the printer emulator's ESC/POS parser: any bytes must parse or fail with an error,
//! never panic or hang, and feeding the same bytes in two chunks (as a socket may deliver
//! them) must give exactly the same result as feeding them at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillpoint_sim::printer::parse::{parse, Parser};

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let whole = parse(bytes);
    let cut = usize::from(split).min(bytes.len());
    let mut p = Parser::new();
    let chunked = p.push(&bytes[..cut]).and_then(|mut items| {
        items.extend(p.push(&bytes[cut..])?);
        items.extend(p.finish()?);
        Ok(items)
    });
    match (&whole, &chunked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("chunked parse disagrees: {whole:?} vs {chunked:?}"),
    }
});
