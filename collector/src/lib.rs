//! eastwest-collector library.
