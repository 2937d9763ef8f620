//! Stage `send`: export packets over UDP to every collector, and the
//! replay pacing of capture files.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Gaps in capture time longer than this are not waited out when pacing:
/// a file whose clock jumps (by days, say) replays its next packet at once.
pub const MAX_PACED_GAP: Duration = Duration::from_secs(60);

/// Why sending could not start.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot resolve export target {target:?}: {source}")]
    Resolve {
        target: String,
        source: std::io::Error,
    },
    #[error("export target {target:?} resolves to no address")]
    NoAddress { target: String },
    #[error("cannot open a UDP socket: {0}")]
    Socket(std::io::Error),
}

/// Sends every datagram to every target.
#[derive(Debug)]
pub struct Sender {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    targets: Vec<SocketAddr>,
    errors: u64,
}

impl Sender {
    /// Resolve `targets` (`HOST:PORT`) and open the sockets.
    pub fn new(targets: &[String]) -> Result<Self, SendError> {
        let mut addrs = Vec::new();
        for target in targets {
            let addr = target
                .to_socket_addrs()
                .map_err(|source| SendError::Resolve {
                    target: target.clone(),
                    source,
                })?
                .next()
                .ok_or_else(|| SendError::NoAddress {
                    target: target.clone(),
                })?;
            addrs.push(addr);
        }
        let bind = |any: &str| UdpSocket::bind(any).map_err(SendError::Socket);
        let v4 = if addrs.iter().any(SocketAddr::is_ipv4) {
            Some(bind("0.0.0.0:0")?)
        } else {
            None
        };
        let v6 = if addrs.iter().any(SocketAddr::is_ipv6) {
            Some(bind("[::]:0")?)
        } else {
            None
        };
        Ok(Sender {
            v4,
            v6,
            targets: addrs,
            errors: 0,
        })
    }

    /// Send one datagram to every target; failures are logged and counted,
    /// never fatal (a collector that is away must not stop the capture).
    /// Returns how many copies were sent.
    pub fn send(&mut self, datagram: &[u8]) -> usize {
        let mut sent = 0;
        for target in &self.targets {
            let socket = if target.is_ipv4() { &self.v4 } else { &self.v6 };
            let Some(socket) = socket else { continue };
            match socket.send_to(datagram, target) {
                Ok(_) => sent += 1,
                Err(error) => {
                    self.errors += 1;
                    tracing::warn!(target: "send", %target, %error, "export packet not sent");
                }
            }
        }
        sent
    }

    /// Send failures so far.
    pub fn errors(&self) -> u64 {
        self.errors
    }
}

/// Replay speed of capture files.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Speed {
    /// As fast as possible.
    Max,
    /// Capture time, `factor` times faster (1 = real time).
    Factor(f64),
}

/// Why a speed did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid speed {0:?}: expected \"max\", \"realtime\" or a positive factor like \"10x\"")]
pub struct SpeedError(String);

impl FromStr for Speed {
    type Err = SpeedError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "max" => Ok(Speed::Max),
            "realtime" => Ok(Speed::Factor(1.0)),
            _ => s
                .strip_suffix('x')
                .and_then(|n| n.parse::<f64>().ok())
                .filter(|f| f.is_finite() && *f > 0.0)
                .map(Speed::Factor)
                .ok_or_else(|| SpeedError(s.to_owned())),
        }
    }
}

impl TryFrom<String> for Speed {
    type Error = SpeedError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Speed> for String {
    fn from(speed: Speed) -> String {
        match speed {
            Speed::Max => "max".into(),
            Speed::Factor(1.0) => "realtime".into(),
            Speed::Factor(f) => format!("{f}x"),
        }
    }
}

/// Paces a replay by capture time. Time is passed in: `delay` is told the
/// packet's capture time and the wall time elapsed since the replay
/// started, and answers how long to sleep before handling the packet.
#[derive(Debug)]
pub struct Pacer {
    factor: Option<f64>,
    /// Capture time (ns) that corresponds to wall offset `base_wall`.
    base_capture_ns: Option<u64>,
    base_wall: Duration,
    last_capture_ns: u64,
}

impl Pacer {
    pub fn new(speed: Speed) -> Self {
        Pacer {
            factor: match speed {
                Speed::Max => None,
                Speed::Factor(f) => Some(f),
            },
            base_capture_ns: None,
            base_wall: Duration::ZERO,
            last_capture_ns: 0,
        }
    }

    /// How long to wait before the packet captured at `capture_ns`, given
    /// that `elapsed` wall time has passed since the replay started.
    /// True unless the speed is `max` (then [`Pacer::delay`] is always
    /// zero and the caller need not read the clock).
    pub fn paces(&self) -> bool {
        self.factor.is_some()
    }

    pub fn delay(&mut self, capture_ns: u64, elapsed: Duration) -> Duration {
        let Some(factor) = self.factor else {
            return Duration::ZERO;
        };
        let gap = Duration::from_nanos(capture_ns.saturating_sub(self.last_capture_ns));
        let rebase = match self.base_capture_ns {
            None => true,
            // Clock jumped back, or a gap too long to wait out: start a new
            // schedule from this packet.
            Some(_) => capture_ns < self.last_capture_ns || gap.div_f64(factor) > MAX_PACED_GAP,
        };
        self.last_capture_ns = capture_ns;
        if rebase {
            self.base_capture_ns = Some(capture_ns);
            self.base_wall = elapsed;
            return Duration::ZERO;
        }
        let since_base = capture_ns - self.base_capture_ns.unwrap_or(capture_ns);
        let due = self.base_wall + Duration::from_nanos(since_base).div_f64(factor);
        due.saturating_sub(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn speeds_parse() {
        assert_eq!("max".parse(), Ok(Speed::Max));
        assert_eq!("realtime".parse(), Ok(Speed::Factor(1.0)));
        assert_eq!("10x".parse(), Ok(Speed::Factor(10.0)));
        assert_eq!("0.5x".parse(), Ok(Speed::Factor(0.5)));
        for bad in ["", "fast", "0x", "-2x", "10", "infx", "NaNx"] {
            assert!(bad.parse::<Speed>().is_err(), "{bad}");
        }
        assert_eq!(String::from(Speed::Factor(10.0)), "10x");
        assert_eq!(String::from(Speed::Factor(1.0)), "realtime");
    }

    #[test]
    fn max_never_waits() {
        let mut p = Pacer::new(Speed::Max);
        assert_eq!(p.delay(0, Duration::ZERO), Duration::ZERO);
        assert_eq!(p.delay(100 * S, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn realtime_waits_out_capture_gaps() {
        let mut p = Pacer::new(Speed::Factor(1.0));
        let t0 = 1_700_000_000 * S;
        assert_eq!(p.delay(t0, Duration::from_millis(5)), Duration::ZERO);
        // Packet 2 s later in capture time, 0.5 s of wall time gone.
        assert_eq!(
            p.delay(t0 + 2 * S, Duration::from_millis(505)),
            Duration::from_millis(1_500)
        );
        // Behind schedule: no wait.
        assert_eq!(p.delay(t0 + 3 * S, Duration::from_secs(10)), Duration::ZERO);
    }

    #[test]
    fn factor_speeds_up() {
        let mut p = Pacer::new(Speed::Factor(10.0));
        p.delay(0, Duration::ZERO);
        assert_eq!(p.delay(10 * S, Duration::ZERO), Duration::from_secs(1));
    }

    #[test]
    fn clock_jumps_do_not_stall() {
        let mut p = Pacer::new(Speed::Factor(1.0));
        p.delay(0, Duration::ZERO);
        // Six years later: replayed at once, and paced from there.
        let later = 6 * 365 * 86_400 * S;
        assert_eq!(p.delay(later, Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(
            p.delay(later + S, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        // Back in time: also at once.
        assert_eq!(p.delay(S, Duration::from_secs(2)), Duration::ZERO);
    }

    #[test]
    fn sends_to_every_target() {
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let targets = vec![
            a.local_addr().expect("addr").to_string(),
            b.local_addr().expect("addr").to_string(),
        ];
        let mut sender = Sender::new(&targets).expect("sender");
        assert_eq!(sender.send(b"hello"), 2);
        let mut buf = [0u8; 16];
        for sock in [&a, &b] {
            sock.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let (n, _) = sock.recv_from(&mut buf).expect("datagram");
            assert_eq!(&buf[..n], b"hello");
        }
        assert_eq!(sender.errors(), 0);
    }

    #[test]
    fn unresolvable_targets_are_errors() {
        assert!(matches!(
            Sender::new(&["no-port".to_owned()]),
            Err(SendError::Resolve { .. })
        ));
    }
}
