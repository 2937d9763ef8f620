//! eastwest-dashboard library.
