//! The built-in reader's input buffer as shared blocks: each `read()`
//! fills a block of its own (an `Arc`), so the frames read from it can
//! be handed to other threads without copying them ([`crate::workers`]).
//! A block is read into again once nobody holds it.

use std::io::{self, BufRead, Read};
use std::sync::Arc;

/// One block of input.
pub type Block = Arc<Vec<u8>>;

/// Blocks kept for reuse once no other thread holds them.
const SPARE: usize = 16;

/// A buffered reader ([`BufRead`]) whose buffer is a [`Block`].
pub struct Blocks<R> {
    inner: R,
    block: Block,
    /// Read position and end of the data in `block`.
    pos: usize,
    filled: usize,
    capacity: usize,
    /// What each read's memory is aligned to (1: anywhere; a direct
    /// file's [`crate::direct::ALIGN`]).
    align: usize,
    /// Blocks read before, maybe still held elsewhere.
    spare: Vec<Block>,
}

impl<R> std::fmt::Debug for Blocks<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocks")
            .field("pos", &self.pos)
            .field("filled", &self.filled)
            .field("capacity", &self.capacity)
            .field("spare", &self.spare.len())
            .finish()
    }
}

impl<R: Read> Blocks<R> {
    /// Read `inner` through blocks of `capacity` bytes.
    pub fn new(capacity: usize, inner: R) -> Self {
        Self::aligned(capacity, 1, inner)
    }

    /// [`Blocks::new`] with each read into memory aligned to `align` (a
    /// power of two dividing `capacity`): a block holds `align` bytes
    /// more and its data starts at the first aligned address, so a
    /// direct file ([`crate::direct::DirectFile`]) reads whole aligned
    /// blocks.
    pub fn aligned(capacity: usize, align: usize, inner: R) -> Self {
        Blocks {
            inner,
            block: Arc::new(Vec::new()),
            pos: 0,
            filled: 0,
            capacity,
            align: align.max(1),
            spare: Vec::new(),
        }
    }

    /// The block the buffered data is in (its bytes past the buffered
    /// data are stale).
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// A block nobody else holds, to read into: the current one, a spare
    /// one or a new one.
    fn free_block(&mut self) -> Vec<u8> {
        let current = std::mem::take(&mut self.block);
        let current = match Arc::try_unwrap(current) {
            Ok(block) => return block,
            Err(held) => held,
        };
        let free = self.spare.iter().position(|b| Arc::strong_count(b) == 1);
        if self.spare.len() >= SPARE && free.is_none() {
            self.spare.remove(0);
        }
        self.spare.push(current);
        free.and_then(|i| Arc::try_unwrap(self.spare.swap_remove(i)).ok())
            .unwrap_or_default()
    }
}

impl<R: Read> Read for Blocks<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        if let (Some(to), Some(from)) = (out.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> Blocks<R> {
    /// Read the next block (the buffer is empty).
    #[inline(never)]
    fn refill(&mut self) -> io::Result<()> {
        let mut block = self.free_block();
        // Zeroed once: a block read into again keeps its length.
        let extra = if self.align > 1 { self.align } else { 0 };
        block.resize(self.capacity + extra, 0);
        let at = if extra > 0 {
            block.as_ptr().align_offset(self.align).min(extra)
        } else {
            0
        };
        let got = loop {
            let Some(into) = block.get_mut(at..at + self.capacity) else {
                break Ok(0);
            };
            match self.inner.read(into) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.block = Arc::new(block);
        (self.pos, self.filled) = (at, at + got?);
        Ok(())
    }
}

impl<R: Read> BufRead for Blocks<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            self.refill()?;
        }
        Ok(self.block.get(self.pos..self.filled).unwrap_or(&[]))
    }

    #[inline]
    fn consume(&mut self, amount: usize) {
        self.pos = self.pos.saturating_add(amount).min(self.filled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_and_reuses_blocks_nobody_holds() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut blocks = Blocks::new(4096, &data[..]);
        let mut read = Vec::new();
        let mut held = Vec::new();
        loop {
            let chunk = blocks.fill_buf().expect("read").to_vec();
            if chunk.is_empty() {
                break;
            }
            // Hold every other block: those are not read into again.
            if read.len() % 8192 == 0 {
                held.push((Arc::clone(blocks.block()), chunk.clone()));
            }
            read.extend_from_slice(&chunk);
            blocks.consume(chunk.len());
        }
        assert_eq!(read, data);
        assert!(!held.is_empty());
        for (block, chunk) in &held {
            assert_eq!(&block[..chunk.len()], &chunk[..]);
        }
        let mut rest = Vec::new();
        blocks.read_to_end(&mut rest).expect("end");
        assert!(rest.is_empty());
    }
}
