//! Shared harness for eastwest's end-to-end tests.
