//! [`Block`]: a sealed batch of rows, encoded once as the Native block its
//! insert sends and, while ClickHouse is away, the spool stores. Its own
//! module, so the sink and the spool both use it without importing each
//! other.

use bytes::Bytes;
use eastwest_clickhouse::schema::FlowsBlock;

/// A sealed batch: its rows encoded once as one Native block, in the pieces
/// [`FlowsBlock::take`] gives (sent one after the other; cloning shares
/// them).
#[derive(Debug, Clone)]
pub struct Block {
    rows: usize,
    pieces: Vec<Bytes>,
}

impl Block {
    /// Seal `block`.
    pub fn new(mut block: FlowsBlock) -> Block {
        Block::take(&mut block)
    }

    /// Seal the rows of `block`, which is then empty, ready for the next
    /// batch (its dictionaries' tables kept).
    pub fn take(block: &mut FlowsBlock) -> Block {
        Block {
            rows: block.rows(),
            pieces: block.take().into_iter().map(Bytes::from).collect(),
        }
    }

    /// A block read back whole (from the spool) holding `rows` rows.
    pub fn from_bytes(rows: usize, bytes: Vec<u8>) -> Block {
        Block {
            rows,
            pieces: vec![Bytes::from(bytes)],
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The pieces, in order; their concatenation is the Native block.
    pub fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// The pieces, to send.
    pub fn into_pieces(self) -> Vec<Bytes> {
        self.pieces
    }

    /// Encoded size in bytes.
    pub fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The Native block in one piece.
    pub fn to_vec(&self) -> Vec<u8> {
        self.pieces.concat()
    }
}

/// Blocks are equal when they hold the same bytes, however split.
impl PartialEq for Block {
    fn eq(&self, other: &Block) -> bool {
        self.rows == other.rows
            && self
                .pieces
                .iter()
                .flat_map(|p| p.iter())
                .eq(other.pieces.iter().flat_map(|p| p.iter()))
    }
}

impl Eq for Block {}
