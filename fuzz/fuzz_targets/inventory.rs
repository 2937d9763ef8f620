//! `core::inventory`: any inventory file text is parsed to an inventory or
//! to an error, never a panic.
#![no_main]

use eastwest_core::inventory::Inventory;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    let text = String::from_utf8_lossy(text);
    let _ = Inventory::parse(&text, "fuzz.toml");
});
