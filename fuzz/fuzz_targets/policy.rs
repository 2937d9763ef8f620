//! `core::policy`: any policy file text is parsed to a policy or to an
//! error, never a panic.
#![no_main]

use eastwest_core::policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    let text = String::from_utf8_lossy(text);
    let _ = Policy::parse(&text, "fuzz.toml");
});
