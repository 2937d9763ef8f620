//! eastwest-exporter library.
