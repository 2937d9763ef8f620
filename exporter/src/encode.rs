//! Stage `encode`: flow records into NetFlow v9 export packets. The encoder
//! lives beside its templates in [`eastwest_core::netflow::encode`] (the
//! collector's load generator sends with it too); this is the exporter's
//! name for it.

pub use eastwest_core::netflow::encode::*;
