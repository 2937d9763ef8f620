//! Merging the exporters' answers by capture time into one pcapng,
//! streamed to the response body in chunks, the final word on what is
//! missing in trailers.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use axum::body::{Body, Bytes};
use axum::http::header::TRAILER;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use eastwest_core::pcapfile::{NgWriter, Reader};
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};

use super::{header_value, Input, Point, Unavailable};

/// The merge of the exporters' answers that one response streams.
pub(super) struct Capture {
    pub(super) inputs: Vec<Input>,
    pub(super) names: BTreeMap<Point, String>,
    /// The section header's comment.
    pub(super) comment: String,
    /// Largest capture in bytes; past it the capture is cut.
    pub(super) max_bytes: u64,
}

impl Capture {
    /// The response streaming the capture, merged on a blocking thread a
    /// few chunks ahead: `x-eastwest-partial` and `x-eastwest-unavailable`
    /// name the points in `unavailable` (they could not serve before the
    /// answer started); with `trailers` (the client sent `TE: trailers`)
    /// the same fields follow the capture as HTTP trailers with their final
    /// values, adding the points whose download broke off and the size
    /// limit's cut. `done` is told what the merge wrote, or why it stopped.
    pub(super) fn respond(
        self,
        unavailable: &[Unavailable],
        trailers: bool,
        done: impl FnOnce(&std::io::Result<Merged>) + Send + 'static,
    ) -> Response {
        let (tx, mut rx) = mpsc::channel(4);
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
            written: 0,
        };
        let before: Vec<String> = unavailable.iter().map(Unavailable::line).collect();
        let mut lines = before.clone();
        let (last, last_rx) = oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let merged = merge(
                self.inputs,
                &self.names,
                &self.comment,
                self.max_bytes,
                writer,
            );
            done(&merged);
            match merged {
                Ok(m) => {
                    lines.extend(m.notes(self.max_bytes));
                    let _ = last.send(partial_fields(&lines));
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                }
            }
        });
        let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        let mut response = if trailers {
            Body::new(body.with_trailers(async move { last_rx.await.ok().map(Ok) })).into_response()
        } else {
            body.into_response()
        };
        let headers = response.headers_mut();
        headers.extend(partial_fields(&before));
        if trailers {
            headers.insert(
                TRAILER,
                HeaderValue::from_static("x-eastwest-partial, x-eastwest-unavailable"),
            );
        }
        response
    }
}

/// `x-eastwest-partial` (whether `lines` name anything missing) and
/// `x-eastwest-unavailable` (`lines`, when there are any).
fn partial_fields(lines: &[String]) -> HeaderMap {
    let mut fields = HeaderMap::new();
    fields.insert(
        "x-eastwest-partial",
        HeaderValue::from_static(if lines.is_empty() { "false" } else { "true" }),
    );
    if !lines.is_empty() {
        fields.insert("x-eastwest-unavailable", header_value(&lines.join("; ")));
    }
    fields
}

/// Bytes of a chunk of the answer.
pub(super) const CHUNK: usize = 64 << 10;

/// `Read` over the chunks a task pulls from an exporter's answer.
pub(super) struct ChunkReader {
    chunks: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Chunks of the merged capture into the response body's channel.
pub(super) struct ChannelWriter {
    pub(super) tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    pub(super) buf: Vec<u8>,
    pub(super) written: u64,
}

impl ChannelWriter {
    pub(super) fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// What the merge wrote.
#[derive(Debug, Default)]
pub(super) struct Merged {
    pub(super) frames: u64,
    pub(super) bytes: u64,
    pub(super) broken: Vec<Unavailable>,
    pub(super) cut: bool,
}

impl Merged {
    /// What the capture misses: the points whose download broke off, the
    /// cut at `max_bytes`.
    fn notes(&self, max_bytes: u64) -> Vec<String> {
        let mut notes: Vec<String> = self.broken.iter().map(Unavailable::line).collect();
        if self.cut {
            notes.push(format!("cut at the size limit of {max_bytes} bytes"));
        }
        notes
    }
}

/// Merge `inputs` by capture time into `out`: one interface per point.
pub(super) fn merge(
    inputs: Vec<Input>,
    names: &BTreeMap<Point, String>,
    comment: &str,
    max_bytes: u64,
    out: ChannelWriter,
) -> std::io::Result<Merged> {
    let mut merged = Merged::default();
    let mut w = NgWriter::with_comment(out, comment)?;
    let mut readers = Vec::new();
    for input in inputs {
        let name = names.get(&input.point).cloned().unwrap_or_default();
        let reader = ChunkReader {
            chunks: input.chunks,
            current: Bytes::new(),
        };
        match Reader::new(reader) {
            Ok(r) => readers.push((input.point, name, r)),
            Err(e) => merged.broken.push(Unavailable {
                point: name,
                url: input.url,
                status: 200,
                error: format!("not a capture: {e}"),
                oldest: None,
            }),
        }
    }
    let mut interfaces: HashMap<(Point, u32), u32> = HashMap::new();
    let mut heads: Vec<Option<eastwest_core::pcapfile::Record>> = Vec::new();
    let next = |i: usize,
                readers: &mut Vec<(Point, String, Reader<ChunkReader>)>,
                broken: &mut Vec<Unavailable>| {
        let (_, name, reader) = &mut readers[i];
        match reader.next_record() {
            Ok(r) => r,
            Err(e) => {
                broken.push(Unavailable {
                    point: name.clone(),
                    url: String::new(),
                    status: 200,
                    error: format!("the capture broke off: {e}"),
                    oldest: None,
                });
                None
            }
        }
    };
    for i in 0..readers.len() {
        let head = next(i, &mut readers, &mut merged.broken);
        heads.push(head);
    }
    while let Some(i) = heads
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.as_ref().map(|h| (h.timestamp_ns, i)))
        .min()
        .map(|(_, i)| i)
    {
        let Some(record) = heads[i].take() else {
            break;
        };
        let (point, name, reader) = &readers[i];
        let key = (point.clone(), record.linktype);
        let interface = match interfaces.get(&key) {
            Some(&id) => id,
            None => {
                let snaplen = reader
                    .interfaces()
                    .get(record.interface as usize)
                    .map_or(262_144, |i| i.snaplen);
                let linktype = u16::try_from(record.linktype).unwrap_or(1);
                let id = w.add_named_interface(linktype, snaplen, 9, name)?;
                interfaces.insert(key, id);
                id
            }
        };
        let block = 32 + record.data.len().next_multiple_of(4) as u64;
        if merged.bytes + block > max_bytes {
            merged.cut = true;
            break;
        }
        w.write_packet(
            interface,
            record.timestamp_ns,
            &record.data,
            record.orig_len,
        )?;
        merged.bytes += block;
        merged.frames += 1;
        heads[i] = next(i, &mut readers, &mut merged.broken);
    }
    let notes = merged.notes(max_bytes);
    if !notes.is_empty() {
        w.new_section(&format!("partial capture: {}", notes.join("; ")))?;
    }
    let out = w.into_inner()?;
    merged.bytes = out.written;
    Ok(merged)
}
