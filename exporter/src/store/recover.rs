//! Start-up: check the store's files, re-index the segment a crash left
//! open (cutting its damaged tail off), drop what cannot be read.

use std::fs::{self, OpenOptions};
use std::path::Path;

use super::builder::{Builder, FlowIds, Scratch, Spare};
use super::durable::write_durably;
use super::sealer::Held;
use super::{
    format, io_err, segment_index_path, segment_path, Entry, Index, Keyer, SourceKind, StoreError,
    StoreStatus,
};

/// The sequence number and kind of a store file name.
fn parse_name(name: &str) -> Option<(&str, u64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    let (kind, seq) = stem.split_once('-')?;
    Some((kind, seq.parse().ok()?, ext))
}
/// Check the store's files at start-up: re-index segments without a
/// valid index (cutting a damaged tail off first), drop what cannot be
/// read. Returns the sealed sets, oldest first, and the next sequence
/// number.
pub(super) fn recover(
    dir: &Path,
    keyer: Keyer<'_>,
    status: &mut StoreStatus,
) -> Result<(Vec<Held>, u64), StoreError> {
    let mut names = Vec::new();
    for item in fs::read_dir(dir).map_err(io_err(dir))? {
        let item = item.map_err(io_err(dir))?;
        if let Some(name) = item.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    let mut held = Vec::new();
    let mut next_seq = 1;
    let drop_file = |path: &Path, why: &str, status: &mut StoreStatus| {
        tracing::warn!(target: "store", path = %path.display(), why, "dropping a damaged store file");
        status.files_dropped += 1;
        fs::remove_file(path).map_err(io_err(path))
    };
    for name in &names {
        let path = dir.join(name);
        if name.ends_with(".tmp") {
            fs::remove_file(&path).map_err(io_err(&path))?;
            continue;
        }
        let Some((kind, seq, ext)) = parse_name(name) else {
            continue;
        };
        next_seq = next_seq.max(seq + 1);
        match (kind, ext) {
            ("seg", "ewpk") => {
                if let Some(h) = recover_segment(dir, seq, &mut *keyer, status)? {
                    held.push(h);
                }
            }
            ("seg", "ewpi") if !segment_path(dir, seq).exists() => {
                drop_file(&path, "index without its segment", status)?;
            }
            ("ext", "ewpi") => {
                let bytes = fs::read(&path).map_err(io_err(&path))?;
                match Index::parse(&bytes) {
                    Ok(idx) => held.push(Held {
                        seq,
                        first_ns: idx.header.first_ns,
                        last_ns: idx.header.last_ns,
                        bytes: bytes.len() as u64,
                        files: vec![path],
                    }),
                    Err(e) => drop_file(&path, &e.to_string(), status)?,
                }
            }
            _ => {}
        }
    }
    held.sort_by_key(|h| h.seq);
    Ok((held, next_seq))
}

/// One segment at start-up: its index if valid, else re-indexed.
fn recover_segment(
    dir: &Path,
    seq: u64,
    keyer: Keyer<'_>,
    status: &mut StoreStatus,
) -> Result<Option<Held>, StoreError> {
    let seg = segment_path(dir, seq);
    let idx_path = segment_index_path(dir, seq);
    let seg_len = fs::metadata(&seg).map_err(io_err(&seg))?.len();
    if let Ok(bytes) = fs::read(&idx_path) {
        if let Ok(idx) = Index::parse(&bytes) {
            if idx.header.covered == seg_len {
                return Ok(Some(Held {
                    seq,
                    first_ns: idx.header.first_ns,
                    last_ns: idx.header.last_ns,
                    bytes: seg_len + bytes.len() as u64,
                    files: vec![seg, idx_path],
                }));
            }
        }
    }
    let data = fs::read(&seg).map_err(io_err(&seg))?;
    let (frames, valid) = match format::scan_segment(&data) {
        Ok(scan) => scan,
        Err(e) => {
            tracing::warn!(target: "store", path = %seg.display(), error = %e, "dropping an unreadable segment");
            status.files_dropped += 1;
            fs::remove_file(&seg).map_err(io_err(&seg))?;
            if idx_path.exists() {
                fs::remove_file(&idx_path).map_err(io_err(&idx_path))?;
            }
            return Ok(None);
        }
    };
    let cut = seg_len - valid;
    if cut > 0 {
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .and_then(|f| {
                f.set_len(valid)?;
                f.sync_all()
            })
            .map_err(io_err(&seg))?;
        status.tail_bytes_dropped += cut;
    }
    let mut builder = Builder::new(Spare::default(), 0, &mut FlowIds::default());
    for f in &frames {
        let start = (f.pos as usize).saturating_add(format::RECORD_HEADER_LEN);
        let body = data
            .get(start..start.saturating_add(f.header.cap_len as usize))
            .unwrap_or_default();
        builder.add(
            keyer(body, f.header.ts_ns),
            Entry {
                pos: f.pos,
                ts_ns: f.header.ts_ns,
                cap_len: f.header.cap_len,
                wire_len: f.header.wire_len,
            },
        );
    }
    let mut scratch = Scratch::default();
    let (header, _) = builder.finish(&mut scratch, SourceKind::Segment, String::new(), valid);
    write_durably(&idx_path, &mut scratch.index).map_err(io_err(&idx_path))?;
    let index_len = scratch.index.bytes().len() as u64;
    status.segments_recovered += 1;
    tracing::warn!(
        target: "store",
        path = %seg.display(),
        frames = frames.len(),
        tail_bytes_dropped = cut,
        "re-indexed a segment left open (crash or power loss)"
    );
    if frames.is_empty() {
        fs::remove_file(&seg).map_err(io_err(&seg))?;
        fs::remove_file(&idx_path).map_err(io_err(&idx_path))?;
        return Ok(None);
    }
    Ok(Some(Held {
        seq,
        first_ns: header.first_ns,
        last_ns: header.last_ns,
        bytes: valid + index_len,
        files: vec![seg, idx_path],
    }))
}
