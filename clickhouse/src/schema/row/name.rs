//! [`Name`]: a text column's value, interned once per process.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

/// A text column's value: VM, host, zone, rule, observer, dataset and
/// revision names are few and repeat, so each distinct text is interned
/// once per process ([`Name::from`]) and a row holds a pointer to it:
/// cloning a name copies the pointer (no reference count, so rows made on
/// one thread and dropped on another share no counter), and the Native
/// writer finds a name's dictionary position by its interned id, not by
/// its text. The empty text is no allocation at all.
///
/// Interned texts are never freed. The interner holds at most
/// [`MAX_INTERNED_NAMES`] names and [`MAX_INTERNED_BYTES`] bytes of text
/// (names learnt from the network, such as an exporter's domain name,
/// cannot grow it without bound); beyond, a new text is a shared,
/// reference-counted name: correct, only slower.
#[derive(Clone, Default)]
pub struct Name(pub(super) Repr);

#[derive(Clone, Default)]
pub(super) enum Repr {
    #[default]
    Empty,
    Interned(&'static Entry),
    Shared(Arc<Entry>),
}

/// An interned (or shared) text and its id: interned ids count from 1,
/// shared texts have none ([`SHARED`]).
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) id: u32,
    text: Box<str>,
}

/// The id of a text that is not interned.
const SHARED: u32 = u32::MAX;

/// Most names interned per process (see [`Name`]).
pub const MAX_INTERNED_NAMES: usize = 1 << 18;
/// Most bytes of text interned per process (see [`Name`]).
pub const MAX_INTERNED_BYTES: usize = 32 << 20;

/// The next interned id, shared by every interner so that ids never
/// collide.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// The process's interned names.
static NAMES: LazyLock<Mutex<Interner>> =
    LazyLock::new(|| Mutex::new(Interner::new(MAX_INTERNED_NAMES, MAX_INTERNED_BYTES)));

/// Interned texts, up to a count and a size.
#[derive(Debug)]
pub(super) struct Interner {
    names: foldhash::HashMap<&'static str, &'static Entry>,
    bytes: usize,
    max_names: usize,
    max_bytes: usize,
}

impl Interner {
    pub(super) fn new(max_names: usize, max_bytes: usize) -> Interner {
        Interner {
            names: foldhash::HashMap::default(),
            bytes: 0,
            max_names,
            max_bytes,
        }
    }

    /// The name of `text`: interned, or shared beyond the limits.
    pub(super) fn name(&mut self, text: &str) -> Name {
        if text.is_empty() {
            return Name(Repr::Empty);
        }
        if let Some(&entry) = self.names.get(text) {
            return Name(Repr::Interned(entry));
        }
        if self.names.len() >= self.max_names || self.bytes + text.len() > self.max_bytes {
            return Name(Repr::Shared(Arc::new(Entry {
                id: SHARED,
                text: text.into(),
            })));
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let entry: &'static Entry = Box::leak(Box::new(Entry {
            id,
            text: text.into(),
        }));
        self.names.insert(&entry.text, entry);
        self.bytes += text.len();
        Name(Repr::Interned(entry))
    }
}

impl Name {
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Empty => "",
            Repr::Interned(entry) => &entry.text,
            Repr::Shared(entry) => &entry.text,
        }
    }

    /// Whether the text is interned (the empty text counts as interned).
    pub fn is_interned(&self) -> bool {
        !matches!(self.0, Repr::Shared(_))
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        if text.is_empty() {
            return Name(Repr::Empty);
        }
        NAMES.lock().unwrap_or_else(|e| e.into_inner()).name(text)
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name::from(text.as_str())
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        match (&self.0, &other.0) {
            (Repr::Interned(a), Repr::Interned(b)) => std::ptr::eq(*a, *b),
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Name, D::Error> {
        String::deserialize(from).map(Name::from)
    }
}
