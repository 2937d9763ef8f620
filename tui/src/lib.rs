//! eastwest-tui library.
